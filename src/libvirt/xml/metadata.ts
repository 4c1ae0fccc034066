// colo-hybrid's element in a domain's <metadata>: read here, written here.
//
//   <colo:hybrid xmlns:colo="http://colo-hybrid.org/xmlns/domain/1.0">
//     <colo:role>primary</colo:role>                       primary or secondary
//     <colo:peer uri="qemu+ssh://root@host2/system" domain="web1-secondary"/>
//     <colo:protect>true</colo:protect>                    optional, default false
//     <colo:ports migration="9004" nbd="9005">             the pair's own ports (pair create; nbd
//       <colo:nic mirror="9000" compare="9001"               only with disks), and each NIC's, in
//                 compare-in="9002" compare-out="9003"/>     <interface> order (re-protection
//     </colo:ports>                                          builds a primary's plumbing anew)
//     <colo:params>                                        optional, any subset of PARAMETERS
//       <colo:passive-count>100</colo:passive-count>
//     </colo:params>
//     <colo:original>&lt;devices&gt;...</colo:original>   optional: devices as they were
//   </colo:hybrid>
//
// <original> holds, as text, a <devices> with the plain domain's own versions of the devices pair
// create changed, which pair remove puts back; both sides keep it, since either may be the one
// that survives and is made a primary again. As text, it stays out of our namespace's
// grammar and libvirt keeps it byte for byte.
//
// Any prefix will do. virDomainGetMetadata (`virsh metadata DOMAIN --uri NS`) returns the element
// with its namespace stripped, so a <hybrid> in no namespace is read the same way.
import {
  applyPatch,
  DEFAULT_PARAMS,
  PARAMETERS,
  type Params,
  toExternal,
} from "../../colo/params.js";
import { excerpt } from "../../input/excerpt.js";
import { peerUriProblem } from "../peer-uri.js";
import { attrValue, parseXml, type XmlElement, XmlError } from "./tree.js";

export const METADATA_NS = "http://colo-hybrid.org/xmlns/domain/1.0";
/** The prefix we give virDomainSetMetadata. */
export const METADATA_KEY = "colo";

export type Role = "primary" | "secondary";
export const ROLES: readonly Role[] = ["primary", "secondary"];

export interface HybridMetadata {
  role: Role;
  /** The other domain of the pair, and the libvirt URI of its host. */
  peer: { uri: string; domain: string };
  /** Whether the agent starts replication itself. */
  protect: boolean;
  /** The pair's ports; absent in metadata written before they were kept here. */
  ports?: PairPortsMetadata;
  params: Params;
  /** XML of a <devices>: the plain domain's versions of the devices pair create changed. */
  original?: string;
}

export interface PairPortsMetadata {
  /** Where the secondary listens for the replication stream, on its host. */
  migration: number;
  /** Where the secondary serves its disks' base images over NBD; a pair with disks only. */
  nbd?: number;
  /** Each NIC's four ports, in <interface> order; absent in metadata written before they were kept. */
  nics?: NicPorts[];
}

/** The four TCP ports of one NIC's plumbing (pair/plumbing.ts draws them). */
export interface NicPorts {
  /** A: the primary's mirror0, its outgoing packets copied to the secondary's red0. */
  mirror: number;
  /** B: the primary's compare1, the secondary's output (red1) into colo-compare. */
  compare: number;
  /** C: the primary's own output into colo-compare (compare0 to compare0-0, loopback). */
  compareIn: number;
  /** D: colo-compare's verdict back into the primary's net (compare_out0 to compare_out). */
  compareOut: number;
}

/** NicPorts' attributes on <nic>, in order. */
const NIC_PORT_ATTRS = [
  ["mirror", "mirror"],
  ["compare", "compare"],
  ["compare-in", "compareIn"],
  ["compare-out", "compareOut"],
] as const;

/** The ports a pair may use: not the privileged ones. */
export const PORT_RANGE = { min: 1024, max: 65_535 } as const;

export interface MetadataError {
  /** "hybrid/params/passive-count", "hybrid/peer/@uri". */
  path: string;
  message: string;
}

export type HybridMetadataResult =
  | { ok: true; value: HybridMetadata }
  | { ok: false; errors: MetadataError[] };

const ROOT = "hybrid";
const ELEMENTS = ["role", "peer", "protect", "ports", "params", "original"];
const PEER_ATTRS = ["uri", "domain"];
const PORT_ATTRS = ["migration", "nbd"] as const;
const PARAM_NAMES = PARAMETERS.map((p) => p.name);

// Characters libvirt names and URIs never hold, and that XML cannot carry as they are.
const CONTROL = /[\p{Cc}\uFFFE\uFFFF]/u;

function roleProblem(role: string): string | undefined {
  return (ROLES as readonly string[]).includes(role)
    ? undefined
    : `role=${excerpt(role)} is not allowed: ${ROLES.join(" or ")}`;
}

function domainProblem(domain: string): string | undefined {
  return domain.trim() !== "" && !CONTROL.test(domain)
    ? undefined
    : `domain=${excerpt(domain)} is not allowed: a domain name, not blank, without control characters`;
}

function portProblem(name: string, port: string): string | undefined {
  const n = Number(port);
  return /^[1-9][0-9]*$/.test(port) && n >= PORT_RANGE.min && n <= PORT_RANGE.max
    ? undefined
    : `${name}=${excerpt(port)} is not allowed: a port number, ${PORT_RANGE.min}..${PORT_RANGE.max}`;
}

function originalProblem(text: string): string | undefined {
  let root: XmlElement;
  try {
    root = parseXml(text);
  } catch (e) {
    if (!(e instanceof XmlError)) throw e;
    return `original=${excerpt(text)} is not allowed: ${e.message}`;
  }
  return root.name === "devices" && root.ns === ""
    ? undefined
    : `original=${excerpt(text)} is not allowed: the XML of a <devices>`;
}

/** Reads our element, already parsed. Every bad value is reported, each with its path. */
export function readMetadata(el: XmlElement): HybridMetadataResult {
  const errors: MetadataError[] = [];
  const report = (path: string, message: string): void => {
    errors.push({ path, message });
  };
  const ns = el.ns;
  if (el.name !== ROOT || (ns !== METADATA_NS && ns !== "")) {
    const where = ns === "" ? "" : ` in namespace ${ns}`;
    report(el.name, `expected <${ROOT}> in namespace ${METADATA_NS}, found <${el.name}>${where}`);
    return { ok: false, errors };
  }

  const checkAttrs = (e: XmlElement, path: string, allowed: readonly string[]): void => {
    for (const a of e.attrs) {
      if (a.ns === "" && allowed.includes(a.name)) continue;
      const expected = allowed.length > 0 ? `expected ${allowed.join(", ")}` : "it takes none";
      report(`${path}/@${a.name}`, `unknown attribute '${a.name}' on <${e.name}>: ${expected}`);
    }
  };
  const noText = (e: XmlElement, path: string): void => {
    const text = e.text.trim();
    if (text !== "") report(path, `unexpected text ${excerpt(text)} in <${e.name}>`);
  };
  /** Children by name; foreign, unknown and repeated ones are reported. */
  const children = (e: XmlElement, path: string, names: readonly string[]) => {
    const found = new Map<string, XmlElement>();
    for (const child of e.children) {
      const at = `${path}/${child.name}`;
      if (child.ns !== ns) {
        report(at, `element in namespace '${child.ns}' not allowed: only ${ns || "no namespace"}`);
      } else if (!names.includes(child.name)) {
        const expected = names.length > 0 ? `expected ${names.join(", ")}` : "it takes none";
        report(at, `unknown element <${child.name}> in <${e.name}>: ${expected}`);
      } else if (found.has(child.name)) {
        report(at, `<${child.name}> given more than once`);
      } else found.set(child.name, child);
    }
    return found;
  };
  /** A leaf's trimmed text. */
  const leaf = (e: XmlElement, path: string): string => {
    checkAttrs(e, path, []);
    children(e, path, []);
    return e.text.trim();
  };

  checkAttrs(el, ROOT, []);
  noText(el, ROOT);
  const top = children(el, ROOT, ELEMENTS);

  let role: Role | undefined;
  const roleEl = top.get("role");
  if (roleEl === undefined) report(`${ROOT}/role`, `missing <role>: ${ROLES.join(" or ")}`);
  else {
    const value = leaf(roleEl, `${ROOT}/role`);
    const problem = roleProblem(value);
    if (problem === undefined) role = value as Role;
    else report(`${ROOT}/role`, problem);
  }

  let peer: { uri: string; domain: string } | undefined;
  const peerEl = top.get("peer");
  if (peerEl === undefined) report(`${ROOT}/peer`, "missing <peer uri=... domain=.../>");
  else {
    const path = `${ROOT}/peer`;
    checkAttrs(peerEl, path, PEER_ATTRS);
    noText(peerEl, path);
    children(peerEl, path, []);
    const uri = attrValue(peerEl, "uri");
    const domain = attrValue(peerEl, "domain");
    const uriBad = uri === undefined ? "missing: the peer's libvirt URI" : peerUriProblem(uri);
    const domainBad =
      domain === undefined ? "missing: the peer's domain name" : domainProblem(domain);
    if (uriBad !== undefined) report(`${path}/@uri`, uriBad);
    if (domainBad !== undefined) report(`${path}/@domain`, domainBad);
    if (uri !== undefined && domain !== undefined) peer = { uri, domain };
  }

  let protect = false;
  const protectEl = top.get("protect");
  if (protectEl !== undefined) {
    const value = leaf(protectEl, `${ROOT}/protect`);
    if (value === "true" || value === "false") protect = value === "true";
    else report(`${ROOT}/protect`, `protect=${excerpt(value)} is not allowed: true or false`);
  }

  let ports: PairPortsMetadata | undefined;
  const portsEl = top.get("ports");
  if (portsEl !== undefined) {
    const path = `${ROOT}/ports`;
    checkAttrs(portsEl, path, PORT_ATTRS);
    noText(portsEl, path);
    // <nic> may repeat: read in order, not by children(), which takes each name once.
    const nics: NicPorts[] = [];
    let nicsOk = true;
    for (const [n, nicEl] of portsEl.children.entries()) {
      const at = `${path}/nic[${n}]`;
      if (nicEl.ns !== ns || nicEl.name !== "nic") {
        report(`${path}/${nicEl.name}`, `unknown element <${nicEl.name}> in <ports>: expected nic`);
        nicsOk = false;
        continue;
      }
      checkAttrs(
        nicEl,
        at,
        NIC_PORT_ATTRS.map(([a]) => a),
      );
      noText(nicEl, at);
      children(nicEl, at, []);
      const nic: Partial<Record<keyof NicPorts, number>> = {};
      for (const [attr, key] of NIC_PORT_ATTRS) {
        const v = attrValue(nicEl, attr);
        const bad = v === undefined ? `missing: the NIC's ${attr} port` : portProblem(attr, v);
        if (bad !== undefined) {
          report(`${at}/@${attr}`, bad);
          nicsOk = false;
        } else nic[key] = Number(v);
      }
      if (nicsOk) nics.push(nic as NicPorts);
    }
    const migration = attrValue(portsEl, "migration");
    const nbd = attrValue(portsEl, "nbd");
    const bad =
      migration === undefined
        ? "missing: the replication port"
        : portProblem("migration", migration);
    const nbdBad = nbd === undefined ? undefined : portProblem("nbd", nbd);
    if (bad !== undefined) report(`${path}/@migration`, bad);
    if (nbdBad !== undefined) report(`${path}/@nbd`, nbdBad);
    if (bad === undefined && nbdBad === undefined && nicsOk) {
      ports = {
        migration: Number(migration),
        ...(nbd !== undefined && { nbd: Number(nbd) }),
        ...(nics.length > 0 && { nics }),
      };
    }
  }

  const patch: Record<string, string> = {};
  const paramsEl = top.get("params");
  if (paramsEl !== undefined) {
    checkAttrs(paramsEl, `${ROOT}/params`, []);
    noText(paramsEl, `${ROOT}/params`);
    for (const [name, e] of children(paramsEl, `${ROOT}/params`, PARAM_NAMES)) {
      patch[name] = leaf(e, `${ROOT}/params/${name}`);
    }
  }
  const applied = applyPatch(DEFAULT_PARAMS, patch);
  if (!applied.ok) {
    for (const e of applied.errors) report(`${ROOT}/params/${e.name}`, e.message);
  }

  let original: string | undefined;
  const originalEl = top.get("original");
  if (originalEl !== undefined) {
    const text = leaf(originalEl, `${ROOT}/original`);
    const problem = originalProblem(text);
    if (problem === undefined) original = text;
    else report(`${ROOT}/original`, problem);
  }

  if (errors.length > 0 || role === undefined || peer === undefined || !applied.ok) {
    return { ok: false, errors };
  }
  const value: HybridMetadata = { role, peer, protect, params: applied.params };
  if (ports !== undefined) value.ports = ports;
  if (original !== undefined) value.original = original;
  return { ok: true, value };
}

/** Our element among the children of a domain's <metadata>; undefined when there is none. */
export function findMetadata(metadata: XmlElement): HybridMetadataResult | undefined {
  const ours = metadata.children.filter((c) => c.ns === METADATA_NS);
  const [only] = ours;
  if (only === undefined) return undefined;
  if (ours.length === 1) return readMetadata(only);
  return {
    ok: false,
    errors: [
      {
        path: ROOT,
        message: `${ours.length} elements in namespace ${METADATA_NS} under <metadata>; libvirt keeps one`,
      },
    ],
  };
}

/**
 * Reads our element from text (`virsh metadata DOMAIN --uri NS`, or formatMetadata's output).
 * Throws XmlError when the text is not XML.
 */
export function parseMetadata(xml: string): HybridMetadataResult {
  return readMetadata(parseXml(xml));
}

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/**
 * Our element as it stands in a domain's <metadata>, prefix METADATA_KEY, every parameter
 * written, in PARAMETERS order. Throws RangeError for values parseMetadata would refuse.
 */
export function formatMetadata(m: HybridMetadata): string {
  const problems = [
    roleProblem(m.role),
    peerUriProblem(m.peer.uri),
    domainProblem(m.peer.domain),
    m.ports === undefined ? undefined : portProblem("migration", String(m.ports.migration)),
    m.ports?.nbd === undefined ? undefined : portProblem("nbd", String(m.ports.nbd)),
    ...(m.ports?.nics ?? []).flatMap((nic) =>
      NIC_PORT_ATTRS.map(([attr, key]) => portProblem(attr, String(nic[key]))),
    ),
    m.original === undefined ? undefined : originalProblem(m.original),
  ];
  const checked = applyPatch(DEFAULT_PARAMS, toExternal(m.params));
  if (!checked.ok) problems.push(...checked.errors.map((e) => e.message));
  const bad = problems.filter((p) => p !== undefined);
  if (bad.length > 0) throw new RangeError(`cannot write colo-hybrid metadata: ${bad.join("; ")}`);
  // libvirt wants the element without a namespace (virDomainSetMetadata puts it in METADATA_NS
  // under METADATA_KEY itself, and refuses an element that already declares that prefix), and
  // hands it back the same way.
  const params = PARAMETERS.map(
    (s) => `    <${s.name}>${escapeXml(String(m.params[s.key]))}</${s.name}>`,
  );
  return [
    `<${ROOT}>`,
    `  <role>${escapeXml(m.role)}</role>`,
    `  <peer uri="${escapeXml(m.peer.uri)}" domain="${escapeXml(m.peer.domain)}"/>`,
    `  <protect>${m.protect}</protect>`,
    ...(m.ports === undefined ? [] : formatPorts(m.ports)),
    "  <params>",
    ...params,
    "  </params>",
    ...(m.original === undefined ? [] : [`  <original>${escapeXml(m.original)}</original>`]),
    `</${ROOT}>`,
  ].join("\n");
}

function formatPorts(ports: PairPortsMetadata): string[] {
  const open = `  <ports migration="${ports.migration}"${ports.nbd === undefined ? "" : ` nbd="${ports.nbd}"`}`;
  const nics = ports.nics ?? [];
  if (nics.length === 0) return [`${open}/>`];
  const nic = (p: NicPorts) =>
    `    <nic ${NIC_PORT_ATTRS.map(([attr, key]) => `${attr}="${p[key]}"`).join(" ")}/>`;
  return [`${open}>`, ...nics.map(nic), "  </ports>"];
}
