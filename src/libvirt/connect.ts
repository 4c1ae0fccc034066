// The one way the rest of colo-hybrid gets a Libvirt: the RPC client, or virsh where the
// daemon's socket cannot be reached (COLO_HYBRID_LIBVIRT=virsh, or `via: "virsh"`). A pair's
// peer is reached through connectPeer (peer.ts), which checks its URI first.
import type { Libvirt } from "./api.js";
import { type ClientOptions, LibvirtClient } from "./client.js";
import { LibvirtError } from "./errors.js";
import { VirshLibvirt } from "./virsh.js";

export type Via = "rpc" | "virsh";

export function connectLibvirt(
  uri: string,
  via: Via = (process.env.COLO_HYBRID_LIBVIRT as Via | undefined) ?? "rpc",
  options: Partial<ClientOptions> = {},
): Promise<Libvirt> {
  switch (via) {
    case "rpc":
      return LibvirtClient.connect(uri, options);
    case "virsh":
      return Promise.resolve(
        new VirshLibvirt(uri, options.params === undefined ? {} : { params: options.params }),
      );
    default:
      return Promise.reject(
        new LibvirtError("usage", `unknown libvirt access '${via}' (rpc or virsh)`),
      );
  }
}
