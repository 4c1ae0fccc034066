import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  hasIothread,
  parseDomainXml,
  QEMU_NS,
  qemuDefinitions,
  readDomainConfig,
} from "../../../src/libvirt/xml/domain.js";
import { METADATA_NS } from "../../../src/libvirt/xml/metadata.js";
import { MAX_XML_BYTES, parseXml, XmlError } from "../../../src/libvirt/xml/tree.js";

// virsh dumpxml output of libvirt 9.0 on Debian 12, the pair built from the lab's recipe.
const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/xml/${name}.xml`, import.meta.url), "utf8");
const PLAIN = fixture("plain-tcg");
const PRIMARY = fixture("web1-primary");
const SECONDARY = fixture("web1-secondary");
const FOREIGN = fixture("web2-foreign-metadata");

const xmlError = (xml: string): XmlError => {
  try {
    parseDomainXml(xml);
  } catch (e) {
    if (e instanceof XmlError) return e;
    throw e;
  }
  throw new Error("parsed without error");
};

/** A minimal domain around `inside`, with extra attributes on <domain>. */
const domain = (inside: string, attrs = "") =>
  `<domain type='kvm'${attrs}><name>d</name><uuid>3bf34378-bc76-4d42-ac34-884d6de407c2</uuid>${inside}</domain>`;
const args = (...values: string[]) => values.map((v) => `<qemu:arg value='${v}'/>`).join("");
const QEMU_DECL = ` xmlns:qemu='${QEMU_NS}'`;

describe("parseDomainXml", () => {
  it("reads a plain TCG domain: name, uuid, type, no COLO, no metadata", () => {
    expect(parseDomainXml(PLAIN)).toEqual({
      name: "plain-tcg",
      uuid: "3bf34378-bc76-4d42-ac34-884d6de407c2",
      type: "qemu",
      colo: undefined,
      metadata: undefined,
    });
  });

  it("finds the primary's COLO plumbing: colo-compare and the filters", () => {
    const info = parseDomainXml(PRIMARY);
    expect(info.name).toBe("web1-primary");
    expect(info.colo).toEqual({
      role: "primary",
      objects: [
        "filter-mirror,id=m0",
        "filter-redirector,id=redire0",
        "filter-redirector,id=redire1",
        "iothread,id=iothread1",
        "colo-compare,id=comp0",
      ],
      disks: 0,
      images: [],
      diskImages: [],
    });
    expect(info.metadata).toMatchObject({
      ok: true,
      value: { role: "primary", peer: { uri: "qemu:///system", domain: "web1-secondary" } },
    });
  });

  it("finds the secondary's: filter-rewriter and -incoming", () => {
    const info = parseDomainXml(SECONDARY);
    expect(info.colo).toEqual({
      role: "secondary",
      objects: ["filter-redirector,id=f1", "filter-redirector,id=f2", "filter-rewriter,id=rew0"],
      incoming: "tcp:127.0.0.1:9998",
      disks: 0,
      images: [],
      diskImages: [],
    });
    expect(info.metadata).toMatchObject({ ok: true, value: { role: "secondary", protect: true } });
  });

  it("reads our metadata under any prefix and ignores the foreign elements beside it", () => {
    // libvirt wrote ours as <ch:hybrid>, between libosinfo's and a backup tool's.
    expect(FOREIGN).toContain("<ch:hybrid");
    const info = parseDomainXml(FOREIGN);
    expect(info.metadata).toEqual({
      ok: true,
      value: {
        role: "primary",
        peer: { uri: "qemu+tls://host2.example.org/system", domain: "web2" },
        protect: false,
        params: expect.objectContaining({ passiveTime: 500, enabled: false, passiveCount: 100 }),
      },
    });
  });

  it("has no metadata when <metadata> holds only foreign elements", () => {
    const foreignOnly = FOREIGN.replace(/<ch:hybrid[\s\S]*<\/ch:hybrid>/, "");
    expect(parseDomainXml(foreignOnly).metadata).toBeUndefined();
    // A <hybrid> in no namespace is someone else's.
    const unqualified = domain("<metadata><hybrid><role>primary</role></hybrid></metadata>");
    expect(parseDomainXml(unqualified).metadata).toBeUndefined();
  });

  it("reports bad metadata as a result, not an exception", () => {
    const bad = PRIMARY.replace("<colo:passive-count>100<", "<colo:passive-count>0<");
    const info = parseDomainXml(bad);
    expect(info.colo?.role).toBe("primary");
    expect(info.metadata).toEqual({
      ok: false,
      errors: [
        {
          path: "hybrid/params/passive-count",
          message: 'passive-count="0" is out of range: 1..100000 checkpoints',
        },
      ],
    });
  });

  it("refuses two of our elements: libvirt keeps one per namespace", () => {
    const ours = `<a:hybrid xmlns:a='${METADATA_NS}'/><b:hybrid xmlns:b='${METADATA_NS}'/>`;
    const info = parseDomainXml(domain(`<metadata>${ours}</metadata>`));
    expect(info.metadata).toMatchObject({ ok: false, errors: [{ path: "hybrid" }] });
  });

  it("matches the qemu namespace by URI, whatever the prefix and wherever declared", () => {
    const objects = args("-object", "colo-compare,id=comp0");
    const primary = {
      role: "primary",
      objects: ["colo-compare,id=comp0"],
      disks: 0,
      images: [],
      diskImages: [],
    };
    const renamed = PRIMARY.replaceAll("qemu:", "q:").replace("xmlns:qemu=", "xmlns:q=");
    expect(renamed).toContain("<q:commandline>");
    expect(parseDomainXml(renamed).colo?.role).toBe("primary");
    const local = `<x:commandline xmlns:x='${QEMU_NS}'>${objects.replaceAll("qemu:", "x:")}</x:commandline>`;
    expect(parseDomainXml(domain(local)).colo).toEqual(primary);
    const byDefault = `<commandline xmlns='${QEMU_NS}'>${objects.replaceAll("qemu:", "")}</commandline>`;
    expect(parseDomainXml(domain(byDefault)).colo).toEqual(primary);
    // The conventional prefix bound to another namespace is not libvirt's.
    const impostor = domain(
      `<qemu:commandline>${objects}</qemu:commandline>`,
      ` xmlns:qemu='urn:x'`,
    );
    expect(parseDomainXml(impostor).colo).toBeUndefined();
  });

  it("reads -object in keyval and JSON forms, and --options", () => {
    const line = args(
      "--object",
      "qom-type=filter-rewriter,id=rew0,netdev=hostnet0",
      "-object",
      '{"qom-type":"filter-redirector","id":"f1","netdev":"hostnet0"}',
      "-object",
      "iothread,id=a,,b",
      "-S",
      "--incoming",
      "defer",
    );
    expect(
      parseDomainXml(domain(`<qemu:commandline>${line}</qemu:commandline>`, QEMU_DECL)).colo,
    ).toEqual({
      role: "secondary",
      objects: ["filter-rewriter,id=rew0", "filter-redirector,id=f1", "iothread,id=a,b"],
      incoming: "defer",
      disks: 0,
      images: [],
      diskImages: [],
    });
  });

  it("counts the replicated disks (quorums colo-diskN) and lists the files colo- drives open", () => {
    const line = args(
      "-object",
      "colo-compare,id=comp0",
      "-drive",
      "if=none,id=colo-disk0,driver=quorum,read-pattern=fifo",
      "-drive",
      "if=none,driver=quorum,id=colo-disk1",
      "-drive",
      "if=none,id=colo-parent0,driver=qcow2,file.filename=/img/b,,1.qcow2",
      "-drive",
      "if=none,id=colo-childs0,file.file.filename=/img/a.qcow2,file.backing.file.filename=/img/h.qcow2",
      "-drive",
      "if=none,id=mine,driver=quorum,file.filename=/img/mine.qcow2",
    );
    expect(
      parseDomainXml(domain(`<qemu:commandline>${line}</qemu:commandline>`, QEMU_DECL)).colo,
    ).toMatchObject({ disks: 2, images: ["/img/b,1.qcow2", "/img/a.qcow2", "/img/h.qcow2"] });
  });

  it("sees no COLO in unrelated extra arguments, nor in an -object that names no type", () => {
    const line = args("-object", "filter-mirror,id=m0", "-object", "{bad json", "-incoming");
    const info = parseDomainXml(domain(`<qemu:commandline>${line}</qemu:commandline>`, QEMU_DECL));
    expect(info.colo).toBeUndefined();
  });

  it("lowercases the UUID and decodes references in text", () => {
    const info = parseDomainXml(
      "<domain type='qemu'><name>a&amp;b&#x20;&#99;</name>" +
        "<uuid> 3BF34378-BC76-4D42-AC34-884D6DE407C2 </uuid></domain>",
    );
    expect(info).toMatchObject({ name: "a&b c", uuid: "3bf34378-bc76-4d42-ac34-884d6de407c2" });
  });

  it("refuses what is not a domain, with the path", () => {
    expect(xmlError("<network/>").message).toBe(
      "network: expected a libvirt <domain>, found <network>",
    );
    expect(xmlError("<domain><name>d</name></domain>").path).toBe("domain/@type");
    expect(xmlError("<domain type='qemu'><uuid>x</uuid></domain>").path).toBe("domain/name");
    const badUuid = xmlError("<domain type='qemu'><name>d</name><uuid>3bf34378</uuid></domain>");
    expect(badUuid.path).toBe("domain/uuid");
    expect(badUuid.message).toContain('"3bf34378" is not a UUID');
    const noValue = xmlError(domain("<qemu:commandline><qemu:arg/></qemu:commandline>", QEMU_DECL));
    expect(noValue.path).toBe("domain/commandline/arg/@value");
  });

  it.each([
    ["an unclosed element", "<domain type='qemu'><name>d</name>"],
    ["a mismatched end tag", "<domain type='qemu'><name>d</uuid></domain>"],
    ["two roots", "<domain type='qemu'/><domain type='qemu'/>"],
    ["text after a self-closing root", "<domain type='qemu'/>junk"],
    ["text before the root", "junk<domain type='qemu'/>"],
    ["no element at all", "  "],
    ["an undefined entity", domain("<title>&nbsp;</title>")],
    ["a bare ampersand in an attribute", domain("<x a='b & c'/>")],
    ["'<' in an attribute", domain("<x a='<'/>")],
    ["a reference to a non-character", domain("<title>&#0;</title>")],
    ["an out-of-range reference", domain("<title>&#x110000;</title>")],
    ["an undeclared prefix", domain("<foo:bar/>")],
    ["an empty prefix declaration", domain("<bar xmlns:foo=''/>")],
    ["a control character", domain("<title>\u0001</title>")],
    ["an unclosed comment", domain("<!-- x")],
    ["a duplicated attribute", "<domain type='qemu' type='kvm'/>"],
  ])("refuses malformed XML: %s", (_what, xml) => {
    expect(xmlError(xml)).toBeInstanceOf(XmlError);
  });

  it("keeps element and attribute names that are Object.prototype members", () => {
    const xml = domain(
      "<metadata><constructor __proto__='1' toString='2'/><prototype></prototype></metadata>",
    );
    expect(parseDomainXml(xml).name).toBe("d");
  });
});

describe("readDomainConfig: what COLO cannot carry", () => {
  const config = (xml: string) => readDomainConfig(parseXml(xml));

  it("reads host devices, shared directories and memory, TPMs, inputs, cards, video, crypto", () => {
    const c = config(fixture("colo-blockers"));
    expect(c.hostdevs).toEqual([
      { mode: "subsystem", type: "pci", source: "0000:03:00.1" },
      { mode: "subsystem", type: "usb", source: "vendor 0x046d product 0xc52b" },
      { mode: "subsystem", type: "scsi", source: "scsi_host0 0:0:1" },
      { mode: "subsystem", type: "mdev", source: "c2177883-f1bb-47f0-914d-32a22e3a8804" },
    ]);
    expect(c.filesystems).toEqual([
      { type: "mount", driver: "virtiofs", source: "/srv/share", target: "share" },
      { type: "mount", driver: undefined, source: "/srv/9p", target: "hostshare" },
    ]);
    expect(c.shmems).toEqual([{ name: "ivshmem0", role: undefined, model: "ivshmem-plain" }]);
    expect(c.tpms).toEqual([{ model: "tpm-crb", backend: "passthrough", path: "/dev/tpm0" }]);
    expect(c.inputs).toEqual([
      { type: "passthrough", bus: "virtio", source: "/dev/input/event1" },
      { type: "evdev", bus: undefined, source: "/dev/input/by-id/usb-kbd-event-kbd" },
      { type: "mouse", bus: "ps2", source: undefined },
      { type: "keyboard", bus: "ps2", source: undefined },
    ]);
    expect(c.smartcards).toEqual([
      { mode: "host", type: undefined },
      { mode: "passthrough", type: "spicevmc" },
    ]);
    expect(c.videos).toEqual([{ model: "virtio", accel3d: true }]);
    expect(c.cryptos).toEqual([{ model: "virtio", type: "qemu", backend: "builtin" }]);
  });

  it("reads launch security, Hyper-V mode, CPU features, the TSC frequency and IOThreads", () => {
    const c = config(fixture("colo-blockers"));
    expect(c).toMatchObject({
      launchSecurity: "sev",
      hyperv: "passthrough",
      cpuFeatures: [{ name: "invtsc", policy: "require" }],
      tscFrequency: undefined,
      iothreads: { count: 2, ids: [] },
    });
    const more = domain(
      "<iothreads>3</iothreads><iothreadids><iothread id='2'/><iothread id='x'/></iothreadids>" +
        "<features><hyperv><relaxed state='on'/></hyperv></features>" +
        "<cpu mode='custom'><model>qemu64</model><feature name='invtsc'/></cpu>" +
        "<clock offset='utc'><timer name='rtc'/><timer name='tsc' frequency='3504000000'/></clock>",
    );
    expect(config(more)).toMatchObject({
      launchSecurity: undefined,
      hyperv: "custom",
      cpuFeatures: [{ name: "invtsc", policy: "require" }],
      tscFrequency: "3504000000",
      iothreads: { count: 3, ids: [2] },
    });
  });

  it("has none of them in a plain domain", () => {
    expect(config(PLAIN)).toMatchObject({
      hostdevs: [],
      filesystems: [],
      shmems: [],
      tpms: [],
      smartcards: [],
      cryptos: [],
      launchSecurity: undefined,
      hyperv: undefined,
      cpuFeatures: [],
      tscFrequency: undefined,
      iothreads: { count: 0, ids: [] },
      qemuIds: [],
      qemuIncoming: [],
    });
  });

  it("numbers IOThreads as libvirt does: the ids given, the rest from the lowest free number", () => {
    expect([1, 2, 3].map((id) => hasIothread({ count: 2, ids: [] }, id))).toEqual([
      true,
      true,
      false,
    ]);
    expect([1, 2, 3, 4].map((id) => hasIothread({ count: 2, ids: [2] }, id))).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect([1, 2, 5].map((id) => hasIothread({ count: 2, ids: [1, 5] }, id))).toEqual([
      true,
      false,
      true,
    ]);
    expect(hasIothread({ count: 0, ids: [] }, 1)).toBe(false);
    expect(hasIothread({ count: 4_000_000_000, ids: [] }, 1)).toBe(true);
  });

  it("reads the ids QEMU arguments define, in keyval and JSON, node names too, and -incoming", () => {
    expect(
      qemuDefinitions([
        "-chardev",
        "socket,id=a,,b,path=/x",
        "--object",
        '{"qom-type":"iothread","id":"io"}',
        "-device",
        "e1000,netdev=n,id=d1,id=d2",
        "-netdev",
        "user,id=n",
        "-blockdev",
        '{"driver":"qcow2","node-name":"top","file":{"driver":"file","node-name":"proto","filename":"/a"}}',
        "-drive",
        "if=none,id=drv,file.node-name=f",
        "-object",
        "{not json,id=k",
        "-incoming",
        "defer",
        "-name",
        "guest=x",
        "-chardev",
      ]),
    ).toEqual({
      ids: [
        { kind: "chardev", option: "-chardev", id: "a,b" },
        { kind: "object", option: "-object", id: "io" },
        { kind: "device", option: "-device", id: "d1" },
        { kind: "device", option: "-device", id: "d2" },
        { kind: "netdev", option: "-netdev", id: "n" },
        { kind: "block", option: "-blockdev", id: "top" },
        { kind: "block", option: "-blockdev", id: "proto" },
        { kind: "block", option: "-drive", id: "drv" },
        { kind: "block", option: "-drive", id: "f" },
        { kind: "object", option: "-object", id: "k" },
      ],
      incoming: ["defer"],
    });
    const c = readDomainConfig(parseXml(fixture("colo-blockers")));
    expect(c.qemuIds).toEqual([
      { kind: "chardev", option: "-chardev", id: "mirror0" },
      { kind: "object", option: "-object", id: "rew0" },
      { kind: "device", option: "-device", id: "m0" },
    ]);
    expect(c.qemuIncoming).toEqual(["defer"]);
  });

  it("reads deeply nested JSON without running out of stack", () => {
    const deep = `{"driver":"raw","file":${'{"x":'.repeat(100_000)}{"node-name":"n"}${"}".repeat(100_000)}}`;
    expect(qemuDefinitions(["-blockdev", deep]).ids).toEqual([
      { kind: "block", option: "-blockdev", id: "n" },
    ]);
  });
});

describe("hostile input", () => {
  it("refuses DOCTYPE and ENTITY outright, before any expansion", () => {
    const laughs = [
      '<?xml version="1.0"?>',
      '<!DOCTYPE domain [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">',
      '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>',
      "<domain type='qemu'><name>&d;</name></domain>",
    ].join("\n");
    expect(xmlError(laughs).message).toMatch(/DOCTYPE/);
    const external = `<!DOCTYPE domain SYSTEM "file:///etc/passwd">${domain("")}`;
    expect(xmlError(external).message).toMatch(/DOCTYPE/);
    expect(xmlError(`<domain><!ENTITY x "y"></domain>`).message).toMatch(/ENTITY/);
  });

  it("refuses input over 4 MiB before parsing, counting UTF-8 bytes", () => {
    const padded = (bytes: number, unit: string) => {
      const shell = domain("<description></description>");
      const fill = unit.repeat(Math.ceil((bytes - shell.length) / Buffer.byteLength(unit)));
      return shell.replace("</description>", `${fill}</description>`);
    };
    const big = padded(MAX_XML_BYTES + 1, "x");
    expect(xmlError(big).message).toMatch(/bytes; the limit is 4194304 \(4 MiB\)/);
    // Fewer UTF-16 units than the limit, more bytes.
    const wide = padded(MAX_XML_BYTES + 2, "é");
    expect(wide.length).toBeLessThan(MAX_XML_BYTES);
    expect(xmlError(wide).message).toMatch(/the limit is/);
    const atLimit = domain(
      `<description>${"x".repeat(MAX_XML_BYTES - domain("").length - 27)}</description>`,
    );
    expect(Buffer.byteLength(atLimit)).toBe(MAX_XML_BYTES);
    expect(parseDomainXml(atLimit).name).toBe("d");
  });

  // About 1 MB each: anything worse than linear would take minutes, not milliseconds.
  it.each([
    ["deep nesting", "<a>".repeat(300_000)],
    ["many unclosed tags", `<domain type='qemu'>${"<a ".repeat(300_000)}`],
    ["a long run of blanks in a tag", `<domain type='qemu'${" ".repeat(1_000_000)}x='1'/>`],
    ["many ampersands", domain(`<title>${"&".repeat(1_000_000)}</title>`)],
    ["many references", domain(`<title>${"&#x41;&lt;".repeat(100_000)}</title>`)],
    [
      "many attributes",
      `<domain type='qemu' ${Array.from({ length: 100_000 }, (_, i) => `a${i}=''`).join(" ")}/>`,
    ],
    ["many comments after the root", `${domain("")}${"<!-- c -->".repeat(100_000)}`],
    ["many siblings", domain("<x/>".repeat(250_000))],
  ])("reads about 1 MB of %s, or refuses it, within the test's timeout", (_what, xml) => {
    // Linear, this takes well under a second; anything quadratic on 1 MB, hours.
    try {
      parseDomainXml(xml);
    } catch (e) {
      expect(e).toBeInstanceOf(XmlError);
    }
  });
});
