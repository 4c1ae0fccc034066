// XML text to a small namespace-aware element tree: the one place that calls fast-xml-parser.
//
// fast-xml-parser neither resolves namespaces nor checks well-formedness fully, so this module
// adds what the domain and metadata readers rely on: prefixes resolved from the xmlns
// declarations in scope, predefined entities and character references decoded (and nothing
// else: no DTD, no entity definitions), one root element, nothing but comments after it.
import { XMLParser, XMLValidator } from "fast-xml-parser";

export const MAX_XML_BYTES = 4 * 1024 * 1024;

const XML_NS = "http://www.w3.org/XML/1998/namespace";

/** Input that is not XML we read: malformed, too big, or with a DTD. */
export class XmlError extends Error {
  constructor(
    message: string,
    /** Where, as element names from the root ("domain/metadata"), when known. */
    readonly path?: string,
  ) {
    super(path === undefined ? message : `${path}: ${message}`);
    this.name = "XmlError";
  }
}

export interface XmlAttr {
  /** Local name, without its prefix. */
  readonly name: string;
  /** The prefix as written, kept for writing back (write.ts); "" for none. */
  readonly prefix: string;
  /** Namespace URI; "" for an unprefixed attribute. */
  readonly ns: string;
  readonly value: string;
}

export interface XmlElement {
  /** Local name, without its prefix. */
  readonly name: string;
  /** The prefix as written, kept for writing back (write.ts); "" for none. */
  readonly prefix: string;
  /** Namespace URI resolved from the declarations in scope; "" for none. */
  readonly ns: string;
  /** Attributes, namespace declarations left out. */
  readonly attrs: readonly XmlAttr[];
  readonly children: readonly XmlElement[];
  /** The element's own character data (text and CDATA, decoded), untrimmed. */
  readonly text: string;
  /** Local names from the root, e.g. "domain/metadata/hybrid". */
  readonly path: string;
}

/** The value of an unprefixed attribute. */
export function attrValue(el: XmlElement, name: string): string | undefined {
  return el.attrs.find((a) => a.ns === "" && a.name === name)?.value;
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  cdataPropName: "#cdata",
  captureMetaData: true,
  // The parser refuses tag names such as "constructor" and renames "toString"; a leading "."
  // (never part of an XML name) keeps every name as written. It is applied twice to
  // self-closing tags, hence idempotent.
  transformTagName: (name) => (name.startsWith(".") ? name : `.${name}`),
  onDangerousProperty: (name) => name,
});
// Typed as the Symbol wrapper object; it is a symbol.
const META = XMLParser.getMetaDataSymbol() as unknown as symbol;

// Any markup declaration (DOCTYPE, ENTITY, ELEMENT, ...), wherever it stands: there is no DTD to
// process, and entity definitions are how expansion attacks start.
const DECLARATION = /<!(?!--|\[CDATA\[)/;
// Characters XML 1.0 does not allow, even as references.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const ILLEGAL_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;

/** Parses a whole document and returns its root element. */
export function parseXml(xml: string): XmlElement {
  // A UTF-16 code unit is at least one UTF-8 byte, so the cheap test comes first.
  // TextEncoder, not Node's Buffer: the Cockpit page reads Pacemaker's XML with this too.
  const bytes = xml.length > MAX_XML_BYTES ? xml.length : new TextEncoder().encode(xml).length;
  if (bytes > MAX_XML_BYTES) {
    throw new XmlError(
      `XML input is ${bytes === xml.length ? "at least " : ""}${bytes} bytes; the limit is ${MAX_XML_BYTES} (4 MiB)`,
    );
  }
  const declaration = DECLARATION.exec(xml);
  if (declaration) {
    const what = xml.slice(declaration.index, declaration.index + 9).match(/^<!([A-Za-z[]*)/);
    throw new XmlError(
      `markup declaration <!${what?.[1] ?? ""} refused: DOCTYPE and ENTITY are not accepted`,
    );
  }
  const illegal = ILLEGAL_CHAR.exec(xml);
  if (illegal) {
    const code = illegal[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    throw new XmlError(`character U+${code} at offset ${illegal.index} is not allowed in XML`);
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    throw new XmlError(`malformed XML at line ${line}, column ${col}: ${msg}`);
  }
  let top: unknown;
  try {
    top = parser.parse(xml);
  } catch (e) {
    // Whatever the parser throws means input it could not read.
    throw new XmlError(`malformed XML: ${e instanceof Error ? e.message : String(e)}`);
  }
  const nodes = Array.isArray(top) ? (top as unknown[]) : [];
  const [root, ...others] = nodes;
  const key = elementKey(root);
  if (root === undefined || key === undefined || others.length > 0) {
    throw new XmlError(
      key === undefined
        ? "malformed XML: no root element"
        : "malformed XML: expected one root element and nothing else",
    );
  }
  const rootNode = root as Ordered & { [META]?: { endIndex?: number } };
  checkTail(xml, rootNode[META]?.endIndex);
  return toElement(rootNode, key, new Map([["xml", XML_NS]]), "");
}

// The validator misses text and elements after a self-closing root.
function checkTail(xml: string, end: number | undefined): void {
  let i = end ?? xml.length;
  for (;;) {
    while (i < xml.length && " \t\r\n".includes(xml.charAt(i))) i++;
    if (i >= xml.length) return;
    const close = xml.startsWith("<!--", i) ? "-->" : xml.startsWith("<?", i) ? "?>" : undefined;
    const next = close === undefined ? -1 : xml.indexOf(close, i + 2);
    if (next < 0)
      throw new XmlError(`malformed XML: content after the root element, at offset ${i}`);
    i = next + (close?.length ?? 0);
  }
}

type Ordered = Record<string, unknown>;

function elementKey(node: unknown): string | undefined {
  if (typeof node !== "object" || node === null) return undefined;
  return Object.keys(node).find((k) => k.startsWith("."));
}

function splitName(qname: string, where: string): [prefix: string | undefined, local: string] {
  const colon = qname.indexOf(":");
  if (colon < 0) return [undefined, qname];
  const prefix = qname.slice(0, colon);
  const local = qname.slice(colon + 1);
  if (prefix === "" || local === "" || local.includes(":")) {
    throw new XmlError(`'${qname}' is not a valid qualified name`, where || undefined);
  }
  return [prefix, local];
}

function resolve(
  scope: ReadonlyMap<string, string>,
  prefix: string | undefined,
  path: string,
): string {
  const uri = scope.get(prefix ?? "");
  if (uri === undefined && prefix !== undefined) {
    throw new XmlError(`namespace prefix '${prefix}' is not declared`, path);
  }
  return uri ?? "";
}

function toElement(
  node: Ordered,
  key: string,
  inherited: ReadonlyMap<string, string>,
  parent: string,
): XmlElement {
  const [prefix, name] = splitName(key.slice(1), parent);
  const path = parent === "" ? name : `${parent}/${name}`;
  const raw = Object.entries((node[":@"] ?? {}) as Record<string, unknown>).map(
    ([k, v]) => [k.slice(2), decode(String(v), true, path)] as const,
  );
  const isDeclaration = (n: string) => n === "xmlns" || n.startsWith("xmlns:");
  let scope = inherited;
  for (const [n, value] of raw.filter(([n]) => isDeclaration(n))) {
    const declared = n === "xmlns" ? "" : splitName(n, path)[1];
    if (declared !== "" && value === "") {
      throw new XmlError(`namespace prefix '${declared}' declared empty`, path);
    }
    scope = new Map(scope).set(declared, value);
  }
  const attrs = raw
    .filter(([n]) => !isDeclaration(n))
    .map(([n, value]): XmlAttr => {
      const [p, local] = splitName(n, path);
      // Unprefixed attributes are in no namespace, whatever the default namespace.
      return {
        name: local,
        prefix: p ?? "",
        ns: p === undefined ? "" : resolve(scope, p, path),
        value,
      };
    });
  const children: XmlElement[] = [];
  let text = "";
  for (const child of (node[key] ?? []) as Ordered[]) {
    const childKey = elementKey(child);
    if (childKey !== undefined) children.push(toElement(child, childKey, scope, path));
    else if (typeof child["#text"] === "string") text += decode(child["#text"], false, path);
    else if (Array.isArray(child["#cdata"])) {
      for (const part of child["#cdata"] as Ordered[]) text += String(part["#text"] ?? "");
    }
  }
  return {
    name,
    prefix: prefix ?? "",
    ns: resolve(scope, prefix, path),
    attrs,
    children,
    text,
    path,
  };
}

const PREDEFINED = new Map([
  ["lt", "<"],
  ["gt", ">"],
  ["amp", "&"],
  ["quot", '"'],
  ["apos", "'"],
]);
const REFERENCE = /&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|([A-Za-z_][\w.-]*));|&/g;

function isXmlChar(c: number): boolean {
  return (
    c === 0x9 ||
    c === 0xa ||
    c === 0xd ||
    (c >= 0x20 && c <= 0xd7ff) ||
    (c >= 0xe000 && c <= 0xfffd) ||
    (c >= 0x10000 && c <= 0x10ffff)
  );
}

/** Decodes references; attribute values also get XML's whitespace normalization. */
function decode(raw: string, attribute: boolean, path: string): string {
  if (attribute && raw.includes("<")) throw new XmlError("'<' in an attribute value", path);
  const text = attribute ? raw.replace(/[\t\n\r]/g, " ") : raw;
  if (!text.includes("&")) return text;
  return text.replace(REFERENCE, (ref, hex?: string, dec?: string, name?: string) => {
    if (name !== undefined) {
      const value = PREDEFINED.get(name);
      if (value === undefined) {
        throw new XmlError(`undefined entity ${ref} (only the five predefined ones exist)`, path);
      }
      return value;
    }
    if (hex === undefined && dec === undefined) {
      throw new XmlError("'&' that does not start a reference", path);
    }
    const code = hex !== undefined ? Number.parseInt(hex, 16) : Number.parseInt(dec ?? "", 10);
    if (!isXmlChar(code))
      throw new XmlError(`character reference ${ref} is not an XML character`, path);
    return String.fromCodePoint(code);
  });
}
