// This host's address toward a peer: the source address its kernel routes packets to the peer
// from, which is where the peer reaches this host back. A connected UDP socket picks it without
// sending anything.
import { createSocket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { replicationHost } from "./peer.js";
import { isLoopback, parsePeerUri, peerUriProblem } from "./peer-uri.js";

/** Undefined when `host` does not resolve or no route leads there. */
export async function localAddressToward(host: string): Promise<string | undefined> {
  const resolved = await lookup(host).catch(() => undefined);
  if (resolved === undefined) return undefined;
  const socket = createSocket(resolved.family === 6 ? "udp6" : "udp4");
  try {
    return await new Promise<string | undefined>((resolve) => {
      socket.once("error", () => resolve(undefined));
      // Port 9 (discard): any port picks the route; nothing is sent.
      socket.connect(9, resolved.address, () => resolve(socket.address().address));
    });
  } finally {
    socket.close();
  }
}

/**
 * Across hosts, how the secondary's host reaches this one: this host's address toward it (its
 * route's source address), where the primary's servers listen; and a URI of the same kind for
 * the secondary's agent. Undefined on one host (also one reached over loopback), for a URI
 * planPair refuses, or with no route.
 */
export async function towardPeer(
  secondaryUri: string,
): Promise<{ address: string; primaryUri: string } | undefined> {
  if (peerUriProblem(secondaryUri) !== undefined) return undefined;
  const peer = parsePeerUri(secondaryUri);
  if (peer.host === undefined) return undefined;
  const address = await localAddressToward(replicationHost(secondaryUri));
  // A peer reached over loopback is this host after all: qemu:///system reaches it back.
  if (address === undefined || isLoopback(address)) return undefined;
  const host = address.includes(":") ? `[${address}]` : address;
  const user = peer.user === undefined ? "" : `${peer.user}@`;
  return { address, primaryUri: `qemu+${peer.transport}://${user}${host}/system` };
}
