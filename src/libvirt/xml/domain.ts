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
  const root = parseXml(xml);
  if (root.name !== "domain" || root.ns !== "") {
    throw new XmlError(`expected a libvirt <domain>, found <${root.name}>`, root.path);
  }
  const type = attrValue(root, "type");
  if (type === undefined || type === "") throw new XmlError("missing", "domain/@type");
  const child = (name: string) => root.children.find((c) => c.ns === "" && c.name === name);
  const name = child("name")?.text;
  if (name === undefined || name === "") throw new XmlError("missing", "domain/name");
  const uuid = child("uuid")?.text.trim();
  if (uuid === undefined || !UUID.test(uuid)) {
    const shown = uuid === undefined ? "missing" : `${JSON.stringify(uuid)} is not`;
    throw new XmlError(`${shown} a UUID (8-4-4-4-12 hex digits)`, "domain/uuid");
  }
  const metadata = child("metadata");
  return {
    name,
    uuid: uuid.toLowerCase(),
    type,
    colo: coloPlumbing(root),
    metadata: metadata === undefined ? undefined : findMetadata(metadata),
  };
}

function coloPlumbing(root: XmlElement): ColoPlumbing | undefined {
  const args = root.children
    .filter((c) => c.ns === QEMU_NS && c.name === "commandline")
    .flatMap((c) => c.children.filter((a) => a.ns === QEMU_NS && a.name === "arg"))
    .map((a) => {
      const value = attrValue(a, "value");
      if (value === undefined) throw new XmlError("missing", `${a.path}/@value`);
      return value;
    });
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
