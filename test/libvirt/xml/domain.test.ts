import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseDomainXml, QEMU_NS } from "../../../src/libvirt/xml/domain.js";
import { METADATA_NS } from "../../../src/libvirt/xml/metadata.js";
import { MAX_XML_BYTES, XmlError } from "../../../src/libvirt/xml/tree.js";

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
    const primary = { role: "primary", objects: ["colo-compare,id=comp0"] };
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
    });
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
  ])("stays fast on about 1 MB of %s", (_what, xml) => {
    const start = performance.now();
    try {
      parseDomainXml(xml);
    } catch (e) {
      expect(e).toBeInstanceOf(XmlError);
    }
    expect(performance.now() - start).toBeLessThan(5000);
  });
});
