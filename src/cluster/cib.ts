// The pairs in Pacemaker's configuration, read from `cibadmin -Q --scope resources`: each
// ocf:colo-hybrid:colo primitive with the two domain names it stands for, so that either side's
// name finds its resource (after a failover the names' roles swap; the parameters stay). No I/O,
// like crm-mon.ts.
import { attrValue, parseXml, type XmlElement } from "../libvirt/xml/tree.js";

export interface ColoResource {
  /** The primitive's id. */
  id: string;
  /** The id of the clone it is in (README's configuration: a promotable one). */
  clone: string | undefined;
  /** The `domain` parameter: the primary as `colo-hybrid pair create` was given it. */
  domain: string;
  /** The `secondary` parameter, DOMAIN-secondary by default (src/ocf/meta-data.ts). */
  secondary: string;
}

const isColo = (el: XmlElement) =>
  el.name === "primitive" &&
  attrValue(el, "class") === "ocf" &&
  attrValue(el, "provider") === "colo-hybrid" &&
  attrValue(el, "type") === "colo";

/** An instance attribute (a resource agent's parameter) of a primitive, from its first set. */
function param(primitive: XmlElement, name: string): string | undefined {
  for (const set of primitive.children.filter((c) => c.name === "instance_attributes")) {
    const pair = set.children.find((c) => c.name === "nvpair" && attrValue(c, "name") === name);
    if (pair) return attrValue(pair, "value");
  }
  return undefined;
}

/** The colo-hybrid primitives under `el`, through groups, clones and bundles. */
function coloResources(el: XmlElement, clone: string | undefined): ColoResource[] {
  return el.children.flatMap((c) => {
    if (isColo(c)) {
      const domain = param(c, "domain");
      // Without a domain the resource agent refuses to run (OCF_ERR_CONFIGURED): no pair.
      if (domain === undefined) return [];
      const id = attrValue(c, "id") ?? "";
      return [{ id, clone, domain, secondary: param(c, "secondary") ?? `${domain}-secondary` }];
    }
    return coloResources(c, c.name === "clone" ? attrValue(c, "id") : clone);
  });
}

/** `cibadmin -Q --scope resources`: its colo-hybrid primitives. */
export function parseColoResources(xml: string): ColoResource[] {
  return coloResources(parseXml(xml), undefined);
}

/** The resource of the pair that `domain` (either side's name) belongs to. */
export function coloResourceOf(
  resources: readonly ColoResource[],
  domain: string,
): ColoResource | undefined {
  return resources.find((r) => r.domain === domain || r.secondary === domain);
}
