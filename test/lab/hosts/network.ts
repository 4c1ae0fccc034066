// The lab's LAN: a bridge in a namespace of its own (LAN_NETNS), one veth leg per host and one
// for this host (ROOT_LINK, at ROOT_ADDRESS), so that this host reaches every lab host and no
// firewall of this host's stands between two of them.
import { existsSync } from "node:fs";
import { run } from "../../support/exec.js";
import { type LabBridge, labBridge, labBridgeNames, removeLabBridge } from "../bridge.js";
import {
  GUEST_BRIDGE,
  GUEST_LAN_TAG,
  type HostLayout,
  LAN_BRIDGE,
  LAN_NETNS,
  ROOT_ADDRESS,
  ROOT_LINK,
} from "./layout.js";

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

/**
 * The guests' LAN: a lab bridge in this namespace with its client (10.0.2.2, test/lab/bridge.ts),
 * which every host's GUEST_BRIDGE joins (addHostGuestBridge), so that a guest keeps its address
 * whichever host runs it.
 */
export function addGuestLan(): Promise<LabBridge> {
  return labBridge(GUEST_LAN_TAG);
}

/** The client's netns, whose processes (forwarders) a stop ends before removeGuestLan. */
export const GUEST_LAN_CLIENT = labBridgeNames(GUEST_LAN_TAG).netns;

export function removeGuestLan(): Promise<void> {
  return removeLabBridge(GUEST_LAN_TAG);
}

/**
 * The host's bridge for its guests' NICs (libvirt plugs their taps into it), its uplink a veth
 * to the guests' LAN; the veth goes with the host's netns.
 */
/**
 * The host's leg on the guests' LAN, from this side: a host's netns whose last process is gone
 * can outlive its removal (orphaned TCP sockets of a partitioned pair still retransmitting), and
 * with it this leg, which the next start would then fail to add.
 */
export async function removeHostGuestBridge(h: HostLayout): Promise<void> {
  if (linkExists(h.guestPort)) await ip("link", "del", h.guestPort);
}

export async function addHostGuestBridge(h: HostLayout): Promise<void> {
  const lan = labBridgeNames(GUEST_LAN_TAG).bridge;
  await ip("link", "add", h.guestPort, "type", "veth", "peer", "name", "uplink", "netns", h.netns);
  await ip("link", "set", h.guestPort, "master", lan, "up");
  await ip("-n", h.netns, "link", "add", GUEST_BRIDGE, "type", "bridge");
  await ip("-n", h.netns, "link", "set", "uplink", "master", GUEST_BRIDGE, "up");
  await ip("-n", h.netns, "link", "set", GUEST_BRIDGE, "up");
}
