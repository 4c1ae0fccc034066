// A libvirt domain's XML (`virsh dumpxml`): what colo-hybrid needs of it.
import { findMetadata, type HybridMetadataResult, type Role } from "./metadata.js";
import { attrValue, parseXml, type XmlElement, XmlError } from "./tree.js";

export const QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0";

/** COLO's extra QEMU arguments in <qemu:commandline>, as the pair recipe sets them. */
export interface ColoPlumbing {
  /** primary: a colo-compare object; secondary: a filter-rewriter or -incoming. */
  role: Role;
  /** Every -object, as "qom-type,id=ID" ("colo-compare,id=comp0"), in order. */
  objects: string[];
  /** The -incoming address ("tcp:127.0.0.1:9998"). */
  incoming?: string;
}

export interface DomainInfo {
  name: string;
  /** Lowercase, 8-4-4-4-12. */
  uuid: string;
  /** <domain type=...>: "qemu" (TCG) or "kvm". */
  type: string;
  colo: ColoPlumbing | undefined;
  /** Our <metadata> element, read; undefined when the domain has none. */
  metadata: HybridMetadataResult | undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Throws XmlError for text that is not XML, or not a domain's. */
export function parseDomainXml(xml: string): DomainInfo {
  const config = readDomainConfig(parseXml(xml));
  const { uuid } = config;
  if (uuid === undefined || !UUID.test(uuid)) {
    const shown = uuid === undefined ? "missing" : `${JSON.stringify(uuid)} is not`;
    throw new XmlError(`${shown} a UUID (8-4-4-4-12 hex digits)`, "domain/uuid");
  }
  return {
    name: config.name,
    uuid: uuid.toLowerCase(),
    type: config.type,
    colo: config.colo,
    metadata: config.metadata,
  };
}

/** A NIC: <interface>. */
export interface Nic {
  /** <interface type=...>: "user", "network", "bridge", ... */
  type: string;
  /** A user-set <alias name="ua-..."/>: libvirt names the netdev "host" + the alias. */
  alias: string | undefined;
}

/** A <disk>. */
export interface Disk {
  /** "disk", "cdrom", "floppy", "lun". */
  device: string;
  /** <target dev=...>: "vda", "sdb". */
  target: string | undefined;
  /** What it holds (<source file|dev|dir|name|volume=...>); undefined for an empty drive. */
  source: string | undefined;
}

/** What setting up a pair needs of a domain, including one not defined yet (no UUID). */
export interface DomainConfig {
  name: string;
  /** As written, when there is one. */
  uuid: string | undefined;
  type: string;
  nics: Nic[];
  disks: Disk[];
  /** Every <qemu:arg> value of <qemu:commandline>, in order. */
  qemuArgs: string[];
  colo: ColoPlumbing | undefined;
  metadata: HybridMetadataResult | undefined;
}

/** Throws XmlError when `root` is not a libvirt domain with a type and a name. */
export function readDomainConfig(root: XmlElement): DomainConfig {
  if (root.name !== "domain" || root.ns !== "") {
    throw new XmlError(`expected a libvirt <domain>, found <${root.name}>`, root.path);
  }
  const type = attrValue(root, "type");
  if (type === undefined || type === "") throw new XmlError("missing", "domain/@type");
  const name = child(root, "name")?.text;
  if (name === undefined || name === "") throw new XmlError("missing", "domain/name");
  const devices = root.children.filter((c) => c.ns === "" && c.name === "devices");
  const all = (tag: string) =>
    devices.flatMap((d) => d.children.filter((c) => c.ns === "" && c.name === tag));
  const metadata = child(root, "metadata");
  const qemuArgs = readQemuArgs(root);
  return {
    name,
    uuid: child(root, "uuid")?.text.trim(),
    type,
    nics: all("interface").map((i) => ({
      type: attrValue(i, "type") ?? "",
      alias: childAttr(i, "alias", "name"),
    })),
    disks: all("disk").map((d) => ({
      device: attrValue(d, "device") ?? "disk",
      target: childAttr(d, "target", "dev"),
      source: ["file", "dev", "dir", "name", "volume"]
        .map((a) => childAttr(d, "source", a))
        .find((v) => v !== undefined),
    })),
    qemuArgs,
    colo: coloPlumbing(qemuArgs),
    metadata: metadata === undefined ? undefined : findMetadata(metadata),
  };
}

function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.ns === "" && c.name === name);
}

function childAttr(el: XmlElement, name: string, attr: string): string | undefined {
  const c = child(el, name);
  return c === undefined ? undefined : attrValue(c, attr);
}

function readQemuArgs(root: XmlElement): string[] {
  return root.children
    .filter((c) => c.ns === QEMU_NS && c.name === "commandline")
    .flatMap((c) => c.children.filter((a) => a.ns === QEMU_NS && a.name === "arg"))
    .map((a) => {
      const value = attrValue(a, "value");
      if (value === undefined) throw new XmlError("missing", `${a.path}/@value`);
      return value;
    });
}

function coloPlumbing(args: readonly string[]): ColoPlumbing | undefined {
  const objects: string[] = [];
  const types = new Set<string>();
  let incoming: string | undefined;
  for (let i = 0; i + 1 < args.length; i++) {
    // QEMU takes both -option and --option.
    const option = args[i]?.replace(/^--/, "-");
    const value = args[i + 1] ?? "";
    if (option === "-object") {
      const object = qomObject(value);
      if (object !== undefined) {
        objects.push(object.id === undefined ? object.type : `${object.type},id=${object.id}`);
        types.add(object.type);
      }
      i++;
    } else if (option === "-incoming") {
      incoming = value;
      i++;
    }
  }
  let role: Role;
  if (types.has("colo-compare")) role = "primary";
  else if (types.has("filter-rewriter") || incoming !== undefined) role = "secondary";
  else return undefined;
  return incoming === undefined ? { role, objects } : { role, objects, incoming };
}

/** The type and id of an -object value: keyval ("type,id=x,k=v") or JSON ({"qom-type":...}). */
function qomObject(value: string): { type: string; id: string | undefined } | undefined {
  let fields: Record<string, unknown>;
  if (value.trimStart().startsWith("{")) {
    try {
      const parsed: unknown = JSON.parse(value);
      if (typeof parsed !== "object" || parsed === null) return undefined;
      fields = parsed as Record<string, unknown>;
    } catch {
      return undefined;
    }
  } else {
    fields = keyval(value);
  }
  const type = fields["qom-type"];
  const id = fields.id;
  if (typeof type !== "string" || type === "") return undefined;
  return { type, id: typeof id === "string" ? id : undefined };
}

/** QEMU's key=value,... syntax: ",," is a literal comma; a first part without "=" is the type. */
function keyval(text: string): Record<string, string> {
  const parts: string[] = [];
  let part = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== ",") part += text[i];
    else if (text[i + 1] === ",") {
      part += ",";
      i++;
    } else {
      parts.push(part);
      part = "";
    }
  }
  parts.push(part);
  const fields: Record<string, string> = Object.create(null);
  parts.forEach((p, i) => {
    const eq = p.indexOf("=");
    if (eq >= 0) fields[p.slice(0, eq)] = p.slice(eq + 1);
    else if (i === 0) fields["qom-type"] = p;
  });
  return fields;
}
