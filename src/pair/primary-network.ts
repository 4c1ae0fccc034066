// The primary's network plumbing (QEMU's COLO recipe, plumbing.ts draws it) as data: its
// chardevs and objects, in the order QEMU must create them. pair create writes them as -chardev
// and -object arguments into the primary's <qemu:commandline>; re-protection (resync.ts) adds
// them at run time with chardev-add and object-add to a survivor that runs alone, from the same
// list, so that ids, ports and vnet_hdr_support cannot drift between the two.
import type { NicPorts } from "../libvirt/xml/metadata.js";
import { COMPARE_IOTHREAD, nicIds } from "./ids.js";
import type { NicPlumbing } from "./nic.js";

/** colo-compare's own channels stay on the primary's host. */
export const LOOPBACK = "127.0.0.1";

export type NetworkPiece =
  /**
   * A TCP socket chardev: a server, or a client that connects at once. A server that `waits`
   * holds QEMU's start until its client connects.
   */
  | { kind: "chardev"; id: string; host: string; port: number; server: boolean; waits?: boolean }
  /** A QOM object; its properties in the order the command line gives them. */
  | { kind: "object"; type: string; id: string; props: [string, string | boolean][] };

/** Every NIC's pieces; NIC n has the ports ports[n]. */
export function primaryNetwork(
  nics: readonly NicPlumbing[],
  address: string,
  ports: readonly NicPorts[],
): NetworkPiece[] {
  return nics.flatMap((nic, n) => {
    const port = ports[n];
    if (port === undefined) return []; // a port problem, said by the planner
    const { primaryChardevs: c, primaryObjects: o } = nicIds(n);
    const onNic: [string, string | boolean][] = [
      ["netdev", nic.netdev],
      ...(nic.vnetHdr ? [["vnet_hdr_support", true] as [string, boolean]] : []),
    ];
    const chardev = (
      id: string,
      host: string,
      port: number,
      server: boolean,
      waits = false,
    ): NetworkPiece => ({ kind: "chardev", id, host, port, server, ...(waits && { waits }) });
    const object = (
      type: string,
      id: string,
      ...props: [string, string | boolean][]
    ): NetworkPiece => ({ kind: "object", type, id, props });
    return [
      chardev(c.mirror, address, port.mirror, true),
      // QEMU does not start before the secondary's red1 connects: colo-compare needs its input.
      chardev(c.compare, address, port.compare, true, true),
      chardev(c.compareIn, LOOPBACK, port.compareIn, true),
      chardev(c.compareInClient, LOOPBACK, port.compareIn, false),
      chardev(c.compareOut, LOOPBACK, port.compareOut, true),
      chardev(c.compareOutClient, LOOPBACK, port.compareOut, false),
      object("filter-mirror", o.mirror, ...onNic, ["queue", "tx"], ["outdev", c.mirror]),
      object(
        "filter-redirector",
        o.redirectorIn,
        ...onNic,
        ["queue", "rx"],
        ["indev", c.compareOut],
      ),
      object(
        "filter-redirector",
        o.redirectorOut,
        ...onNic,
        ["queue", "rx"],
        ["outdev", c.compareIn],
      ),
      // colo-compare needs its IOThread defined before it; every NIC's shares the first's.
      ...(n === 0 ? [object("iothread", COMPARE_IOTHREAD)] : []),
      object(
        "colo-compare",
        o.compare,
        ["primary_in", c.compareInClient],
        ["secondary_in", c.compare],
        ["outdev", c.compareOutClient],
        ["iothread", COMPARE_IOTHREAD],
        ...(nic.vnetHdr ? [["vnet_hdr_support", true] as [string, boolean]] : []),
      ),
    ];
  });
}

/** QEMU's -chardev and -object arguments for the pieces. */
export function networkArgs(pieces: readonly NetworkPiece[]): string[] {
  return pieces.flatMap((p) => {
    if (p.kind === "object") {
      const props = p.props.map(([k, v]) => `${k}=${v === true ? "on" : v === false ? "off" : v}`);
      return ["-object", [p.type, `id=${p.id}`, ...props].join(",")];
    }
    const server = p.server ? ["server=on", `wait=${p.waits ? "on" : "off"}`] : [];
    return [
      "-chardev",
      ["socket", `id=${p.id}`, `host=${p.host}`, `port=${p.port}`, ...server].join(","),
    ];
  });
}

/**
 * The QMP command that makes the piece at run time. No server waits (a QMP command cannot): the
 * secondary keeps dialling until it is there.
 */
export function networkCommand(p: NetworkPiece): {
  command: string;
  args: Record<string, unknown>;
} {
  if (p.kind === "object")
    return {
      command: "object-add",
      args: { "qom-type": p.type, id: p.id, ...Object.fromEntries(p.props) },
    };
  const addr = { type: "inet", data: { host: p.host, port: String(p.port) } };
  return {
    command: "chardev-add",
    args: {
      id: p.id,
      backend: {
        type: "socket",
        data: { addr, server: p.server, ...(p.server && { wait: false }) },
      },
    },
  };
}
