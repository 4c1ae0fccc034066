// A COLO primary made plain again: what `colo-hybrid pair remove` defines. Nothing here talks to
// libvirt.
//
// Our arguments are told by their ids: pair create refuses a plain domain whose
// <qemu:commandline> defines a chardev or object of either side's plumbing, or has an -incoming,
// so every such argument is the plumbing's, wherever it stands now.
import {
  type DiskImage,
  type DomainConfig,
  diskTarget,
  type QemuId,
  qemuDefinitions,
  readDomainConfig,
} from "../libvirt/xml/domain.js";
import type { HybridMetadata } from "../libvirt/xml/metadata.js";
import { attrValue, parseXml, type XmlElement } from "../libvirt/xml/tree.js";
import { editDomain, withDiskImage, writeXml } from "../libvirt/xml/write.js";
import { allNicIds, COMPARE_IOTHREAD, plumbedNics } from "./ids.js";

export interface UnpairPlan {
  /** The primary's name. */
  primary: string;
  /** The plain domain: the primary's XML without the plumbing's arguments and our metadata. */
  plainXml: string;
  /** Where the secondary is, as the primary's metadata says: its host's URI and its name. */
  secondary: HybridMetadata["peer"];
}

/** The domain is not a COLO primary this host can make plain; every reason is listed. */
export class UnpairError extends Error {
  override name = "UnpairError";
  constructor(
    readonly domain: string,
    readonly host: string,
    readonly problems: readonly string[],
  ) {
    super(
      `cannot remove the COLO pair of '${domain}' on ${host}:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  }
}

/** The plumbing's drives and disk devices: their ids start with this (disks.ts). */
const DISK_ID_PREFIX = "colo-";

/** The chardevs and objects of both sides' plumbing for `nics` NICs. */
function ours(nics: number): Pick<QemuId, "kind" | "id">[] {
  const of = (kind: "chardev" | "object", ids: Record<string, string>[]) =>
    ids.flatMap((set) => Object.values(set).map((id) => ({ kind, id })));
  const all = allNicIds(nics);
  return [
    ...of(
      "chardev",
      all.flatMap((n) => [n.primaryChardevs, n.secondaryChardevs]),
    ),
    ...of("object", [
      ...all.flatMap((n) => [n.primaryObjects, n.secondaryObjects]),
      { iothread: COMPARE_IOTHREAD },
    ]),
  ];
}

/**
 * Plans making the primary on `host` (its `virsh dumpxml --inactive`) plain again. Throws
 * UnpairError for a domain without valid colo-hybrid metadata, or a secondary's; XmlError for
 * XML it cannot read.
 */
export function planUnpair(primaryXml: string, host: string): UnpairPlan {
  const root = parseXml(primaryXml);
  const config = readDomainConfig(root);
  const meta = config.metadata;
  const refuse = (problem: string) => new UnpairError(config.name, host, [problem]);
  if (meta === undefined) {
    throw refuse("it has no colo-hybrid metadata: it is not a pair that pair create made");
  }
  if (!meta.ok) {
    throw refuse(
      `its colo-hybrid metadata cannot be read (${meta.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}), so where its secondary is is not known`,
    );
  }
  if (meta.value.role === "secondary") {
    const { uri, domain } = meta.value.peer;
    throw refuse(
      `it is the COLO secondary of '${domain}': run it on the primary (colo-hybrid pair remove ${domain} -c ${uri})`,
    );
  }
  // A primary that was a secondary once runs on its base image, not the original disk.
  const plainXml = writeXml(plainDomain(root, config, meta.value, config.colo?.diskImages));
  return { primary: config.name, plainXml, secondary: meta.value.peer };
}

/**
 * Either side of a pair as the plain domain it was made from: the plumbing's arguments and our
 * metadata out, the devices pair create changed put back from <original>. `images`, by disk
 * number: the image each replicated disk is put back on, when not its original one (a secondary
 * that took over runs on its base image).
 */
export function plainDomain(
  root: XmlElement,
  config: DomainConfig,
  meta: HybridMetadata,
  images?: readonly DiskImage[],
): XmlElement {
  const originals = meta.original === undefined ? [] : parseXml(meta.original).children;
  // pair create's <original> lists the replicated disks in order: disk n is the n-th.
  const disks = originals
    .filter((o) => o.name === "disk" && !config.disks.some((d) => d.target === diskTarget(o)))
    .map((d, n) => {
      const image = images?.[n];
      const source = d.children.find((c) => c.ns === "" && c.name === "source");
      const same = image === undefined || (source && attrValue(source, "file")) === image.path;
      return same ? d : withDiskImage(d, image.path, image.format);
    });
  return editDomain(root, {
    qemuArgs: withoutPlumbing(config.qemuArgs, ours(plumbedNics(config.colo?.objects ?? []))),
    metadata: null,
    devices: (d) => (d.name === "interface" ? (originals.find((o) => sameNic(o, d)) ?? d) : d),
    // The replicated disks pair create moved into <qemu:commandline>, back.
    addDisks: disks,
  });
}

/**
 * Why the domain found under the secondary's name is not the secondary `plan` names, or
 * undefined when it is: undefining a domain that only shares the name would lose it.
 */
export function secondaryProblem(plan: UnpairPlan, secondaryXml: string): string | undefined {
  const { name, metadata } = readDomainConfig(parseXml(secondaryXml));
  const where = `'${name}' on ${plan.secondary.uri}`;
  if (metadata === undefined)
    return `${where} has no colo-hybrid metadata: it is not the secondary`;
  if (!metadata.ok) return `${where} has colo-hybrid metadata that cannot be read`;
  const { role, peer } = metadata.value;
  if (role !== "secondary" || peer.domain !== plan.primary) {
    return `${where} is not the COLO secondary of '${plan.primary}': its metadata says it is the ${role} of '${peer.domain}'`;
  }
  return undefined;
}

/** One NIC, told by its MAC address (libvirt writes it in lower case): pair create refuses a tap NIC without one. */
function sameNic(original: XmlElement, nic: XmlElement): boolean {
  const mac = (el: XmlElement) => {
    const found = el.children.find((c) => c.ns === "" && c.name === "mac");
    return found && attrValue(found, "address")?.toLowerCase();
  };
  return original.name === "interface" && mac(original) !== undefined && mac(original) === mac(nic);
}

/**
 * The arguments without the plumbing's option-value pairs, read as qemuDefinitions reads them: an
 * option that takes a value takes the next argument, whatever it looks like.
 */
function withoutPlumbing(
  args: readonly string[],
  plumbing: readonly Pick<QemuId, "kind" | "id">[],
): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; ) {
    const option = args.slice(i, takesValue(args[i] ?? "") ? i + 2 : i + 1);
    const { ids, incoming } = qemuDefinitions(option);
    const ours =
      incoming.length > 0 ||
      ids.some(
        (d) =>
          plumbing.some((o) => o.kind === d.kind && o.id === d.id) ||
          ((d.kind === "block" || d.kind === "device") && d.id.startsWith(DISK_ID_PREFIX)),
      );
    if (!ours) kept.push(...option);
    i += option.length;
  }
  return kept;
}

/** Whether qemuDefinitions reads the argument after `option` as its value. */
function takesValue(option: string): boolean {
  const probe = qemuDefinitions([option, "id=x"]);
  return probe.ids.length > 0 || probe.incoming.length > 0;
}
