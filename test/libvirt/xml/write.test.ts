import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_PARAMS } from "../../../src/colo/params.js";
import { parseDomainXml, QEMU_NS, readDomainConfig } from "../../../src/libvirt/xml/domain.js";
import {
  formatMetadata,
  type HybridMetadata,
  METADATA_NS,
  parseMetadata,
} from "../../../src/libvirt/xml/metadata.js";
import { parseXml, type XmlElement, XmlError } from "../../../src/libvirt/xml/tree.js";
import { type DomainEdits, editDomain, writeXml } from "../../../src/libvirt/xml/write.js";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/xml/${name}.xml`, import.meta.url), "utf8");
const FIXTURES = ["plain-tcg", "web1-primary", "web1-secondary", "web2-foreign-metadata"];
const PLAIN = fixture("plain-tcg");
const PRIMARY = fixture("web1-primary");
const FOREIGN = fixture("web2-foreign-metadata");

const UUID = "3bf34378-bc76-4d42-ac34-884d6de407c2";
const domain = (inside: string, attrs = "") =>
  `<domain type='kvm'${attrs}><name>d</name><uuid>${UUID}</uuid>${inside}</domain>`;
const edit = (xml: string, edits: DomainEdits) => writeXml(editDomain(parseXml(xml), edits));
const args = (xml: string) => readDomainConfig(parseXml(xml)).qemuArgs;

/** The tree as the writer promises to keep it: the text between child elements is layout. */
function kept(el: XmlElement): unknown {
  return {
    name: el.name,
    prefix: el.prefix,
    ns: el.ns,
    attrs: el.attrs,
    text: el.children.length > 0 ? "" : el.text,
    children: el.children.map(kept),
  };
}

const META: HybridMetadata = {
  role: "secondary",
  peer: { uri: "qemu+ssh://root@host1:2222/system", domain: `w "1" <&>` },
  protect: true,
  params: { ...DEFAULT_PARAMS, coloPeriod: 5000, variant: "seed" },
};

describe("writeXml", () => {
  it.each(FIXTURES)("writes %s back as it was read (parse, write, parse)", (name) => {
    const xml = fixture(name);
    const written = writeXml(parseXml(xml));
    expect(kept(parseXml(written))).toEqual(kept(parseXml(xml)));
    if (name !== "metadata-virsh-get") expect(parseDomainXml(written)).toEqual(parseDomainXml(xml));
    // Written once more, it does not change: the layout is the writer's own.
    expect(writeXml(parseXml(written))).toBe(written);
  });

  it("keeps prefixes, and declares them where libvirt does", () => {
    const written = writeXml(parseXml(FOREIGN));
    expect(written).toContain(
      "<libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>",
    );
    expect(written).toContain("<ch:hybrid xmlns:ch='http://colo-hybrid.org/xmlns/domain/1.0'>");
    expect(written).toContain("<bk:policy schedule='daily' keep='7' xmlns:bk=");
    expect(writeXml(parseXml(PRIMARY))).toMatch(
      new RegExp(`^<domain type='qemu' xmlns:qemu='${QEMU_NS}'>\n  <name>web1-primary</name>`),
    );
  });

  it("escapes text and attribute values, keeping tabs, line ends and CRs", () => {
    const tricky = `a<b>&c 'd' "e"\tf\ng\r\nh ]]> &amp;`;
    const root = editDomain(parseXml(domain("")), { name: tricky, qemuArgs: [tricky] });
    const written = writeXml(root);
    expect(written).toContain("&lt;b&gt;&amp;c");
    const back = readDomainConfig(parseXml(written));
    expect(back.name).toBe(tricky);
    expect(back.qemuArgs).toEqual([tricky]);
  });

  it("declares a default namespace, and undeclares it for a child in no namespace", () => {
    const xml = domain("<metadata><x xmlns='urn:x'><y/><z xmlns=''/></x></metadata>");
    const written = writeXml(parseXml(xml));
    expect(written).toContain("<x xmlns='urn:x'>");
    expect(written).toContain("<z xmlns=''/>");
    expect(kept(parseXml(written))).toEqual(kept(parseXml(xml)));
  });

  it("refuses what it cannot write: mixed content, characters XML has no room for", () => {
    expect(() => writeXml(parseXml(domain("<description>a<b/>c</description>")))).toThrow(
      /domain\/description: text beside child elements/,
    );
    expect(() => edit(domain(""), { name: "a\u0001b" })).toThrow(XmlError);
    expect(() => edit(domain(""), { qemuArgs: ["\uD800"] })).toThrow(/U\+D800/);
    expect(() => edit(domain(""), { name: "\uFFFE" })).toThrow(/U\+FFFE/);
  });

  it("writes any tree of elements, namespaces and attributes so that it reads back the same", () => {
    const NAMESPACES = ["", "urn:1", "urn:2", "http://e.org/a?b=1&c='2'"];
    const NAMES = ["d", "x-y", "a.b", "_q", "constructor", "toString", "__proto__", "ns0"];
    const text = fc
      .string({ unit: "grapheme", maxLength: 12 })
      .filter((s) => !/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.test(s));
    const { element } = fc.letrec((tie) => ({
      element: fc
        .record({
          name: fc.constantFrom(...NAMES),
          prefix: fc.constantFrom("", "a", "b"),
          bindings: fc.record({
            "": fc.constantFrom(...NAMESPACES),
            a: fc.constantFrom(...NAMESPACES.slice(1)),
            b: fc.constantFrom(...NAMESPACES.slice(1)),
          }),
          attrs: fc.array(
            fc.record({ prefix: fc.constantFrom("", "a", "b", "xml"), value: text }),
            {
              maxLength: 3,
            },
          ),
          children: fc.oneof(
            { maxDepth: 4, depthIdentifier: "tree" },
            fc.constant([]),
            fc.array(tie("element") as fc.Arbitrary<XmlElement>, { maxLength: 3 }),
          ),
          text,
        })
        .map(({ name, prefix, bindings, attrs, children, text }): XmlElement => {
          const ns = (p: string) =>
            p === "xml" ? "http://www.w3.org/XML/1998/namespace" : bindings[p as "" | "a" | "b"];
          return {
            name,
            prefix,
            ns: ns(prefix),
            // Distinct names; an unprefixed attribute is in no namespace.
            attrs: attrs.map((a, i) => ({
              name: `n${i}`,
              prefix: a.prefix,
              ns: a.prefix === "" ? "" : ns(a.prefix),
              value: a.value,
            })),
            children,
            text: children.length > 0 ? "" : text,
            path: name,
          };
        }),
    }));
    fc.assert(
      fc.property(element, (root) => {
        expect(kept(parseXml(writeXml(root)))).toEqual(kept(root));
      }),
      { numRuns: 300 },
    );
  });
});

describe("editDomain", () => {
  it("changes the name, sets the UUID or removes it", () => {
    const renamed = edit(PLAIN, { name: "web3" });
    expect(parseDomainXml(renamed)).toMatchObject({ name: "web3", uuid: UUID });
    const noUuid = readDomainConfig(parseXml(edit(PLAIN, { uuid: null })));
    expect(noUuid.uuid).toBeUndefined();
    const other = "95e22dad-5dec-4172-99e2-8ea9326704be";
    expect(parseDomainXml(edit(PLAIN, { uuid: other })).uuid).toBe(other);
    // Set on a domain without one: after the name, where libvirt writes it.
    expect(edit(edit(PLAIN, { uuid: null }), { uuid: other })).toMatch(
      /<name>plain-tcg<\/name>\n {2}<uuid>95e22dad/,
    );
  });

  it("adds <qemu:commandline> with xmlns:qemu on <domain>, and replaces its arguments", () => {
    const added = edit(PLAIN, { qemuArgs: ["-object", "iothread,id=i"] });
    expect(added).toMatch(new RegExp(`^<domain type='qemu' xmlns:qemu='${QEMU_NS}'>`));
    expect(added).toMatch(
      /<qemu:commandline>\n {4}<qemu:arg value='-object'\/>\n {4}<qemu:arg value='iothread,id=i'\/>\n {2}<\/qemu:commandline>\n<\/domain>\n$/,
    );
    expect(args(added)).toEqual(["-object", "iothread,id=i"]);
    expect(args(edit(PRIMARY, { qemuArgs: ["-S"] }))).toEqual(["-S"]);
    expect(args(edit(PRIMARY, { qemuArgs: [] }))).toEqual([]);
  });

  it("keeps the prefix a document uses, <qemu:env>, and gathers every <qemu:commandline>'s args", () => {
    const xml = domain(
      "<q:commandline><q:arg value='-a'/><q:env name='E' value='1'/></q:commandline>" +
        "<q:commandline><q:arg value='-b'/></q:commandline>",
      ` xmlns:q='${QEMU_NS}'`,
    );
    const written = edit(xml, { qemuArgs: ["-c"] });
    expect(args(written)).toEqual(["-c"]);
    expect(written).toContain("<q:arg value='-c'/>\n    <q:env name='E' value='1'/>");
    expect(written).toContain(`<domain type='kvm' xmlns:q='${QEMU_NS}'>`);
  });

  it("adds our metadata in its namespace after the head, from formatMetadata's data", () => {
    const written = edit(PLAIN, { metadata: META });
    expect(written).toMatch(
      /<uuid>[^<]+<\/uuid>\n {2}<metadata>\n {4}<colo:hybrid xmlns:colo='http:\/\/colo-hybrid\.org\/xmlns\/domain\/1\.0'>\n {6}<colo:role>secondary<\/colo:role>/,
    );
    const read = parseDomainXml(written).metadata;
    expect(read).toEqual({ ok: true, value: META });
    // The same data as the bare form virDomainSetMetadata takes.
    expect(read).toEqual(parseMetadata(formatMetadata(META)));
  });

  it("replaces our element where it was, whatever its prefix, and keeps other tools' elements", () => {
    const written = edit(FOREIGN, { metadata: META });
    const metadata = parseXml(written).children.find((c) => c.name === "metadata");
    expect(metadata?.children.map((c) => `${c.prefix}:${c.name}`)).toEqual([
      "libosinfo:libosinfo",
      "colo:hybrid",
      "bk:policy",
    ]);
    expect(parseDomainXml(written).metadata).toEqual({ ok: true, value: META });
    const before = parseXml(FOREIGN).children.find((c) => c.name === "metadata");
    expect(kept(metadata?.children[0] as XmlElement)).toEqual(
      kept(before?.children[0] as XmlElement),
    );
    expect(metadata?.children.filter((c) => c.ns === METADATA_NS)).toHaveLength(1);
  });

  it("changes nothing it was not asked to", () => {
    const all = editDomain(parseXml(FOREIGN), {
      name: "n",
      uuid: null,
      qemuArgs: ["-S"],
      metadata: META,
    });
    const untouched = (root: XmlElement) =>
      root.children
        .filter((c) => !["name", "uuid", "metadata", "commandline"].includes(c.name))
        .map(kept);
    expect(untouched(parseXml(writeXml(all)))).toEqual(untouched(parseXml(FOREIGN)));
    expect(edit(FOREIGN, {})).toBe(writeXml(parseXml(FOREIGN)));
  });

  it("refuses what is not a domain, and metadata formatMetadata refuses", () => {
    expect(() => editDomain(parseXml("<network/>"), {})).toThrow(XmlError);
    expect(() =>
      edit(PLAIN, { metadata: { ...META, peer: { uri: "http://x/", domain: "d" } } }),
    ).toThrow(RangeError);
  });
});
