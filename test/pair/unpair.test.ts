import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { QEMU_NS, readDomainConfig } from "../../src/libvirt/xml/domain.js";
import { METADATA_NS } from "../../src/libvirt/xml/metadata.js";
import { parseXml } from "../../src/libvirt/xml/tree.js";
import { writeXml } from "../../src/libvirt/xml/write.js";
import { planPair } from "../../src/pair/plumbing.js";
import { planResync } from "../../src/pair/resync.js";
import { planUnpair, secondaryProblem, UnpairError } from "../../src/pair/unpair.js";

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/xml/${name}.xml`, import.meta.url), "utf8");
const HOST = "qemu:///system";
const LOCAL = { secondaryUri: HOST };

const USER_NIC = `
    <interface type='user'>
      <mac address='52:54:00:c0:10:99'/>
      <model type='e1000'/>
    </interface>
  </devices>`;
/** A plain domain pair create takes, with no <qemu:commandline> and no <metadata>. */
const BARE = fixture("plain-tcg").replace("\n  </devices>", USER_NIC);
/**
 * One with its own <qemu:commandline> (an argument after an option that takes none, a chardev
 * of its own, a <qemu:env>) and other tools' metadata, before and after where ours goes.
 */
const OWN = BARE.replace("<domain type='qemu'>", `<domain type='qemu' xmlns:qemu='${QEMU_NS}'>`)
  .replace(
    "  <memory ",
    `  <title>Web &amp; cache</title>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>
      <libosinfo:os id='http://debian.org/debian/12'/>
    </libosinfo:libosinfo>
    <bk:policy xmlns:bk='http://example.org/xmlns/backup/1.0' schedule='daily'/>
  </metadata>
  <memory `,
  )
  .replace(
    "</domain>",
    `  <qemu:commandline>
    <qemu:arg value='-S'/>
    <qemu:arg value='-chardev'/>
    <qemu:arg value='socket,id=mine,host=127.0.0.1,port=7000,server=on,wait=off'/>
    <qemu:arg value='-global'/>
    <qemu:arg value='kvm-pit.lost_tick_policy=delay'/>
    <qemu:env name='TMPDIR' value='/var/tmp'/>
  </qemu:commandline>
</domain>`,
  );

/** Bridged virtio NICs, which pair create turns vhost-net off on; one keeps its other driver settings. */
const bridged = (driver: string) =>
  fixture("plain-tcg").replace(
    "\n  </devices>",
    `
    <interface type='bridge'>
      <mac address='52:54:00:C0:10:98'/>
      <source bridge='br0'/>
      <model type='virtio'/>${driver}
    </interface>
  </devices>`,
  );
const BRIDGED = bridged("");
/** A replicated disk (first, as libvirt writes disks) and a CD-ROM left alone. */
const WITH_DISK = BARE.replace(
  "<devices>",
  `<devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>`,
);
const BRIDGED_QUEUES = bridged("\n      <driver queues='2' name='vhost'/>");
/** A SCSI disk on its virtio-scsi controller and a SATA disk, the controllers staying. */
const ON_CONTROLLERS = BARE.replace(
  "</emulator>",
  `</emulator>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/web-a.img'/>
      <target dev='sda' bus='scsi'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/web-b.img'/>
      <target dev='sdb' bus='sata'/>
      <serial>web-b</serial>
      <address type='drive' controller='0' bus='0' target='0' unit='1'/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'/>
    <controller type='sata' index='0'/>`,
);

/** The XML as writeXml writes it: what pair remove gives back at best. */
const written = (xml: string) => writeXml(parseXml(xml));
const plumbed = (xml: string, choices = {}) => planPair(xml, { ...LOCAL, ...choices }).primary.xml;
const config = (xml: string) => readDomainConfig(parseXml(xml));

function refusal(xml: string): UnpairError {
  try {
    planUnpair(xml, HOST);
  } catch (e) {
    if (e instanceof UnpairError) return e;
    throw e;
  }
  throw new Error("planned without error");
}

describe("planUnpair: the round trip", () => {
  it.each([
    ["its own qemu arguments and other tools' metadata", OWN],
    ["no <qemu:commandline> and no <metadata>", BARE],
    ["a bridged virtio NIC, vhost-net left to libvirt", BRIDGED],
    ["a bridged virtio NIC with its own <driver>", BRIDGED_QUEUES],
    ["a replicated disk and a CD-ROM", WITH_DISK],
    ["SCSI and SATA disks on their controllers", ON_CONTROLLERS],
  ])("gives back a domain with %s exactly", (_, plain) => {
    // libvirt writes MAC addresses in lower case, in the devices, not in the copy in our metadata.
    const [head, devices] = plumbed(plain, { secondaryName: "web-b", basePort: 9100 }).split(
      "<devices>",
    );
    const primary = `${head}<devices>${devices?.replace("52:54:00:C0", "52:54:00:c0")}`;
    expect(primary).not.toBe(written(plain));
    const plan = planUnpair(primary, HOST);
    expect(plan.plainXml).toBe(written(plain));
    expect(plan).toMatchObject({ primary: "plain-tcg", secondary: { uri: HOST, domain: "web-b" } });
  });

  it("keeps the domain's own arguments where they stand, also after the plumbing", () => {
    const primary = plumbed(OWN).replace(
      "</qemu:commandline>",
      "<qemu:arg value='-object'/><qemu:arg value='iothread,id=later'/></qemu:commandline>",
    );
    expect(config(planUnpair(primary, HOST).plainXml).qemuArgs).toEqual([
      ...config(OWN).qemuArgs,
      "-object",
      "iothread,id=later",
    ]);
  });

  it("removes every argument with an id of the plumbing, as QEMU reads them, and -incoming", () => {
    const args = [
      "-object",
      '{"qom-type":"colo-compare","id":"comp0"}',
      "--chardev",
      "socket,id=red0,host=127.0.0.1,port=9003",
      "-incoming",
      "tcp:127.0.0.1:9998",
      // A chardev may share an object's id: only the same kind is ours.
      "-chardev",
      "socket,id=m0,host=127.0.0.1,port=7001",
      // The value of an option is not an option, even when it looks like one.
      "-chardev",
      "-object",
      "iothread,id=iothread1",
    ];
    const primary = plumbed(BARE).replace(
      "</qemu:commandline>",
      `${args.map((a) => `<qemu:arg value='${a.replaceAll('"', "&quot;")}'/>`).join("")}</qemu:commandline>`,
    );
    expect(config(planUnpair(primary, HOST).plainXml).qemuArgs).toEqual([
      "-chardev",
      "socket,id=m0,host=127.0.0.1,port=7001",
      "-chardev",
      "-object",
      "iothread,id=iothread1",
    ]);
  });

  it("makes a renamed primary plain under its own name, keeping only our metadata out", () => {
    const plan = planUnpair(plumbed(OWN, { primaryName: "web-a" }), HOST);
    const plain = config(plan.plainXml);
    expect(plan.primary).toBe("web-a");
    expect(plain).toMatchObject({ name: "web-a", uuid: undefined, metadata: undefined });
    expect(plain.qemuArgs).toEqual(config(OWN).qemuArgs);
  });
});

describe("planUnpair: a primary that was a secondary", () => {
  const UUID = "5b0c3b1e-8f0a-4d3c-9a51-2f1e7d6c4b3a";
  const base = (target: string | undefined) =>
    `/var/lib/colo-hybrid/images/web-b-${target}-base.qcow2`;

  it.each([
    ["a qcow2 virtio disk", WITH_DISK],
    ["raw SCSI and SATA disks without a <driver>", ON_CONTROLLERS],
  ])("puts %s back on the base image it took over on, as qcow2", (_, plain) => {
    const pair = planPair(plain, { ...LOCAL, secondaryName: "web-b", basePort: 9100 });
    // The secondary took over and was protected again: the pair's primary now.
    const survivor = pair.secondary.xml.replace("</name>", `</name><uuid>${UUID}</uuid>`);
    const primary = planResync(survivor, {
      secondaryUri: HOST,
      primaryUri: HOST,
      address: "127.0.0.1",
    }).pair.primary.xml;
    const plan = planUnpair(primary, HOST);
    expect(plan).toMatchObject({ primary: "web-b", secondary: { uri: HOST, domain: "plain-tcg" } });
    const before = config(plain);
    expect(config(plan.plainXml)).toEqual({
      ...before,
      name: "web-b",
      uuid: UUID,
      disks: before.disks.map((d) =>
        d.device === "disk" ? { ...d, source: base(d.target), format: "qcow2" } : d,
      ),
    });
  });
});

describe("planUnpair: refusals", () => {
  it("refuses a domain without our metadata, naming the host and the domain", () => {
    expect(refusal(BARE).message).toBe(
      `cannot remove the COLO pair of 'plain-tcg' on ${HOST}:\n` +
        "  - it has no colo-hybrid metadata: it is not a pair that pair create made",
    );
    const foreign = fixture("web2-foreign-metadata").replace(/<ch:hybrid[\s\S]*<\/ch:hybrid>/, "");
    expect(refusal(foreign).problems).toEqual([
      "it has no colo-hybrid metadata: it is not a pair that pair create made",
    ]);
  });

  it("refuses a secondary: pair remove runs on the primary", () => {
    expect(refusal(fixture("web1-secondary")).message).toBe(
      `cannot remove the COLO pair of 'web1-secondary' on ${HOST}:\n` +
        "  - it is the COLO secondary of 'web1-primary': run it on the primary " +
        "(colo-hybrid pair remove web1-primary -c qemu:///system)",
    );
  });

  it("refuses metadata it cannot read: where the secondary is is not known", () => {
    const bad = fixture("web1-primary").replace("<colo:role>primary", "<colo:role>tertiary");
    const e = refusal(bad);
    expect(e.domain).toBe("web1-primary");
    expect(e.problems).toEqual([
      expect.stringMatching(
        /^its colo-hybrid metadata cannot be read \(hybrid\/role: role="tertiary" is not allowed: .*\), so where its secondary is is not known$/,
      ),
    ]);
  });
});

describe("secondaryProblem", () => {
  const plan = planPair(BARE, { ...LOCAL, secondaryName: "web-b" });
  const unpair = planUnpair(plan.primary.xml, HOST);

  it("accepts the primary's own secondary", () => {
    expect(secondaryProblem(unpair, plan.secondary.xml)).toBeUndefined();
  });

  it("refuses a domain that only has the secondary's name", () => {
    expect(secondaryProblem(unpair, BARE.replace("plain-tcg", "web-b"))).toBe(
      `'web-b' on ${HOST} has no colo-hybrid metadata: it is not the secondary`,
    );
    const other = planPair(BARE.replace("plain-tcg", "other"), {
      ...LOCAL,
      secondaryName: "web-b",
    });
    expect(secondaryProblem(unpair, other.secondary.xml)).toBe(
      `'web-b' on ${HOST} is not the COLO secondary of 'plain-tcg': its metadata says it is the secondary of 'other'`,
    );
    expect(
      secondaryProblem(unpair, other.primary.xml.replace("<name>other", "<name>web-b")),
    ).toMatch(/its metadata says it is the primary of 'web-b'$/);
    const broken = plan.secondary.xml.replace(/<colo:role>secondary/, "<colo:role>x");
    expect(secondaryProblem(unpair, broken)).toBe(
      `'web-b' on ${HOST} has colo-hybrid metadata that cannot be read`,
    );
    expect(plan.secondary.xml).toContain(METADATA_NS);
  });
});
