// This host's address toward a peer: the source address its kernel routes packets to the peer
// from, which is where the peer reaches this host back. A connected UDP socket picks it without
// sending anything.
import { createSocket } from "node:dgram";
import { lookup } from "node:dns/promises";

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
