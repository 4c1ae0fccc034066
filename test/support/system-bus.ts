// The D-Bus system bus libvirtd expects (polkit, firewalld lookups). Here no init starts it.
import { mkdir, rm } from "node:fs/promises";
import { DAEMON_ENV, run } from "./exec.js";
import { daemonPid } from "./processes.js";
import { acceptsConnection } from "./sockets.js";
import { waitUntil } from "./wait.js";

const SOCKET = "/run/dbus/system_bus_socket";
const PID_FILE = "/run/dbus/pid";

export async function ensureSystemBus(timeoutMs = 10_000): Promise<void> {
  if (await acceptsConnection(SOCKET)) return;
  await mkdir("/run/dbus", { recursive: true });
  // dbus-daemon refuses to start while a pid file exists, even a stale one.
  if (daemonPid(PID_FILE, "dbus-daemon") === undefined) await rm(PID_FILE, { force: true });
  await run("dbus-daemon", ["--system", "--fork"], { timeoutMs, env: DAEMON_ENV });
  await waitUntil(`the system bus at ${SOCKET}`, () => acceptsConnection(SOCKET), timeoutMs);
}
