// Reaching a pair's peer: its URI must be on the allow-list (peer-uri.ts), and how its host is
// reached (keys, known hosts, CA, the ssh binary) comes from root's hosts.conf, never from the
// URI. `pair create`, `protect` and the agents all come through here.
import type { Libvirt } from "./api.js";
import type { ClientOptions } from "./client.js";
import { connectLibvirt, type Via } from "./connect.js";
import { LibvirtError } from "./errors.js";
import { HOSTS_CONF, type HostConfig, hostConfig, NO_CONFIG } from "./hosts-conf.js";
import { describePeer, type PeerUri, parsePeerUri } from "./peer-uri.js";

export interface PeerOptions {
  via?: Via;
  /** Default HOSTS_CONF. */
  hostsFile?: string;
  client?: Partial<Omit<ClientOptions, "params">>;
}

/** The peer's URI, checked, and what hosts.conf says of its host. Throws for either. */
export function resolvePeer(
  uri: string,
  hostsFile = HOSTS_CONF,
): { peer: PeerUri; config: HostConfig } {
  const peer = parsePeerUri(uri);
  if (peer.host === undefined) return { peer, config: NO_CONFIG };
  try {
    return { peer, config: hostConfig(peer.host, hostsFile) };
  } catch (e) {
    throw new LibvirtError("usage", `${describePeer(peer)}: ${(e as Error).message}`);
  }
}

/** Connects to the peer's libvirt; errors name its host and URI. */
export async function connectPeer(uri: string, opts: PeerOptions = {}): Promise<Libvirt> {
  const { peer, config } = resolvePeer(uri, opts.hostsFile);
  const params = new Map(config.params);
  // The agents have no terminal: ssh must fail rather than ask for a password or a host key.
  if (peer.transport === "ssh") params.set("no_tty", "1");
  try {
    return await connectLibvirt(uri, opts.via, { ...opts.client, params });
  } catch (e) {
    if (!(e instanceof LibvirtError)) throw e;
    throw new LibvirtError(e.kind, `${describePeer(peer)}: ${e.message}`, e.code, e.domain);
  }
}

/** The host the replication stream goes to: the peer's, or its address in hosts.conf. */
export function replicationHost(uri: string, hostsFile = HOSTS_CONF): string {
  const { peer, config } = resolvePeer(uri, hostsFile);
  return config.address ?? peer.host ?? "127.0.0.1";
}

/** Where the primary reaches the secondary's NBD server: the same host as the stream's. */
export function nbdTarget(
  uri: string,
  port: number,
  hostsFile = HOSTS_CONF,
): { host: string; port: number } {
  return { host: replicationHost(uri, hostsFile), port };
}

/**
 * Where the primary sends the replication stream: replicationHost (loopback for this host) and
 * the pair's own port. Never the peer's XML, which whoever may define domains there can write.
 */
export function replicationTarget(uri: string, port: number, hostsFile = HOSTS_CONF): string {
  const host = replicationHost(uri, hostsFile);
  return `tcp:${host.includes(":") ? `[${host}]` : host}:${port}`;
}
