// The lab's LAN: a bridge in a namespace of its own (LAN_NETNS), one veth leg per host and one
// for this host (ROOT_LINK, at ROOT_ADDRESS), so that this host reaches every lab host and no
// firewall of this host's stands between two of them.
import { existsSync } from "node:fs";
import { run } from "../../support/exec.js";
import { type HostLayout, LAN_BRIDGE, LAN_NETNS, ROOT_ADDRESS, ROOT_LINK } from "./layout.js";

const ip = (...args: string[]) => run("ip", args);

export const netnsExists = (name: string) => existsSync(`/run/netns/${name}`);
export const linkExists = (name: string) => existsSync(`/sys/class/net/${name}`);

export async function addLan(): Promise<void> {
  await ip("netns", "add", LAN_NETNS);
  await ip("-n", LAN_NETNS, "link", "add", LAN_BRIDGE, "type", "bridge");
  await ip("-n", LAN_NETNS, "link", "set", LAN_BRIDGE, "up");
}

export async function addRootLink(): Promise<void> {
  await ip("link", "add", ROOT_LINK, "type", "veth", "peer", "name", "root", "netns", LAN_NETNS);
  await ip("-n", LAN_NETNS, "link", "set", "root", "master", LAN_BRIDGE, "up");
  await ip("addr", "add", `${ROOT_ADDRESS}/24`, "dev", ROOT_LINK);
  await ip("link", "set", ROOT_LINK, "up");
}

/** The host's netns, its eth0 (at its address) plugged into the bridge, and its loopback. */
export async function addHostNetns(h: HostLayout): Promise<void> {
  await ip("netns", "add", h.netns);
  await ip(
    "-n",
    LAN_NETNS,
    "link",
    "add",
    h.lanPort,
    "type",
    "veth",
    "peer",
    "name",
    "eth0",
    "netns",
    h.netns,
  );
  await ip("-n", LAN_NETNS, "link", "set", h.lanPort, "master", LAN_BRIDGE, "up");
  await ip("-n", h.netns, "addr", "add", `${h.address}/24`, "dev", "eth0");
  await ip("-n", h.netns, "link", "set", "eth0", "up");
  await ip("-n", h.netns, "link", "set", "lo", "up");
}

/** Deletes a netns by name when it is there (its veth ends go with it). */
export async function removeNetns(name: string): Promise<void> {
  if (netnsExists(name)) await ip("netns", "del", name);
}

export async function removeRootLink(): Promise<void> {
  if (linkExists(ROOT_LINK)) await ip("link", "del", ROOT_LINK);
}
