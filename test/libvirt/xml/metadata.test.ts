import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_PARAMS,
  PARAMETERS,
  type ParamSpec,
  type Params,
} from "../../../src/colo/params.js";
import {
  formatMetadata,
  type HybridMetadata,
  METADATA_NS,
  parseMetadata,
  ROLES,
} from "../../../src/libvirt/xml/metadata.js";
import { XmlError } from "../../../src/libvirt/xml/tree.js";

// What `virsh metadata web1-primary --uri NS` printed: libvirt strips the namespace.
const VIRSH_GET = readFileSync(
  new URL("../../fixtures/xml/metadata-virsh-get.xml", import.meta.url),
  "utf8",
);

const EXAMPLE: HybridMetadata = {
  role: "primary",
  peer: { uri: "qemu+ssh://root@host2/system", domain: "web1-secondary" },
  protect: false,
  params: DEFAULT_PARAMS,
};

/** Our element with prefix `p`, holding `inside`. */
const hybrid = (inside: string, p = "colo") =>
  `<${p}:hybrid xmlns:${p}="${METADATA_NS}">${inside}</${p}:hybrid>`;
const BASICS =
  '<colo:role>primary</colo:role><colo:peer uri="qemu:///system" domain="web1-secondary"/>';

const errorsOf = (xml: string) => {
  const r = parseMetadata(xml);
  if (r.ok) throw new Error("parsed without error");
  return r.errors;
};

describe("parseMetadata", () => {
  it("reads what virsh metadata prints, the namespace stripped", () => {
    expect(parseMetadata(VIRSH_GET)).toEqual({
      ok: true,
      value: {
        role: "primary",
        peer: { uri: "qemu:///system", domain: "web1-secondary" },
        protect: true,
        params: DEFAULT_PARAMS,
      },
    });
  });

  it("reads our namespace under any prefix, or as the default namespace", () => {
    const expected = { ok: true, value: expect.objectContaining({ role: "primary" }) };
    expect(parseMetadata(hybrid(BASICS))).toMatchObject(expected);
    expect(parseMetadata(hybrid(BASICS.replaceAll("colo:", "x:"), "x"))).toMatchObject(expected);
    const byDefault = `<hybrid xmlns="${METADATA_NS}">${BASICS.replaceAll("colo:", "")}</hybrid>`;
    expect(parseMetadata(byDefault)).toMatchObject(expected);
  });

  it("takes the defaults for missing parameters and protect", () => {
    const r = parseMetadata(
      hybrid(`${BASICS}<colo:params><colo:warmup>7</colo:warmup></colo:params>`),
    );
    expect(r).toEqual({
      ok: true,
      value: {
        role: "primary",
        peer: { uri: "qemu:///system", domain: "web1-secondary" },
        protect: false,
        params: { ...DEFAULT_PARAMS, warmup: 7 },
      },
    });
  });

  it("trims whitespace around text values", () => {
    const xml = hybrid(
      "<colo:role>\n  secondary\n</colo:role>" +
        '<colo:peer uri="qemu:///system" domain="p"/>' +
        "<colo:protect> true </colo:protect>" +
        "<colo:params><colo:variant>\tseed\n</colo:variant><colo:weight> 0.5 </colo:weight></colo:params>",
    );
    expect(parseMetadata(xml)).toMatchObject({
      ok: true,
      value: { role: "secondary", protect: true, params: { variant: "seed", weight: 0.5 } },
    });
  });

  it("reports every bad value, each with its path, naming the value and what is allowed", () => {
    const xml = hybrid(
      "<colo:role>master</colo:role>" +
        '<colo:peer uri="http://host2/" domain=""/>' +
        "<colo:protect>yes</colo:protect>" +
        "<colo:params>" +
        "<colo:passive-count>0</colo:passive-count>" +
        "<colo:weight>2</colo:weight>" +
        "<colo:enabled>on</colo:enabled>" +
        "<colo:variant>rfc</colo:variant>" +
        "</colo:params>",
    );
    expect(errorsOf(xml)).toEqual([
      { path: "hybrid/role", message: 'role="master" is not allowed: primary or secondary' },
      {
        path: "hybrid/peer/@uri",
        message: expect.stringMatching(
          /^uri="http:\/\/host2\/" is not allowed \(not one of the allowed forms\): qemu:\/\/\/system, /,
        ),
      },
      {
        path: "hybrid/peer/@domain",
        message: expect.stringMatching(/^domain="" is not allowed: a domain name/),
      },
      { path: "hybrid/protect", message: 'protect="yes" is not allowed: true or false' },
      {
        path: "hybrid/params/passive-count",
        message: 'passive-count="0" is out of range: 1..100000 checkpoints',
      },
      { path: "hybrid/params/weight", message: 'weight="2" is out of range: 0.01..1' },
      { path: "hybrid/params/enabled", message: 'enabled="on" is out of range: true or false' },
      {
        path: "hybrid/params/variant",
        message: 'variant="rfc" is out of range: seed or corrected',
      },
    ]);
  });

  it("reports what is missing", () => {
    expect(errorsOf(hybrid(""))).toEqual([
      { path: "hybrid/role", message: "missing <role>: primary or secondary" },
      { path: "hybrid/peer", message: "missing <peer uri=... domain=.../>" },
    ]);
    expect(errorsOf(hybrid("<colo:role>primary</colo:role><colo:peer/>"))).toEqual([
      { path: "hybrid/peer/@uri", message: "missing: the peer's libvirt URI" },
      { path: "hybrid/peer/@domain", message: "missing: the peer's domain name" },
    ]);
  });

  it("checks the parameters together: colo-period must exceed passive-limit", () => {
    const params = "<colo:params><colo:passive-limit>30000</colo:passive-limit></colo:params>";
    expect(errorsOf(hybrid(BASICS + params))).toEqual([
      {
        path: "hybrid/params/colo-period",
        message: expect.stringContaining("colo-period=20000 must be more than passive-limit=30000"),
      },
    ]);
  });

  it("refuses unknown elements, attributes, repeats, stray text and foreign elements", () => {
    const xml =
      `<colo:hybrid xmlns:colo="${METADATA_NS}" xmlns:o="urn:other" version="2">` +
      `stray${BASICS}` +
      "<colo:role>secondary</colo:role>" +
      "<colo:mode>colo</colo:mode>" +
      "<o:note>ours</o:note>" +
      '<colo:params o:origin="cli">' +
      "<colo:passive-cnt>5</colo:passive-cnt>" +
      "<colo:warmup unit='s'>5<colo:x/></colo:warmup>" +
      "</colo:params>" +
      "</colo:hybrid>";
    const errors = errorsOf(xml);
    expect(errors.map((e) => e.path)).toEqual([
      "hybrid/@version",
      "hybrid",
      "hybrid/role",
      "hybrid/mode",
      "hybrid/note",
      "hybrid/params/@origin",
      "hybrid/params/passive-cnt",
      "hybrid/params/warmup/@unit",
      "hybrid/params/warmup/x",
    ]);
    expect(errors[3]?.message).toBe(
      "unknown element <mode> in <hybrid>: expected role, peer, protect, ports, params, original",
    );
    expect(errors[4]?.message).toBe(
      `element in namespace 'urn:other' not allowed: only ${METADATA_NS}`,
    );
    expect(errors[6]?.message).toContain("expected passive-count, passive-limit");
  });

  it("refuses an element in no namespace inside ours", () => {
    const xml = `<c:hybrid xmlns:c="${METADATA_NS}">${BASICS.replaceAll("colo:", "c:")}<role/></c:hybrid>`;
    expect(errorsOf(xml)).toEqual([
      { path: "hybrid/role", message: `element in namespace '' not allowed: only ${METADATA_NS}` },
    ]);
  });

  it("refuses another root element", () => {
    expect(errorsOf('<o:hybrid xmlns:o="urn:other"/>')).toEqual([
      {
        path: "hybrid",
        message: `expected <hybrid> in namespace ${METADATA_NS}, found <hybrid> in namespace urn:other`,
      },
    ]);
    expect(errorsOf("<colo/>")[0]?.path).toBe("colo");
  });

  it.each([
    ["qemu:///system", true],
    ["qemu+ssh://root@host2/system", true],
    ["qemu+tls://host2.example.org:16514/system", true],
    // What picks a binary, a socket, a key or turns verification off is hosts.conf's, not ours.
    ["qemu+unix:///system?socket=/run/libvirt/libvirt-sock", false],
    ["qemu+ssh://root@host1/system?keyfile=/root/.ssh/id&no_verify=1", false],
    ["qemu+ssh://evilhost/system?command=/tmp/evil.sh", false],
    ["qemu+ext:///system?command=/tmp/evil.sh", false],
    ["http://host2/", false],
    ["qemu:/system", false],
    ["xen:///system", false],
    ["host2", false],
    ["qemu+ssh://host2/sys tem", false],
    ["", false],
  ])("peer uri %j accepted: %s", (uri, ok) => {
    const esc = uri.replaceAll("&", "&amp;");
    const r = parseMetadata(
      hybrid(`<colo:role>primary</colo:role><colo:peer uri="${esc}" domain="d"/>`),
    );
    expect(r.ok).toBe(ok);
  });

  it("reads the pair's ports: decimal port numbers, not the privileged ones", () => {
    const ports = (attrs: string) => parseMetadata(hybrid(`${BASICS}<colo:ports ${attrs}/>`));
    expect(ports('migration="9004"')).toMatchObject({
      ok: true,
      value: { ports: { migration: 9004 } },
    });
    expect(parseMetadata(hybrid(BASICS))).toMatchObject({ ok: true, value: { role: "primary" } });
    expect((parseMetadata(hybrid(BASICS)) as { value: object }).value).not.toHaveProperty("ports");
    for (const bad of ["0x232c", "80", "70000", " 9004", "9004.0", "1e4", ""]) {
      expect(errorsOf(hybrid(`${BASICS}<colo:ports migration="${bad}"/>`)), bad).toEqual([
        {
          path: "hybrid/ports/@migration",
          message: `migration=${JSON.stringify(bad)} is not allowed: a port number, 1024..65535`,
        },
      ]);
    }
    expect(errorsOf(hybrid(`${BASICS}<colo:ports/>`))[0]?.message).toBe(
      "missing: the replication port",
    );
    expect(errorsOf(hybrid(`${BASICS}<colo:ports migration="9004" nbd="1"/>`))[0]?.path).toBe(
      "hybrid/ports/@nbd",
    );
  });

  it("reads every NIC's four ports, in order", () => {
    const xml = hybrid(
      `${BASICS}<colo:ports migration="9004" nbd="9005">` +
        '<colo:nic mirror="9000" compare="9001" compare-in="9002" compare-out="9003"/>' +
        '<colo:nic mirror="9006" compare="9007" compare-in="9008" compare-out="9009"/>' +
        "</colo:ports>",
    );
    expect(parseMetadata(xml)).toMatchObject({
      ok: true,
      value: {
        ports: {
          migration: 9004,
          nbd: 9005,
          nics: [
            { mirror: 9000, compare: 9001, compareIn: 9002, compareOut: 9003 },
            { mirror: 9006, compare: 9007, compareIn: 9008, compareOut: 9009 },
          ],
        },
      },
    });
  });

  it("reports a bad or missing NIC port, and anything else in <ports>, each with its path", () => {
    const ports = (inside: string) =>
      errorsOf(hybrid(`${BASICS}<colo:ports migration="9004">${inside}</colo:ports>`));
    expect(ports('<colo:nic mirror="80" compare="9001" compare-in="9002"/>')).toEqual([
      {
        path: "hybrid/ports/nic[0]/@mirror",
        message: 'mirror="80" is not allowed: a port number, 1024..65535',
      },
      { path: "hybrid/ports/nic[0]/@compare-out", message: "missing: the NIC's compare-out port" },
    ]);
    const good = '<colo:nic mirror="9000" compare="9001" compare-in="9002" compare-out="9003"';
    expect(ports(`${good}/>${good} vlan="1"/>`)).toEqual([
      {
        path: "hybrid/ports/nic[1]/@vlan",
        message:
          "unknown attribute 'vlan' on <nic>: expected mirror, compare, compare-in, compare-out",
      },
    ]);
    expect(ports(`${good}/><colo:mirror port="9000"/>`)).toEqual([
      { path: "hybrid/ports/mirror", message: "unknown element <mirror> in <ports>: expected nic" },
    ]);
  });

  it("keeps the original devices as text, which must be the XML of a <devices>", () => {
    const devices =
      "<devices><interface type='bridge'><model type='virtio'/></interface></devices>";
    const m = { ...EXAMPLE, original: devices };
    const xml = formatMetadata(m);
    expect(xml).toContain(
      "<original>&lt;devices&gt;&lt;interface type=&apos;bridge&apos;&gt;&lt;model type=&apos;virtio&apos;/&gt;&lt;/interface&gt;&lt;/devices&gt;</original>",
    );
    expect(parseMetadata(xml)).toEqual({ ok: true, value: m });
    for (const bad of ["<disk/>", "<devices>", "devices"]) {
      expect(
        errorsOf(hybrid(`${BASICS}<colo:original>${bad.replaceAll("<", "&lt;")}</colo:original>`)),
        bad,
      ).toEqual([
        {
          path: "hybrid/original",
          message: expect.stringMatching(/^original=.* is not allowed: /),
        },
      ]);
      expect(() => formatMetadata({ ...EXAMPLE, original: bad })).toThrow(RangeError);
    }
  });

  it("throws XmlError for text that is not XML, or has a DTD", () => {
    expect(() => parseMetadata("<hybrid><role>primary</hybrid>")).toThrow(XmlError);
    expect(() => parseMetadata('<!DOCTYPE hybrid [<!ENTITY r "primary">]><hybrid/>')).toThrow(
      /DOCTYPE/,
    );
    expect(() => parseMetadata("<x:hybrid/>")).toThrow("prefix 'x' is not declared");
  });
});

function valueArb(spec: ParamSpec): fc.Arbitrary<unknown> {
  switch (spec.kind) {
    case "int":
      return fc.integer({ min: spec.min, max: spec.max });
    case "real":
      return fc.double({ min: spec.min, max: spec.max, noNaN: true });
    case "bool":
      return fc.boolean();
    case "enum":
      return fc.constantFrom(...spec.values);
  }
}

describe("formatMetadata", () => {
  it("writes the bare element libvirt stores under our namespace, every parameter in order", () => {
    expect(formatMetadata(EXAMPLE)).toBe(
      [
        "<hybrid>",
        "  <role>primary</role>",
        '  <peer uri="qemu+ssh://root@host2/system" domain="web1-secondary"/>',
        "  <protect>false</protect>",
        "  <params>",
        "    <passive-count>100</passive-count>",
        "    <passive-limit>400</passive-limit>",
        "    <passive-time>250</passive-time>",
        "    <colo-period>20000</colo-period>",
        "    <weight>0.3</weight>",
        "    <warmup>5</warmup>",
        "    <enabled>true</enabled>",
        "    <variant>corrected</variant>",
        "    <auto-failover>true</auto-failover>",
        "    <peer-timeout>800</peer-timeout>",
        "  </params>",
        "</hybrid>",
      ].join("\n"),
    );
  });

  it("writes each NIC's ports inside <ports>, and refuses one it could not read back", () => {
    const m: HybridMetadata = {
      ...EXAMPLE,
      ports: {
        migration: 9004,
        nbd: 9005,
        nics: [{ mirror: 9000, compare: 9001, compareIn: 9002, compareOut: 9003 }],
      },
    };
    const xml = formatMetadata(m);
    expect(xml).toContain(
      [
        '  <ports migration="9004" nbd="9005">',
        '    <nic mirror="9000" compare="9001" compare-in="9002" compare-out="9003"/>',
        "  </ports>",
      ].join("\n"),
    );
    expect(parseMetadata(xml)).toEqual({ ok: true, value: m });
    const nic = { mirror: 9000, compare: 9001, compareIn: 80, compareOut: 9003 };
    expect(() => formatMetadata({ ...m, ports: { migration: 9004, nics: [nic] } })).toThrow(
      /compare-in="80" is not allowed/,
    );
  });

  it("escapes values", () => {
    const m = {
      ...EXAMPLE,
      peer: { uri: "qemu+ssh://h/system", domain: `a "b" <c> & 'd'` },
    };
    const xml = formatMetadata(m);
    expect(xml).toContain(
      'uri="qemu+ssh://h/system" domain="a &quot;b&quot; &lt;c&gt; &amp; &apos;d&apos;"',
    );
    expect(parseMetadata(xml)).toEqual({ ok: true, value: m });
  });

  it("refuses to write what it could not read back", () => {
    const bad = {
      ...EXAMPLE,
      peer: { uri: "host2", domain: "a\nb" },
      params: { ...DEFAULT_PARAMS, passiveCount: 0 },
    };
    expect(() => formatMetadata(bad)).toThrow(RangeError);
    expect(() => formatMetadata(bad)).toThrow(/uri="host2".*domain="a\\nb".*passive-count=0/);
  });

  it("round-trips every valid value through parseMetadata", () => {
    const paramArb = fc
      .record(
        Object.fromEntries(PARAMETERS.map((p) => [p.key, valueArb(p)])) as {
          [K in keyof Params]: fc.Arbitrary<Params[K]>;
        },
      )
      .filter((p) => p.coloPeriod > p.passiveLimit);
    const hostArb = fc.oneof(
      fc.domain(),
      fc.ipV4(),
      fc.ipV6().map((a) => `[${a}]`),
    );
    const portArb = fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined });
    const uriArb = fc.oneof(
      fc.constant("qemu:///system"),
      fc
        .record({
          transport: fc.constantFrom("ssh", "tls"),
          user: fc.option(fc.constantFrom("root", "colo"), { nil: undefined }),
          host: hostArb,
          port: portArb,
        })
        .map(({ transport, user, host, port }) => {
          const who = user !== undefined && transport === "ssh" ? `${user}@` : "";
          return `qemu+${transport}://${who}${host}${port === undefined ? "" : `:${port}`}/system`;
        }),
    );
    // Any text, the characters XML escapes over-represented.
    const unit = fc.oneof(
      fc.constantFrom("&", "<", ">", '"', "'", " ", "\u00a0"),
      fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
    );
    const domainArb = fc
      .string({ unit, minLength: 1, maxLength: 40 })
      .filter((d) => d.trim() !== "" && !/[\p{Cc}\uFFFE\uFFFF]/u.test(d));
    // A pair's ports: not the privileged ones.
    const pairPortArb = fc.integer({ min: 1024, max: 65_535 });
    const metadataArb: fc.Arbitrary<HybridMetadata> = fc.record(
      {
        role: fc.constantFrom(...ROLES),
        peer: fc.record({ uri: uriArb, domain: domainArb }),
        protect: fc.boolean(),
        ports: fc.record(
          {
            migration: pairPortArb,
            nbd: pairPortArb,
            nics: fc.array(
              fc.record({
                mirror: pairPortArb,
                compare: pairPortArb,
                compareIn: pairPortArb,
                compareOut: pairPortArb,
              }),
              { minLength: 1, maxLength: 3 },
            ),
          },
          { requiredKeys: ["migration"] },
        ),
        params: paramArb,
      },
      { requiredKeys: ["role", "peer", "protect", "params"] },
    );
    fc.assert(
      fc.property(metadataArb, (m) => {
        expect(parseMetadata(formatMetadata(m))).toEqual({ ok: true, value: m });
      }),
      { numRuns: 2000 },
    );
  });
});
