// The NICs COLO's filters sit on, and what each <interface> needs so that they see every packet.
// Nothing here talks to libvirt; plumbing.ts writes what this decides.
//
// A tap (type 'bridge' or 'network') puts both sides on one network with one MAC address. That
// is safe because the secondary sends nothing onto it: its filter f2 redirects all its guest's
// output to the primary's colo-compare. Its tap still receives the network's broadcasts, as the
// secondary of QEMU's COLO-FT recipe does. After a failover the survivor announces the MAC
// (announce-self, failover.ts), so that the network learns where the guest now is.
import type { Nic } from "../libvirt/xml/domain.js";

/** How the COLO filters attach to the domain's NIC. */
export interface NicPlumbing {
  /** The netdev libvirt makes for the NIC: "host" + its alias. */
  netdev: string;
  /**
   * Whether the netdev's packets carry a virtio-net header (libvirt opens a tap with
   * IFF_VNET_HDR for virtio models): the filters and colo-compare must skip it.
   */
  vnetHdr: boolean;
  /** Set when the <interface> must get <driver name='qemu'>: vhost-net is turned off. */
  vhostOff: boolean;
}

const TAPS = new Set(["bridge", "network"]);
/** libvirt's virtio models, which alone use vhost-net and a vnet header. */
const VIRTIO = new Set(["virtio", "virtio-transitional", "virtio-non-transitional"]);

/** Why each <interface type> libvirt has cannot carry COLO. */
const REFUSED: Readonly<Record<string, string>> = {
  direct:
    "a macvtap NIC delivers by MAC address, so two with the primary's MAC on one link cannot both be attached",
  hostdev: "the NIC is a host device, whose packets never pass through QEMU's filters",
  vhostuser: "a vhost-user NIC moves packets between the guest and another process, past QEMU",
  vdpa: "a vDPA NIC moves packets in hardware, past QEMU",
};

function isVirtio(nic: Nic): boolean {
  return nic.model !== undefined && VIRTIO.has(nic.model);
}

const SUPPORTED = "<interface type='bridge'>, type='network' or type='user'";

/** How messages name NIC n (counted from 0, as the plumbing's ids are): its position and MAC. */
function nicName(nic: Nic, n: number): string {
  return `NIC ${n}${nic.mac === undefined ? "" : ` (${nic.mac})`}`;
}

/**
 * The domain's NICs for COLO, in <interface> order: each gets its own filters and colo-compare.
 * Every reason one cannot is pushed to `problems`, naming it.
 */
export function planNics(nics: readonly Nic[], problems: string[]): NicPlumbing[] {
  if (nics.length === 0) {
    problems.push(
      `no NIC: COLO compares the two sides' network output, so the domain needs one or more ${SUPPORTED}`,
    );
  }
  // libvirt names a NIC's netdev "host" + its alias: the user's, or net0, net1, ... counting
  // the NICs without one, in order (qemuAssignDeviceNetAlias).
  let unaliased = 0;
  return nics.map((nic, n) => {
    const netdev = `host${nic.alias ?? `net${unaliased++}`}`;
    const name = nicName(nic, n);
    const tap = TAPS.has(nic.type);
    if (!tap && nic.type !== "user") {
      const why =
        REFUSED[nic.type] ?? "its packets do not pass through a QEMU netdev COLO can filter";
      problems.push(
        `${name}: <interface type='${nic.type}'> is not supported: ${why}; use ${SUPPORTED}`,
      );
    }
    if (tap && nic.mac === undefined) {
      problems.push(
        `${name}: <interface type='${nic.type}'> has no <mac address>: both sides must use one MAC address, so give it one`,
      );
    }
    const virtio = isVirtio(nic);
    return { netdev, vnetHdr: tap && virtio, vhostOff: tap && virtio && nic.driver !== "qemu" };
  });
}
/** Why the plan changes the <interface>, for pair create to say. */
export function vhostOffWarning(nic: Nic): string {
  return (
    `vhost-net is turned off on the NIC ${nic.mac ?? ""} (<driver name='qemu'/>): it moves ` +
    "packets in the host's kernel, past the COLO filters that copy and compare them; " +
    "pair remove turns it back"
  );
}
