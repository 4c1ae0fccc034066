// A libvirt host's capabilities XML (`virsh capabilities`): what colo-hybrid needs of it.
//
// The images COLO block replication names in <qemu:commandline> are not labelled by libvirt
// (it labels only the disks it knows of), so colo-hybrid makes them owned by the user QEMU
// runs as itself. That user differs between hosts and distributions (libvirt-qemu on Debian,
// qemu on Fedora); the DAC security model's base label says which it is on a host.
import { attrValue, parseXml, type XmlElement, XmlError } from "./tree.js";

/** How libvirt writes a DAC base label in capabilities: numeric uid and gid. */
const DAC_LABEL = /^\+(\d+):\+(\d+)$/;

/**
 * The uid and gid QEMU processes of `domainType` ("qemu", "kvm") run as on the host, from
 * <host><secmodel><model>dac</model><baselabel type=...>+UID:+GID</baselabel>; undefined when
 * the host has no DAC model or no base label for that type. Throws XmlError for text that is
 * not a host's capabilities, or a label that is not numeric.
 */
export function qemuOwner(
  capabilitiesXml: string,
  domainType: string,
): { uid: number; gid: number } | undefined {
  const root = parseXml(capabilitiesXml);
  if (root.name !== "capabilities" || root.ns !== "") {
    throw new XmlError(`expected libvirt <capabilities>, found <${root.name}>`, root.path);
  }
  const dac = children(children(root, "host")[0], "secmodel").find(
    (s) => children(s, "model")[0]?.text.trim() === "dac",
  );
  const label = children(dac, "baselabel").find((b) => attrValue(b, "type") === domainType);
  if (label === undefined) return undefined;
  const m = DAC_LABEL.exec(label.text.trim());
  if (!m) {
    throw new XmlError(`${JSON.stringify(label.text.trim())} is not +UID:+GID`, label.path);
  }
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

function children(el: XmlElement | undefined, name: string): XmlElement[] {
  return el?.children.filter((c) => c.ns === "" && c.name === name) ?? [];
}
