import { describe, expect, it } from "vitest";
import { qemuOwner } from "../../../src/libvirt/xml/capabilities.js";
import { XmlError } from "../../../src/libvirt/xml/tree.js";

/** Capabilities around `secmodels`, cut down from libvirt 9.0's on Debian 12. */
const caps = (secmodels: string) => `<capabilities>
  <host>
    <uuid>5e1f6ae8-1a4b-4bd4-9d0b-2b53e0f7f1a0</uuid>
    <cpu><arch>x86_64</arch></cpu>
    ${secmodels}
  </host>
  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'><domain type='qemu'/><domain type='kvm'/></arch>
  </guest>
</capabilities>
`;

const APPARMOR = "<secmodel><model>apparmor</model><doi>0</doi></secmodel>";
const dac = (labels: string) => `<secmodel><model>dac</model><doi>0</doi>${labels}</secmodel>`;
const DEBIAN = dac(
  "<baselabel type='kvm'>+64055:+994</baselabel><baselabel type='qemu'>+64055:+107</baselabel>",
);

describe("qemuOwner", () => {
  it("reads the DAC base label of the domain type, past other security models", () => {
    expect(qemuOwner(caps(APPARMOR + DEBIAN), "qemu")).toEqual({ uid: 64055, gid: 107 });
    expect(qemuOwner(caps(APPARMOR + DEBIAN), "kvm")).toEqual({ uid: 64055, gid: 994 });
  });

  it("is undefined with no DAC model, or no base label of that type", () => {
    expect(qemuOwner(caps(APPARMOR), "qemu")).toBeUndefined();
    expect(qemuOwner(caps(""), "kvm")).toBeUndefined();
    expect(qemuOwner(caps(DEBIAN), "lxc")).toBeUndefined();
    expect(qemuOwner(caps(dac("")), "qemu")).toBeUndefined();
    // A base label of another model is not QEMU's user.
    const selinux =
      "<secmodel><model>selinux</model><doi>0</doi>" +
      "<baselabel type='kvm'>system_u:system_r:svirt_t:s0</baselabel></secmodel>";
    expect(qemuOwner(caps(selinux), "kvm")).toBeUndefined();
  });

  it("refuses a label that is not numeric, and XML that is not capabilities", () => {
    expect(() =>
      qemuOwner(caps(dac("<baselabel type='qemu'>qemu:qemu</baselabel>")), "qemu"),
    ).toThrow(XmlError);
    expect(() => qemuOwner("<domain type='qemu'/>", "qemu")).toThrow(
      /expected libvirt <capabilities>/,
    );
    expect(() => qemuOwner("<capabilities>", "qemu")).toThrow(XmlError);
  });
});
