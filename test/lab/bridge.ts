// A lab network for bridged guests: a Linux bridge on this host, and a client in its own network
// namespace, plugged into the bridge by a veth pair. The guest keeps its lab address (10.0.2.15);
// the client is 10.0.2.2, the address user networking gives the host. Traffic stays inside the
// bridge and the namespace: nothing is routed to the host's own networks.
import { run } from "../support/exec.js";

export const GUEST_ADDRESS = "10.0.2.15";
const CLIENT_ADDRESS = "10.0.2.2/24";

export interface LabBridge {
  /** The bridge's name, for <source bridge=...>. */
  bridge: string;
  /** The client's network namespace. */
  netns: string;
  /** Runs a command in the client's namespace. */
  inClient(cmd: string, args: readonly string[]): Promise<string>;
  close(): Promise<void>;
}

/** A bridge and a client namespace named after `tag` (at most 8 characters: names are short). */
export async function labBridge(tag: string): Promise<LabBridge> {
  if (!/^[a-z0-9]{1,8}$/.test(tag)) throw new Error(`a lab bridge tag is [a-z0-9]{1,8}: ${tag}`);
  const bridge = `cb-${tag}`;
  const netns = `colo-client-${tag}`;
  const veth = `cv-${tag}`;
  const ip = (...args: string[]) => run("ip", args);
  const close = async () => {
    // Each may be gone already (a half-made lab); the namespace takes its veth end with it.
    for (const args of [
      ["netns", "del", netns],
      ["link", "del", veth],
      ["link", "del", bridge],
    ]) {
      await ip(...args).catch(() => undefined);
    }
  };
  try {
    await ip("link", "add", bridge, "type", "bridge");
    await ip("link", "set", bridge, "up");
    await ip("netns", "add", netns);
    await ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns);
    await ip("link", "set", veth, "master", bridge, "up");
    const inNs = (...args: string[]) => ip("netns", "exec", netns, "ip", ...args);
    await inNs("addr", "add", CLIENT_ADDRESS, "dev", "eth0");
    await inNs("link", "set", "eth0", "up");
    await inNs("link", "set", "lo", "up");
  } catch (e) {
    await close();
    throw e;
  }
  return {
    bridge,
    netns,
    inClient: async (cmd, args) => (await run("ip", ["netns", "exec", netns, cmd, ...args])).stdout,
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
