// What QEMU runs a domain, and how: version and accelerator, asked of QEMU itself.
import type { DomainRef, Libvirt } from "../libvirt/api.js";

export interface QemuInfo {
  version: { major: number; minor: number; micro: number };
  /** "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)" */
  text: string;
  accelerator: "kvm" | "tcg";
}

export async function qemuInfo(lv: Libvirt, dom: DomainRef): Promise<QemuInfo> {
  const v = (await lv.qmp(dom, "query-version")) as {
    qemu: { major: number; minor: number; micro: number };
    package?: string;
  };
  const kvm = (await lv.qmp(dom, "query-kvm")) as { enabled: boolean };
  const { major, minor, micro } = v.qemu;
  const pkg = v.package?.trim();
  return {
    version: v.qemu,
    text: `${major}.${minor}.${micro}${pkg ? ` (${pkg})` : ""}`,
    accelerator: kvm.enabled ? "kvm" : "tcg",
  };
}
