// A system bus of the test's own, for browser tests that need to know every agent on it: a
// dbus-daemon with the system bus's own configuration (its policy, its policy files), listening
// on a socket of its own instead of /run/dbus/system_bus_socket. Cockpit's bridge reaches the
// system bus at DBUS_SYSTEM_BUS_ADDRESS when that is set, so a cockpit-ws started with it shows
// the page that bus: the agents that other suites (or the host) run on the real one are not on it.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasExited, watchDaemon } from "../support/daemon.js";
import { DAEMON_ENV } from "../support/exec.js";
import { waitGone } from "../support/processes.js";
import { acceptsConnection } from "../support/sockets.js";
import { GiveUp, waitUntil } from "../support/wait.js";
import { type BrowserOptions, type PageSession, startPageSession } from "./harness.js";

const SYSTEM_CONF = "/usr/share/dbus-1/system.conf";

export interface OwnBus {
  /** For DBUS_SYSTEM_BUS_ADDRESS. */
  address: string;
  stop(): Promise<void>;
}

/**
 * The system bus's configuration, but listening at `socket`, in the foreground, as the user who
 * starts it, with no pid file and no service activation (nothing on this bus is the host's).
 */
export function ownBusConfig(systemConf: string, socket: string): string {
  const config = systemConf
    .replace(/<listen>[^<]*<\/listen>/g, "")
    .replace(/<(user|pidfile|servicehelper)>[^<]*<\/\1>/g, "")
    .replace(/<(fork|standard_system_servicedirs)\s*\/>/g, "")
    // Relative to the configuration file's own directory, which this one is not in.
    .replace(
      "<includedir>system.d</includedir>",
      "<includedir>/usr/share/dbus-1/system.d</includedir>",
    )
    .replace("</busconfig>", `  <listen>unix:path=${socket}</listen>\n</busconfig>`);
  if (!config.includes("<type>system</type>")) throw new Error(`${SYSTEM_CONF}: not a system bus`);
  return config;
}

export async function startOwnSystemBus(timeoutMs = 10_000): Promise<OwnBus> {
  // Short: a unix socket's path has at most 107 bytes.
  const dir = await mkdtemp(join(tmpdir(), "colo-hybrid-bus-"));
  const socket = join(dir, "system_bus_socket");
  const configFile = join(dir, "system.conf");
  await writeFile(configFile, ownBusConfig(await readFile(SYSTEM_CONF, "utf8"), socket));
  const child: ChildProcess = spawn(
    "dbus-daemon",
    [`--config-file=${configFile}`, "--nofork", "--nosyslog"],
    { env: DAEMON_ENV, stdio: ["ignore", "pipe", "pipe"] },
  );
  const daemon = watchDaemon(child);
  const stop = async () => {
    daemon.forget();
    const pid = child.pid;
    if (pid !== undefined && !hasExited(child)) {
      child.kill("SIGTERM");
      await waitGone(pid, "the test's own dbus-daemon", 10_000);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      `the test's own system bus at ${socket}`,
      async () => {
        if (hasExited(child)) throw new GiveUp(`dbus-daemon exited:\n${daemon.log()}`);
        return acceptsConnection(socket);
      },
      timeoutMs,
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { address: `unix:path=${socket}`, stop };
}

/** startPageSession() with cockpit-ws, its bridge and so the page on a system bus of their own. */
export async function startPageSessionOnOwnBus(
  options: BrowserOptions = {},
): Promise<PageSession & { bus: OwnBus }> {
  const bus = await startOwnSystemBus();
  let session: PageSession;
  try {
    session = await startPageSession(options, { DBUS_SYSTEM_BUS_ADDRESS: bus.address });
  } catch (e) {
    await bus.stop();
    throw e;
  }
  const close = async () => {
    await session.close();
    await bus.stop();
  };
  // Were the harness ever to start cockpit-ws some other way, this says so rather than let the
  // page look at the host's bus.
  const environ = (await readFile(`/proc/${session.ws.pid}/environ`, "utf8")).split("\0");
  if (!environ.includes(`DBUS_SYSTEM_BUS_ADDRESS=${bus.address}`)) {
    await close();
    throw new Error("cockpit-ws was not started on the test's own system bus");
  }
  return { ...session, bus, close };
}
