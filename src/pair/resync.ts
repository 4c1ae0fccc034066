// Re-protection, planned: a domain that runs alone after a failover (whichever side of its pair
// it was) becomes a COLO primary again, with a new secondary. Nothing here talks to libvirt
// (reprotect.ts carries it out).
//
// The survivor's persistent XML is read back as the plain domain it was made from (unpair.ts:
// plumbing and metadata out, <original>'s devices back, each replicated disk on the image the
// survivor runs on), and planned as pair create plans a pair, under the pair's own names, ports
// and parameters: the survivor keeps its name and UUID and becomes the primary, the new
// secondary takes the pair's other name. So an ex-secondary "web1-secondary" is the primary of a
// secondary "web1", and the cluster's resource, which names both, still finds each side.
//
// The survivor's QEMU runs on: its missing network plumbing is added at run time, from the very
// pieces the primary's <qemu:commandline> is written from (primary-network.ts).
import { toExternal } from "../colo/params.js";
import { readDomainConfig } from "../libvirt/xml/domain.js";
import type { HybridMetadata } from "../libvirt/xml/metadata.js";
import { parseXml } from "../libvirt/xml/tree.js";
import { writeXml } from "../libvirt/xml/write.js";
import { DEFAULT_IMAGE_DIR } from "./disks.js";
import {
  PairError,
  type PairPlan,
  type PairPorts,
  planPair,
  type QemuVersion,
} from "./plumbing.js";
import type { NetworkPiece } from "./primary-network.js";
import { plainDomain } from "./unpair.js";

export interface ResyncChoices {
  /** The new secondary's host, as the survivor's host reaches it (the survivor's peer URI). */
  secondaryUri: string;
  /** The survivor's host, as the new secondary's host reaches it (the secondary's peer URI). */
  primaryUri: string;
  /** Where the secondary reaches the survivor's chardev servers. */
  address: string;
  /** Where the secondary listens for the replication stream; see PairChoices. */
  incomingAddress?: string;
  replicationHost?: string;
  /** Where the secondary's images go on its host; DEFAULT_IMAGE_DIR. */
  imageDir?: string;
  qemuVersion?: QemuVersion;
  /** The UUID of the domain the new secondary replaces on its host, kept. */
  secondaryUuid?: string;
}

export interface ResyncPlan {
  /** The survivor's name: the pair's new primary. */
  survivor: string;
  /** The pair planned anew: primary.xml is the survivor's new persistent configuration. */
  pair: PairPlan;
  /** The survivor's metadata as the pair's primary. */
  primaryMeta: HybridMetadata;
  /** The domain's type ("qemu", "kvm") and memory: what the secondary's host must take. */
  domainType: string;
  guestBytes: number | undefined;
  /** Replicated disks and NICs in the plumbing. */
  disks: number;
  nics: number;
}

/** Why the survivor cannot be protected again; every reason is listed. */
export class ResyncError extends Error {
  override name = "ResyncError";
  constructor(
    readonly domain: string,
    readonly problems: readonly string[],
  ) {
    super(`cannot protect '${domain}' again:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/** Plans re-protecting the survivor from its persistent XML (`virsh dumpxml --inactive`). */
export function planResync(survivorXml: string, choices: ResyncChoices): ResyncPlan {
  const root = parseXml(survivorXml);
  const config = readDomainConfig(root);
  const refuse = (why: string) => new ResyncError(config.name, [why]);
  const meta = config.metadata;
  if (meta === undefined || !meta.ok)
    throw refuse(
      meta === undefined
        ? "it has no colo-hybrid metadata: it is not a side of a pair that pair create made"
        : `its colo-hybrid metadata cannot be read: ${meta.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`,
    );
  const colo = config.colo;
  if (colo === undefined) throw refuse("it has no COLO plumbing in its <qemu:commandline>");
  const { ports: kept, peer, params } = meta.value;
  const nicPorts = kept?.nics;
  if (kept === undefined || nicPorts === undefined || nicPorts.length === 0)
    throw refuse(
      "its metadata keeps not every port of the pair (made by an older 'pair create'): remove the pair and make it again",
    );
  if (colo.disks > 0 && kept.nbd === undefined)
    throw refuse(`it replicates ${colo.disks} disk(s) but its metadata keeps no NBD port`);
  if (colo.diskImages.length !== colo.disks)
    throw refuse("the image of each of its replicated disks is not in its <qemu:commandline>");
  const [first, ...more] = nicPorts as [(typeof nicPorts)[number], ...typeof nicPorts];
  const ports: PairPorts = {
    ...first,
    migration: kept.migration,
    ...(kept.nbd !== undefined && { nbd: kept.nbd }),
    ...(more.length > 0 && { moreNics: more }),
  };
  const plain = writeXml(plainDomain(root, config, meta.value, colo.diskImages));
  let pair: PairPlan;
  try {
    pair = planPair(plain, {
      secondaryUri: choices.secondaryUri,
      primaryUri: choices.primaryUri,
      secondaryName: peer.domain,
      address: choices.address,
      ports,
      imageDir: choices.imageDir ?? DEFAULT_IMAGE_DIR,
      params: toExternal(params),
      ...(choices.incomingAddress !== undefined && { incomingAddress: choices.incomingAddress }),
      ...(choices.replicationHost !== undefined && { replicationHost: choices.replicationHost }),
      ...(choices.qemuVersion !== undefined && { qemuVersion: choices.qemuVersion }),
      ...(choices.secondaryUuid !== undefined && { secondaryUuid: choices.secondaryUuid }),
    });
  } catch (e) {
    if (e instanceof PairError) throw new ResyncError(config.name, e.problems);
    throw e;
  }
  // The survivor runs already, its NIC without vhost-net: how a primary starts, and that
  // vhost-net goes, are not news here.
  pair.warnings = pair.warnings.filter(
    (w) => !w.startsWith(`starting '${config.name}'`) && !w.startsWith("vhost-net is turned off"),
  );
  const primaryMeta = readDomainConfig(parseXml(pair.primary.xml)).metadata;
  if (!primaryMeta?.ok) throw new Error("planPair wrote metadata it cannot read back");
  return {
    survivor: config.name,
    pair,
    primaryMeta: primaryMeta.value,
    domainType: config.type,
    guestBytes: config.memoryBytes,
    disks: colo.disks,
    nics: nicPorts.length,
  };
}

/** What the survivor's QEMU has now, by id: query-chardev's labels, qom-list /objects' names. */
export interface PresentIds {
  chardevs: readonly string[];
  objects: readonly string[];
}

/**
 * The pieces of the primary's network plumbing the running survivor lacks, in order. An
 * ex-primary kept its chardevs (failover removes its objects only); an ex-secondary keeps its
 * filter-rewriter, which the new filters go behind, as a primary's go behind nothing: its guest's
 * connections from before the takeover still need it.
 */
export function missingPieces(
  pieces: readonly NetworkPiece[],
  present: PresentIds,
): NetworkPiece[] {
  return pieces.filter(
    (p) => !(p.kind === "chardev" ? present.chardevs : present.objects).includes(p.id),
  );
}

/**
 * The QMP commands that take `added` away again: last made, first gone (every colo-compare before
 * the IOThread it runs in, the objects before the chardevs they use).
 */
export function removals(
  added: readonly NetworkPiece[],
): { command: string; args: Record<string, unknown> }[] {
  return [...added]
    .reverse()
    .map((p) =>
      p.kind === "object"
        ? { command: "object-del", args: { id: p.id } }
        : { command: "chardev-remove", args: { id: p.id } },
    );
}
