// A lab network for bridged guests: a Linux bridge on this host, and a client in its own network
// namespace, plugged into the bridge by a veth pair. The guest keeps its lab address (10.0.2.15);
// the client is 10.0.2.2, the address user networking gives the host. Traffic stays inside the
// bridge and the namespace: nothing is routed to the host's own networks. Clients in this
// namespace (a load, a bench) reach the guest through a forwarder in the client's namespace on a
// UNIX socket: a socket path is reachable from every namespace, a TCP port is not.
import { spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { DAEMON_ENV, run } from "../support/exec.js";
import { BUILD_DIR } from "../support/paths.js";
import { commandLine, isAlive, waitGone } from "../support/processes.js";
import { acceptsConnection } from "../support/sockets.js";
import { GiveUp, waitUntil } from "../support/wait.js";

export const GUEST_ADDRESS = "10.0.2.15";
/** The lab guest's first NIC's subnet (/24); its second NIC's is 10.0.3 (test/lab/guest.ts). */
const GUEST_SUBNET = "10.0.2";
/** sun_path holds 108 bytes with its final NUL. */
const MAX_SOCKET_PATH = 107;

/** A forwarder: each connection to socketPath is piped to a port of the guest. */
export interface Forward {
  socketPath: string;
  /** The forwarder's process (node, in the client's namespace). */
  pid: number;
  /** Ends it and removes its socket; again is a no-op. */
  close(): Promise<void>;
}

export interface LabBridge {
  /** The bridge's name, for <source bridge=...>. */
  bridge: string;
  /** The client's network namespace. */
  netns: string;
  /** Runs a command in the client's namespace. */
  inClient(cmd: string, args: readonly string[]): Promise<string>;
  /** The guest's answer (SUBNET.15) to an HTTP GET of `path` from the client; throws on none. */
  get(path: string, timeoutSeconds?: number): Promise<string>;
  /** A forwarder from a UNIX socket to the guest's port (SUBNET.15); it outlives this process. */
  forward(port: number): Promise<Forward>;
  /** Ends the forwarders, then removes the namespace, the veth pair and the bridge. */
  close(): Promise<void>;
}

/** The forwarder, run by `node -e` with the socket path, the guest's address and port. */
const FORWARDER = `
const net = require("node:net");
const [path, host, port] = process.argv.slice(1);
const server = net.createServer((client) => {
  const guest = net.connect(Number(port), host);
  client.pipe(guest).pipe(client);
  client.on("error", () => guest.destroy());
  guest.on("error", () => client.destroy());
});
server.listen(path);
// Closing the server unlinks its socket.
process.on("SIGTERM", () => { server.close(); process.exit(0); });
`;

/** Ends a forwarder (also one another process started) and removes its socket. */
export async function closeForward(f: { pid: number; socketPath: string }): Promise<void> {
  // A pid that is not the forwarder of this socket any more (reused) is left alone.
  if (isAlive(f.pid) && commandLine(f.pid)?.includes(f.socketPath)) {
    process.kill(f.pid, "SIGTERM");
    await waitGone(f.pid, `the forwarder on ${f.socketPath}`, 5_000);
  }
  rmSync(f.socketPath, { force: true });
}

async function startForward(netns: string, guest: string, port: number): Promise<Forward> {
  const socketPath = join(BUILD_DIR, "lab", `${netns}-${port}.sock`);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH)
    throw new Error(`a UNIX socket path is at most ${MAX_SOCKET_PATH} bytes: ${socketPath}`);
  mkdirSync(dirname(socketPath), { recursive: true });
  // A forwarder killed outright leaves its socket behind, and listen() would refuse it.
  rmSync(socketPath, { force: true });
  // `ip netns exec` execs node: the child's pid is the forwarder's. Detached, with no stdio of
  // ours, it outlives this process (the demo leaves it up), and holds no pipe a caller waits on.
  const child = spawn(
    "ip",
    ["netns", "exec", netns, process.execPath, "-e", FORWARDER, socketPath, guest, `${port}`],
    { env: DAEMON_ENV, stdio: "ignore", detached: true },
  );
  child.unref();
  let exited: string | undefined;
  child.once("exit", (code, signal) => {
    exited = `exited (${code ?? signal})`;
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start a forwarder in ${netns}`);
  const f: Forward = { socketPath, pid, close: () => closeForward(f) };
  try {
    await waitUntil(
      `the forwarder in ${netns} to ${guest}:${port} on ${socketPath}`,
      () => {
        if (exited !== undefined) throw new GiveUp(`it ${exited}`);
        return acceptsConnection(socketPath);
      },
      10_000,
      50,
    );
  } catch (e) {
    await f.close();
    throw e;
  }
  return f;
}

/** The bridge, the veth and the namespace labBridge(tag) makes: each removed if it is there. */
export async function removeLabBridge(tag: string): Promise<void> {
  const { bridge, netns, veth } = labBridgeNames(tag);
  // Each may be gone already (a half-made lab); the namespace takes its veth end with it.
  for (const args of [
    ["netns", "del", netns],
    ["link", "del", veth],
    ["link", "del", bridge],
  ]) {
    await run("ip", args).catch(() => undefined);
  }
}

/** The names of what labBridge(tag) makes. */
export function labBridgeNames(tag: string): { bridge: string; netns: string; veth: string } {
  if (!/^[a-z0-9]{1,8}$/.test(tag)) throw new Error(`a lab bridge tag is [a-z0-9]{1,8}: ${tag}`);
  return { bridge: `cb-${tag}`, netns: `colo-client-${tag}`, veth: `cv-${tag}` };
}

/**
 * A bridge and a client namespace named after `tag` (at most 8 characters: names are short); the
 * client is SUBNET.2/24.
 */
export async function labBridge(tag: string, subnet = GUEST_SUBNET): Promise<LabBridge> {
  const { bridge, netns, veth } = labBridgeNames(tag);
  const ip = (...args: string[]) => run("ip", args);
  const forwards: Forward[] = [];
  const close = async () => {
    // A forwarder would keep the namespace alive after its name is gone.
    for (const f of forwards) await f.close();
    await removeLabBridge(tag);
  };
  try {
    await ip("link", "add", bridge, "type", "bridge");
    await ip("link", "set", bridge, "up");
    await ip("netns", "add", netns);
    await ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns);
    await ip("link", "set", veth, "master", bridge, "up");
    const inNs = (...args: string[]) => ip("netns", "exec", netns, "ip", ...args);
    await inNs("addr", "add", `${subnet}.2/24`, "dev", "eth0");
    await inNs("link", "set", "eth0", "up");
    await inNs("link", "set", "lo", "up");
  } catch (e) {
    await close();
    throw e;
  }
  const inClient = async (cmd: string, args: readonly string[]) =>
    (await run("ip", ["netns", "exec", netns, cmd, ...args])).stdout;
  return {
    bridge,
    netns,
    inClient,
    get: (path, timeoutSeconds = 10) =>
      inClient("curl", ["-sS", "-m", `${timeoutSeconds}`, `http://${subnet}.15${path}`]),
    forward: async (port) => {
      const f = await startForward(netns, `${subnet}.15`, port);
      forwards.push(f);
      return f;
    },
    close,
  };
}

/** A virtio-net <interface> on the bridge, with the MAC both sides of a pair share. */
export function bridgedNic(bridge: string, mac: string, model = "virtio"): string {
  return `<interface type='bridge'>
      <mac address='${mac}'/>
      <source bridge='${bridge}'/>
      <model type='${model}'/>
    </interface>`;
}
