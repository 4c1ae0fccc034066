// Domain XML written back: the one place colo-hybrid writes XML (tree.ts reads it).
//
// Edits work on tree.ts's element tree, so they find elements by namespace, not by whatever
// prefix a document happens to use, and everything they do not touch is written as it was read:
// names with their prefixes, attributes in order, text. What the tree does not keep is lost:
// comments, processing instructions, the XML declaration, and the layout between elements (it is
// indented anew). Namespace declarations are written where they are first needed, and those of
// the root's children on the root, as libvirt writes `xmlns:qemu`.
import { QEMU_NS } from "./domain.js";
import { formatMetadata, type HybridMetadata, METADATA_KEY, METADATA_NS } from "./metadata.js";
import { parseXml, type XmlAttr, type XmlElement, XmlError } from "./tree.js";

/** The prefix libvirt itself gives QEMU_NS. */
const QEMU_PREFIX = "qemu";
const XML_NS = "http://www.w3.org/XML/1998/namespace";

/** Changes to a domain's XML; what is not named stays as it was. */
export interface DomainEdits {
  name?: string;
  /** Sets <uuid>; null removes it, and libvirt makes a new one when the domain is defined. */
  uuid?: string | null;
  /**
   * Every <qemu:arg> of <qemu:commandline>, in order; its other children (<qemu:env>) stay. A
   * <qemu:commandline> left with nothing in it goes.
   */
  qemuArgs?: readonly string[];
  /**
   * Our element in <metadata>, in its namespace; other tools' elements stay. null removes ours,
   * and a <metadata> left empty goes.
   */
  metadata?: HybridMetadata | null;
  /** New paths for the files character devices write (serial, console, channel logs). */
  renameFiles?: (path: string) => string;
  /** Each child of <devices>, replaced by what this returns for it; null removes it. */
  devices?: (device: XmlElement) => XmlElement | null;
  /**
   * <disk> elements put back, in order: before the first <disk> left, else after <emulator>, else
   * first; where libvirt writes disks.
   */
  addDisks?: readonly XmlElement[];
}

/** Character devices whose output can go to a file QEMU opens (through virtlogd). */
const CHARDEVS = new Set(["serial", "console", "channel", "parallel"]);

/** Children of <domain> that come before <metadata> in libvirt's own order. */
const HEAD = ["name", "uuid", "genid", "title", "description"];

/** Applies `edits` to a parsed <domain>. Throws RangeError for metadata formatMetadata refuses. */
export function editDomain(root: XmlElement, edits: DomainEdits): XmlElement {
  if (root.name !== "domain" || root.ns !== "") {
    throw new XmlError(`expected a libvirt <domain>, found <${root.name}>`, root.path);
  }
  let children = [...root.children];
  const index = (name: string, ns = "") =>
    children.findIndex((c) => c.ns === ns && c.name === name);
  /** Replaces the child `name`, or inserts it after the last of `after` present. */
  const put = (el: XmlElement, after: readonly string[]) => {
    const at = index(el.name, el.ns);
    if (at >= 0) children[at] = el;
    else {
      const last = Math.max(-1, ...after.map((n) => index(n)));
      children.splice(last + 1, 0, el);
    }
  };
  const path = root.path;

  if (edits.name !== undefined) put(element(path, "name", "", "", [], [], edits.name), []);
  if (edits.uuid === null) children = children.filter((c) => !(c.ns === "" && c.name === "uuid"));
  else if (edits.uuid !== undefined) {
    put(element(path, "uuid", "", "", [], [], edits.uuid), ["name"]);
  }
  if (edits.metadata === null) {
    const at = index("metadata");
    const old = children[at];
    const kept = old?.children.filter((c) => c.ns !== METADATA_NS) ?? [];
    if (old !== undefined && kept.length > 0) children[at] = { ...old, children: kept };
    else if (old !== undefined) children.splice(at, 1);
  } else if (edits.metadata !== undefined) {
    const old = children[index("metadata")];
    const metadata = old ?? element(path, "metadata", "", "", [], [], "");
    const ours = namespaced(formatMetadata(edits.metadata), metadata.path);
    // Ours where it was (libvirt keeps one element per namespace), else last.
    const inside = [...metadata.children];
    const at = inside.findIndex((c) => c.ns === METADATA_NS);
    if (at >= 0) inside[at] = ours;
    else inside.push(ours);
    const kept = inside.filter((c) => c === ours || c.ns !== METADATA_NS);
    put({ ...metadata, children: kept }, HEAD);
  }
  if (edits.qemuArgs !== undefined) {
    // libvirt passes the arguments of every <qemu:commandline>: the first gets them all.
    const isArg = (c: XmlElement) => c.ns === QEMU_NS && c.name === "arg";
    const first = index("commandline", QEMU_NS);
    const old = children[first] ?? element(path, "commandline", QEMU_NS, QEMU_PREFIX, [], [], "");
    const args = edits.qemuArgs.map((value) =>
      element(old.path, "arg", QEMU_NS, old.prefix, [attr("value", value)], [], ""),
    );
    children = children.map((c) =>
      c.ns === QEMU_NS && c.name === "commandline"
        ? { ...c, children: c.children.filter((a) => !isArg(a)) }
        : c,
    );
    const edited = { ...old, children: [...args, ...old.children.filter((a) => !isArg(a))] };
    if (first >= 0) children[first] = edited;
    else children.push(edited);
    // One that passes QEMU nothing goes, so that removing arguments can undo adding them.
    children = children.filter(
      (c) => !(c.ns === QEMU_NS && c.name === "commandline" && c.children.length === 0),
    );
  }
  if (edits.renameFiles !== undefined) {
    const rename = edits.renameFiles;
    const renamed = (el: XmlElement): XmlElement => ({
      ...el,
      attrs: el.attrs.map((a) =>
        a.ns === "" && (a.name === "path" || a.name === "file")
          ? { ...a, value: rename(a.value) }
          : a,
      ),
    });
    children = children.map((devices) =>
      devices.ns === "" && devices.name === "devices"
        ? {
            ...devices,
            children: devices.children.map((dev) =>
              dev.ns === "" && CHARDEVS.has(dev.name)
                ? {
                    ...dev,
                    children: dev.children.map((c) =>
                      c.ns === "" && (c.name === "source" || c.name === "log") ? renamed(c) : c,
                    ),
                  }
                : dev,
            ),
          }
        : devices,
    );
  }
  if (edits.devices !== undefined || edits.addDisks !== undefined) {
    const edit = edits.devices ?? ((d: XmlElement) => d);
    const first = index("devices");
    const is = (d: XmlElement, name: string) => d.ns === "" && d.name === name;
    children = children.map((devices, i) => {
      if (!is(devices, "devices")) return devices;
      const kept = devices.children.flatMap((d) => edit(d) ?? []);
      if (i !== first || edits.addDisks === undefined) return { ...devices, children: kept };
      const disk = kept.findIndex((d) => is(d, "disk"));
      const at = disk >= 0 ? disk : kept.findIndex((d) => is(d, "emulator")) + 1;
      return { ...devices, children: [...kept.slice(0, at), ...edits.addDisks, ...kept.slice(at)] };
    });
  }
  return { ...root, children };
}

/** The <interface> with <driver name=...>, its other driver settings kept. */
export function withDriverName(nic: XmlElement, name: string): XmlElement {
  const at = nic.children.findIndex((c) => c.ns === "" && c.name === "driver");
  const old = nic.children[at] ?? element(nic.path, "driver", "", "", [], [], "");
  const driver = {
    ...old,
    attrs: [attr("name", name), ...old.attrs.filter((a) => !(a.ns === "" && a.name === "name"))],
  };
  const children = [...nic.children];
  if (at >= 0) children[at] = driver;
  else children.push(driver);
  return { ...nic, children };
}

/**
 * The file <disk> on another image: its <source file=...> and <driver type=...> (the image's
 * format), its other settings kept.
 */
export function withDiskImage(disk: XmlElement, path: string, format: string): XmlElement {
  const set = (name: string, key: string, value: string) => (c: XmlElement) =>
    c.ns === "" && c.name === name
      ? {
          ...c,
          attrs: [...c.attrs.filter((a) => !(a.ns === "" && a.name === key)), attr(key, value)],
        }
      : c;
  const has = (name: string) => disk.children.some((c) => c.ns === "" && c.name === name);
  const children = disk.children
    .map(set("source", "file", path))
    .map(set("driver", "type", format));
  if (!has("source"))
    children.push(element(disk.path, "source", "", "", [attr("file", path)], [], ""));
  if (!has("driver"))
    children.unshift(
      element(disk.path, "driver", "", "", [attr("name", "qemu"), attr("type", format)], [], ""),
    );
  return { ...disk, children };
}

function element(
  parent: string,
  name: string,
  ns: string,
  prefix: string,
  attrs: readonly XmlAttr[],
  children: readonly XmlElement[],
  text: string,
): XmlElement {
  return { name, prefix, ns, attrs, children, text, path: `${parent}/${name}` };
}

function attr(name: string, value: string): XmlAttr {
  return { name, prefix: "", ns: "", value };
}

/**
 * formatMetadata's element (the bare form virDomainSetMetadata takes) moved into our namespace,
 * as it stands inside a whole domain's <metadata>: the same data, written once.
 */
function namespaced(bare: string, parent: string): XmlElement {
  const move = (el: XmlElement, at: string): XmlElement => {
    const path = `${at}/${el.name}`;
    return {
      ...el,
      ns: METADATA_NS,
      prefix: METADATA_KEY,
      path,
      children: el.children.map((c) => move(c, path)),
    };
  };
  return move(parseXml(bare), parent);
}

// ---- writing ---------------------------------------------------------------------------------

/** The element as XML text (no declaration), indented by two spaces, ending in a newline. */
export function writeXml(root: XmlElement): string {
  const out: string[] = [];
  // Bindings in scope: prefix to namespace. "xml" is bound by XML itself, "" starts as none.
  const scope = new Map([
    ["xml", XML_NS],
    ["", ""],
  ]);
  // The root's children's prefixes go on the root, unless two of them disagree.
  const hoist = new Map<string, string>();
  const clash = new Set<string>();
  for (const c of root.children) {
    if (c.prefix === "" || c.prefix === "xml") continue;
    if ((hoist.get(c.prefix) ?? c.ns) !== c.ns) clash.add(c.prefix);
    hoist.set(c.prefix, c.ns);
  }
  for (const p of clash) hoist.delete(p);
  writeElement(root, "", scope, hoist, out);
  return `${out.join("\n")}\n`;
}

function writeElement(
  el: XmlElement,
  indent: string,
  inherited: ReadonlyMap<string, string>,
  extra: ReadonlyMap<string, string>,
  out: string[],
): void {
  const scope = new Map(inherited);
  const declarations: string[] = [];
  const bind = (prefix: string, ns: string) => {
    if (prefix === "xml" ? ns !== XML_NS : ns === XML_NS) {
      throw new XmlError(`the prefix 'xml' is for ${XML_NS} alone`, el.path);
    }
    if (prefix !== "" && ns === "") {
      throw new XmlError(`prefix '${prefix}' for no namespace`, el.path);
    }
    if (scope.get(prefix) === ns) return;
    if (declarations.some((d) => d.startsWith(`${declare(prefix)}=`))) {
      throw new XmlError(`prefix '${prefix}' bound to two namespaces on one element`, el.path);
    }
    scope.set(prefix, ns);
    declarations.push(`${declare(prefix)}='${escapeAttr(ns, el.path)}'`);
  };
  bind(el.prefix, el.ns);
  for (const a of el.attrs) {
    // An unprefixed attribute is in no namespace, whatever the default.
    if (a.prefix === "" && a.ns !== "") {
      throw new XmlError(`attribute '${a.name}' in namespace ${a.ns} needs a prefix`, el.path);
    }
    if (a.prefix !== "") bind(a.prefix, a.ns);
  }
  for (const [prefix, ns] of extra) if (!scope.has(prefix)) bind(prefix, ns);

  const tag = qname(el.prefix, el.name);
  const attrs = el.attrs.map(
    (a) => ` ${qname(a.prefix, a.name)}='${escapeAttr(a.value, el.path)}'`,
  );
  const open = `${indent}<${tag}${attrs.join("")}${declarations.map((d) => ` ${d}`).join("")}`;
  if (el.children.length === 0) {
    out.push(el.text === "" ? `${open}/>` : `${open}>${escapeText(el.text, el.path)}</${tag}>`);
    return;
  }
  // The tree keeps an element's text in one piece: beside children it cannot be put back.
  if (el.text.trim() !== "") {
    throw new XmlError(
      "text beside child elements (mixed content) cannot be written back",
      el.path,
    );
  }
  out.push(`${open}>`);
  for (const c of el.children) writeElement(c, `${indent}  `, scope, new Map(), out);
  out.push(`${indent}</${tag}>`);
}

const declare = (prefix: string) => (prefix === "" ? "xmlns" : `xmlns:${prefix}`);
const qname = (prefix: string, name: string) => (prefix === "" ? name : `${prefix}:${name}`);

// Characters XML 1.0 cannot carry at all, even as references; lone surrogates would not survive
// UTF-8 either.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const NOT_XML = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDFFF]/u;

function checked(text: string, path: string): string {
  const bad = NOT_XML.exec(text);
  if (bad) {
    const code = (bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
    throw new XmlError(`character U+${code} cannot be written in XML`, path);
  }
  return text;
}

const TEXT_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  // A parser would read a raw CR as a line end.
  "\r": "&#13;",
};
const ATTR_ESCAPES: Readonly<Record<string, string>> = {
  ...TEXT_ESCAPES,
  "'": "&apos;",
  '"': "&quot;",
  // A parser turns raw tabs and line ends in attribute values into spaces.
  "\t": "&#9;",
  "\n": "&#10;",
};

function escapeText(text: string, path: string): string {
  return checked(text, path).replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c] ?? c);
}

function escapeAttr(value: string, path: string): string {
  return checked(value, path).replace(/[&<>'"\t\n\r]/g, (c) => ATTR_ESCAPES[c] ?? c);
}
