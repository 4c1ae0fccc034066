// Fuzzing the XML readers: whatever the input, they return a value or throw XmlError (a hang
// fails on the suite's timeout).
// Plain loops over a seeded PRNG mutate the fixtures (fast-check would be too slow for that
// many inputs); fast-check builds soups of elements from our vocabulary.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_PARAMS } from "../../../src/colo/params.js";
import { parseDomainXml, QEMU_NS } from "../../../src/libvirt/xml/domain.js";
import { formatMetadata, METADATA_NS, parseMetadata } from "../../../src/libvirt/xml/metadata.js";
import { XmlError } from "../../../src/libvirt/xml/tree.js";
import { prng } from "../../../src/trace/synthetic.js";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/xml/${name}.xml`, import.meta.url), "utf8");
const DOMAINS = ["plain-tcg", "web1-primary", "web1-secondary", "web2-foreign-metadata"].map(
  fixture,
);
const METADATA = [
  fixture("metadata-virsh-get"),
  formatMetadata({
    role: "secondary",
    peer: { uri: "qemu+ssh://root@host1:2222/system", domain: `w "1" <&>` },
    protect: true,
    params: DEFAULT_PARAMS,
  }),
];

const TOKENS = [
  "<",
  ">",
  "/>",
  "</",
  "&",
  "&amp;",
  "&#x41;",
  "&#0;",
  "&#x110000;",
  "&nbsp;",
  '"',
  "'",
  "=",
  ":",
  " ",
  "\n",
  "<!--",
  "-->",
  "<![CDATA[",
  "]]>",
  "<?pi x?>",
  "<?xml version='1.0'?>",
  '<!DOCTYPE d [<!ENTITY a "b">]>',
  "<!ENTITY",
  ` xmlns:colo="${METADATA_NS}"`,
  ` xmlns:qemu='${QEMU_NS}'`,
  ` xmlns="${METADATA_NS}"`,
  ' xmlns:colo=""',
  " xmlns:x='urn:x'",
  "<colo:role>primary</colo:role>",
  "<colo:params><colo:weight>0.5</colo:weight></colo:params>",
  '<colo:peer uri="qemu:///system" domain="d"/>',
  "<x:y/>",
  "<qemu:arg value='-object'/>",
  "<qemu:arg value='colo-compare,id=c,,x'/>",
  `<qemu:arg value='{"qom-type":"filter-rewriter","id":1}'/>`,
  "<qemu:arg value='-incoming'/>",
  "<metadata>",
  "</metadata>",
  "constructor",
  "__proto__",
  "toString",
  "#text",
  ":@",
  "\u0000",
  "\uffff",
  "\ud800",
  "\u00e9",
];

type Rand = () => number;
const below = (rand: Rand, n: number) => Math.floor(rand() * n);

function mutate(text: string, rand: Rand): string {
  let s = text;
  const rounds = 1 + below(rand, 4);
  for (let r = 0; r < rounds; r++) {
    const at = below(rand, s.length + 1);
    switch (below(rand, 8)) {
      case 0: // a character replaced by a random one
        s = s.slice(0, at) + String.fromCharCode(below(rand, 0x80)) + s.slice(at + 1);
        break;
      case 1: // a token inserted
        s = s.slice(0, at) + TOKENS[below(rand, TOKENS.length)] + s.slice(at);
        break;
      case 2: // a span deleted
        s = s.slice(0, at) + s.slice(at + 1 + below(rand, 32));
        break;
      case 3: // truncated
        s = s.slice(0, at);
        break;
      case 4: {
        // a span copied elsewhere: repeated and misnested elements
        const from = below(rand, s.length + 1);
        const span = s.slice(from, from + 1 + below(rand, 200));
        s = s.slice(0, at) + span + s.slice(at);
        break;
      }
      case 5: // one of the markup characters swapped for another
        s = s.replace(/[<>/"'=&:]/g, (c) =>
          rand() < 0.02 ? ("<>/\"'=&:"[below(rand, 8)] ?? c) : c,
        );
        break;
      default: {
        // a bit flipped in the UTF-8 bytes; invalid sequences decode to U+FFFD
        const bytes = Buffer.from(s, "utf8");
        if (bytes.length === 0) break;
        const i = below(rand, bytes.length);
        bytes[i] = (bytes[i] ?? 0) ^ (1 << below(rand, 8));
        s = bytes.toString(rand() < 0.5 ? "utf8" : "latin1");
      }
    }
  }
  return s;
}

interface Outcome {
  inputs: number;
  values: number;
  refused: number;
}

/** Feeds `input` to `read`; anything but a value or an XmlError fails the test. */
function attempt(read: (xml: string) => unknown, input: string, outcome: Outcome): void {
  try {
    read(input);
    outcome.values++;
  } catch (e) {
    if (!(e instanceof XmlError)) {
      throw new Error(`${String(e)} on input ${JSON.stringify(input.slice(0, 2000))}`, {
        cause: e,
      });
    }
    outcome.refused++;
  }
  outcome.inputs++;
}

const fresh = (): Outcome => ({ inputs: 0, values: 0, refused: 0 });

// Element soups: our names, libvirt's and strangers', under prefixes bound or not.
const NAMES = [
  "domain",
  "name",
  "uuid",
  "metadata",
  "hybrid",
  "role",
  "peer",
  "protect",
  "params",
  "passive-count",
  "weight",
  "variant",
  "commandline",
  "arg",
  "x",
];
const PREFIXES = ["", "", "colo:", "qemu:", "o:", "undeclared:"];
const URIS = [METADATA_NS, QEMU_NS, "urn:other", ""];
const TEXTS = [
  "primary",
  "secondary",
  " true ",
  "100",
  "0",
  "0.5",
  "seed",
  "-object",
  "colo-compare,id=c",
  "filter-rewriter",
  "-incoming",
  "3bf34378-bc76-4d42-ac34-884d6de407c2",
  "qemu+ssh://h/system",
  "a &amp; b",
  "&#x3c;",
  "&bad;",
  "<",
];
type Soup = { name: string; attrs: [string, string][]; children: (Soup | string)[] };
const attrArb = fc.oneof(
  fc.tuple(
    fc.constantFrom("xmlns:colo", "xmlns:qemu", "xmlns:o", "xmlns"),
    fc.constantFrom(...URIS),
  ),
  fc.tuple(
    fc.constantFrom("type", "uri", "domain", "value", "o:extra", "colo:uri"),
    fc.constantFrom(...TEXTS),
  ),
);
const { soup } = fc.letrec<{ soup: Soup; node: Soup | string }>((tie) => ({
  soup: fc.record({
    name: fc.tuple(fc.constantFrom(...PREFIXES), fc.constantFrom(...NAMES)).map(([p, n]) => p + n),
    attrs: fc.uniqueArray(attrArb, { maxLength: 3, selector: ([k]) => k }),
    children: fc.array(tie("node"), { maxLength: 5 }),
  }),
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(...TEXTS),
    tie("soup"),
  ),
}));
const serialize = (s: Soup | string): string =>
  typeof s === "string"
    ? s
    : `<${s.name}${s.attrs.map(([k, v]) => ` ${k}="${v}"`).join("")}>${s.children
        .map(serialize)
        .join("")}</${s.name}>`;

describe("fuzz: the XML readers return a value or throw XmlError, never hang", {
  timeout: 60_000,
}, () => {
  it("survives 45,000 mutations of the domain fixtures", () => {
    const rand = prng(0xc01d);
    const outcome = fresh();
    for (let i = 0; i < 45_000; i++) {
      attempt(parseDomainXml, mutate(DOMAINS[i % DOMAINS.length] ?? "", rand), outcome);
    }
    expect(outcome.inputs).toBe(45_000);
    // The mutations must leave some inputs readable, or the readers beyond the parser go untried.
    expect(outcome.values).toBeGreaterThan(2000);
    expect(outcome.refused).toBeGreaterThan(2000);
  });

  it("survives 45,000 mutations of metadata elements", () => {
    const rand = prng(0xbeef);
    const outcome = fresh();
    for (let i = 0; i < 45_000; i++) {
      attempt(parseMetadata, mutate(METADATA[i % METADATA.length] ?? "", rand), outcome);
    }
    expect(outcome.values).toBeGreaterThan(2000);
    expect(outcome.refused).toBeGreaterThan(2000);
  });

  it("survives 10,000 element soups, alone and inside a domain", () => {
    const outcome = fresh();
    fc.assert(
      fc.property(soup, (s) => {
        const xml = serialize(s);
        attempt(parseMetadata, xml, outcome);
        attempt(
          parseDomainXml,
          `<domain type='qemu' xmlns:qemu='${QEMU_NS}' xmlns:colo='${METADATA_NS}'>` +
            `<name>d</name><uuid>3bf34378-bc76-4d42-ac34-884d6de407c2</uuid>` +
            `<metadata>${xml}</metadata>${xml}</domain>`,
          outcome,
        );
      }),
      { numRuns: 5000, seed: 20_240_601 },
    );
    expect(outcome.inputs).toBe(10_000);
    expect(outcome.values).toBeGreaterThan(500);
  });
});
