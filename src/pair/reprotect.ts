// Re-protection, carried out (resync.ts plans it) in two halves, which the resource agent runs
// on two nodes and `colo-hybrid protect --resync` runs one after the other:
//  1. startSecondary, on the new secondary's host: the secondary defined there (in place of the
//     pair's stale side, when that is what is there) with fresh images, and started paused,
//     waiting for the stream;
//  2. resyncSurvivor, on the survivor: its missing network plumbing added at run time, its
//     disks copied into the secondary's and COLO started (protect.ts, the same steps as a first
//     protect), and only then its persistent configuration and metadata rewritten as the pair's
//     primary. The guest runs throughout but for protect's short stop.
// Each half leaves things as they were when it fails, as far as libvirt and QEMU allow.
import { Affect, type DomainRef, type Libvirt, XML_SECURE_INACTIVE } from "../libvirt/api.js";
import { findDomain } from "../libvirt/errors.js";
import { imagesToMake, poolName } from "../libvirt/images.js";
import { localAddressToward, towardPeer } from "../libvirt/local-address.js";
import { nbdTarget, replicationHost, replicationTarget } from "../libvirt/peer.js";
import { parseDomainXml } from "../libvirt/xml/domain.js";
import { formatMetadata, METADATA_KEY, METADATA_NS } from "../libvirt/xml/metadata.js";
import { coloStateOf } from "./colo-state.js";
import { DEFAULT_IMAGE_DIR, diskIds } from "./disks.js";
import { readSide } from "./pair-state.js";
import { DEFAULT_ADDRESS, DEFAULT_PRIMARY_URI, secondaryMemoryProblem } from "./plumbing.js";
import { type NetworkPiece, networkCommand } from "./primary-network.js";
import { type PairSide, type ProtectProgress, type ProtectResult, protect } from "./protect.js";
import { qemuInfo } from "./qemu-info.js";
import { missingPieces, planResync, type ResyncPlan, removals } from "./resync.js";

/** A host and the URI it is known by in what is said. */
export interface Host {
  lv: Libvirt;
  uri: string;
}

export class ReprotectError extends Error {
  override name = "ReprotectError";
}

/** The pair's domain found where the new secondary goes. */
export type SideThere =
  /** Shut off: a stale side, replaced by the new secondary (its XML kept to put it back). */
  | { state: "stale"; dom: DomainRef; uuid: string; xml: string }
  /** The pair's secondary, started and waiting for the stream: what startSecondary makes. */
  | { state: "waiting"; dom: DomainRef };

/**
 * The domain named `name` on `host` when there is one, checked: a side of the survivor's pair
 * (its metadata names the survivor as its peer), shut off or a secondary waiting for the
 * stream. Anything else there is not ours to replace.
 */
export async function sideThere(
  host: Host,
  name: string,
  survivor: string,
): Promise<SideThere | undefined> {
  const dom = await findDomain(host.lv, name);
  if (dom === undefined) return undefined;
  const where = `'${name}' on ${host.uri}`;
  const xml = await host.lv.domainXml(dom, XML_SECURE_INACTIVE);
  const { metadata, uuid } = parseDomainXml(xml);
  if (!metadata?.ok || metadata.value.peer.domain !== survivor)
    throw new ReprotectError(
      `${where} is not a side of '${survivor}''s pair (its colo-hybrid metadata ${metadata?.ok ? `names '${metadata.value.peer.domain}' as its peer` : "is missing or unreadable"}): it is left alone; give the new secondary another host`,
    );
  const { state } = await host.lv.domainState(dom);
  if (state === "shutoff") return { state: "stale", dom, uuid, xml };
  const run = ((await host.lv.qmp(dom, "query-status")) as { status: string }).status;
  if (metadata.value.role === "secondary" && run === "inmigrate") return { state: "waiting", dom };
  throw new ReprotectError(
    `${where} is ${state} (${run}): it may still serve the guest; make sure it does not (virsh -c ${host.uri} destroy ${name}) before it is replaced by the new secondary`,
  );
}

/** The pair's secondary on `host`, started and waiting for the stream; throws when it is not. */
export async function waitingSecondary(
  host: Host,
  name: string,
  survivor: string,
): Promise<DomainRef> {
  const there = await sideThere(host, name, survivor);
  if (there?.state === "waiting") return there.dom;
  throw new ReprotectError(
    `'${name}' on ${host.uri} does not wait for the replication stream (${there === undefined ? "it is not defined there" : "it is shut off"}): start the new secondary first ('colo-hybrid protect --resync', or the cluster's start of its instance)`,
  );
}

/**
 * The survivor's half of the plan, from its persistent XML, toward the secondary on
 * `secondaryUri`'s host: where that host reaches this one is this host's route toward it.
 */
export async function planSurvivorResync(
  lv: Libvirt,
  dom: DomainRef,
  secondaryUri: string,
): Promise<ResyncPlan> {
  const toward = await towardPeer(secondaryUri);
  return planResync(await lv.domainXml(dom, XML_SECURE_INACTIVE), {
    secondaryUri,
    // The secondary's own metadata is the other half's to write: this one is not used.
    primaryUri: toward?.primaryUri ?? DEFAULT_PRIMARY_URI,
    address: toward?.address ?? DEFAULT_ADDRESS,
    replicationHost: replicationHost(secondaryUri),
  });
}

/** The survivor's replicated disks' virtual sizes, by target, as its QEMU reports them. */
export async function survivorDiskSizes(
  survivor: PairSide,
  targets: readonly string[],
): Promise<Map<string, number>> {
  const blocks = (await survivor.lv.qmp(survivor.dom, "query-block")) as {
    device: string;
    inserted?: { image?: { "virtual-size"?: number } };
  }[];
  const sizes = new Map<string, number>();
  for (const [n, target] of targets.entries()) {
    const size = blocks.find((b) => b.device === diskIds(n).quorum)?.inserted?.image?.[
      "virtual-size"
    ];
    if (size === undefined)
      throw new ReprotectError(
        `'${survivor.dom.name}' has no disk ${diskIds(n).quorum} (${target}) in its QEMU: is it the pair's side?`,
      );
    sizes.set(target, size);
  }
  return sizes;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Defines the new secondary on `host` (in place of `stale`, keeping its UUID) with new images of
 * the survivor's disks' sizes, and starts it paused, waiting for the stream.
 */
export async function startSecondary(
  plan: ResyncPlan,
  host: Host,
  stale: (SideThere & { state: "stale" }) | undefined,
  sizes: ReadonlyMap<string, number>,
): Promise<DomainRef> {
  const { secondary, images, imageDir } = plan.pair;
  const problems: string[] = [];
  const memory = secondaryMemoryProblem(plan.guestBytes, await host.lv.freeMemory(), host.uri);
  if (memory !== undefined) problems.push(memory);
  // The images are named after the secondary, hence after the stale side it replaces: its own.
  const toMake = await imagesToMake(
    host,
    images,
    sizes,
    { name: poolName(imageDir, DEFAULT_IMAGE_DIR), dir: imageDir },
    plan.domainType,
    stale === undefined ? [] : images.map((i) => i.path),
  );
  problems.push(...toMake.problems);
  if (problems.length > 0)
    throw new ReprotectError(
      `cannot start a new secondary '${secondary.name}' on ${host.uri}:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  let undoImages: () => Promise<void>;
  try {
    undoImages = await toMake.make();
  } catch (e) {
    throw new ReprotectError(
      `making the images of '${secondary.name}' on ${host.uri} failed: ${(e as Error).message}`,
    );
  }
  let dom: DomainRef | undefined;
  try {
    dom = await host.lv.defineXml(secondary.xml);
    await host.lv.create(dom, { paused: true });
    for (let i = 0; ; i++) {
      const run = ((await host.lv.qmp(dom, "query-status")) as { status: string }).status;
      if (run === "inmigrate") return dom;
      if (i >= 50)
        throw new Error(`it is ${run}, not waiting for the replication stream (inmigrate)`);
      await sleep(100);
    }
  } catch (e) {
    const why = `starting the new secondary '${secondary.name}' on ${host.uri} failed: ${(e as Error).message}`;
    if (dom !== undefined) await host.lv.destroy(dom).catch(() => undefined);
    await undoImages().catch(() => undefined);
    try {
      if (stale !== undefined) await host.lv.defineXml(stale.xml);
      else if (dom !== undefined) await host.lv.undefine(dom);
    } catch (back) {
      throw new ReprotectError(
        `${why}; putting ${host.uri} back failed: ${(back as Error).message}`,
      );
    }
    throw new ReprotectError(
      `${why}; ${stale === undefined ? "it is undefined again" : `'${secondary.name}' is defined as it was`}`,
    );
  }
}

export interface ResyncOptions {
  /** The new secondary's host as the survivor reaches it: the stream and NBD go there. */
  secondaryUri: string;
  timeoutMs?: number;
  onProgress?: (p: ProtectProgress) => void;
}

/**
 * Why the side does not run its guest alone, as a survivor must to be protected again; undefined
 * when it does: a side that failed over, or a primary (`role`) whose secondary never came.
 */
export async function whyNotAlone(side: PairSide, role: string): Promise<string | undefined> {
  const state = await readSide(side.lv, side.dom);
  const colo = coloStateOf(state);
  if (colo === "colo" || colo === "starting")
    return `'${side.dom.name}' is in COLO already (${colo}): there is nothing to resync`;
  const alone = colo === "failed-over" || (role === "primary" && colo === "unprotected");
  if (alone && state.run === "running") return undefined;
  return `'${side.dom.name}' does not run its guest alone (COLO state ${colo}, ${state.run}): re-protection makes a side that runs alone after a failover the primary of a new secondary`;
}

/** What QEMU has now, by id: its chardevs' labels and its objects' names. */
async function presentIds(side: PairSide) {
  const chardevs = (await side.lv.qmp(side.dom, "query-chardev")) as { label: string }[];
  const objects = (await side.lv.qmp(side.dom, "qom-list", { path: "/objects" })) as {
    name: string;
  }[];
  return { chardevs: chardevs.map((c) => c.label), objects: objects.map((o) => o.name) };
}

/**
 * Makes the survivor, running alone, the primary of the started secondary, in COLO. Throws
 * ReprotectError (its plumbing taken away again) when COLO does not start.
 */
export async function resyncSurvivor(
  plan: ResyncPlan,
  survivor: PairSide,
  secondary: PairSide,
  opts: ResyncOptions,
): Promise<ProtectResult> {
  const name = survivor.dom.name;
  const notAlone = await whyNotAlone(survivor, plan.primaryMeta.role);
  if (notAlone !== undefined) throw new ReprotectError(notAlone);
  const added: NetworkPiece[] = [];
  const takeAway = async () => {
    for (const { command, args } of removals(added))
      await survivor.lv.qmp(survivor.dom, command, args).catch(() => undefined);
  };
  const add = async (pieces: readonly NetworkPiece[]) => {
    for (const piece of pieces) {
      const { command, args } = networkCommand(piece);
      await survivor.lv.qmp(survivor.dom, command, args);
      added.push(piece);
    }
  };
  let result: ProtectResult;
  try {
    // The chardevs now, so that the secondary has dialled in by the time COLO starts; the
    // filters and colo-compare only once the disks are copied (protect.ts, beforeMigrate).
    const missing = missingPieces(plan.pair.primaryNetwork, await presentIds(survivor));
    await add(missing.filter((p) => p.kind === "chardev"));
    const ports = plan.primaryMeta.ports;
    if (ports === undefined) throw new Error("the plan keeps no replication port");
    result = await protect(survivor, secondary, {
      period: plan.primaryMeta.params.coloPeriod,
      migrationUri: replicationTarget(opts.secondaryUri, ports.migration),
      ...(plan.disks > 0 &&
        ports.nbd !== undefined && {
          disks: { count: plan.disks, ...nbdTarget(opts.secondaryUri, ports.nbd) },
        }),
      ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }),
      ...(opts.onProgress !== undefined && { onProgress: opts.onProgress }),
      beforeMigrate: () => add(missing.filter((p) => p.kind === "object")),
    });
  } catch (e) {
    await takeAway();
    throw new ReprotectError(
      `re-protecting '${name}' with '${secondary.dom.name}' failed: ${(e as Error).message}; '${name}' runs alone as before`,
    );
  }
  try {
    await survivor.lv.defineXml(plan.pair.primary.xml);
    await survivor.lv.setMetadata(
      survivor.dom,
      METADATA_NS,
      METADATA_KEY,
      formatMetadata(plan.primaryMeta),
      Affect.live,
    );
  } catch (e) {
    throw new ReprotectError(
      `'${name}' is in COLO with '${secondary.dom.name}', but writing its configuration as the pair's primary failed: ${(e as Error).message}; its agent and its next start still take it for its old role`,
    );
  }
  return result;
}

/**
 * The stale side's half, run on its own host `here` (the resource agent's start): the survivor,
 * read over `survivorHost`, is planned from, and its new secondary replaces the stale domain
 * `name` here, started paused. Where each host reaches the other: the survivor's URI as this host
 * has it, and this host's route toward it.
 */
export async function replaceStaleSide(
  here: Host,
  name: string,
  survivorHost: Host,
  survivorName: string,
): Promise<void> {
  const dom = await findDomain(survivorHost.lv, survivorName);
  if (dom === undefined)
    throw new ReprotectError(
      `the side that ran on, '${survivorName}', is not on ${survivorHost.uri}`,
    );
  const survivor = { lv: survivorHost.lv, dom };
  const notAlone = await whyNotAlone(survivor, "secondary");
  if (notAlone !== undefined) throw new ReprotectError(`${notAlone} (on ${survivorHost.uri})`);
  const survivorXml = await survivorHost.lv.domainXml(dom, XML_SECURE_INACTIVE);
  const survivorMeta = parseDomainXml(survivorXml).metadata;
  if (!survivorMeta?.ok)
    throw new ReprotectError(`'${survivorName}' on ${survivorHost.uri} has no readable metadata`);
  const there = await sideThere(here, name, survivorName);
  if (there?.state !== "stale")
    throw new ReprotectError(`'${name}' on ${here.uri} is not shut off`);
  const address = replicationHost(survivorHost.uri);
  const incoming = await localAddressToward(address);
  const plan = planResync(survivorXml, {
    secondaryUri: survivorMeta.value.peer.uri,
    primaryUri: survivorHost.uri,
    address,
    ...(incoming !== undefined && { incomingAddress: incoming }),
    qemuVersion: (await qemuInfo(survivorHost.lv, dom)).version,
    secondaryUuid: there.uuid,
  });
  await startSecondary(plan, here, there, await survivorDiskSizes(survivor, plan.pair.diskTargets));
}

/**
 * The survivor's half, on the survivor's host: with the pair's secondary `secondaryName` waiting
 * on `host`, planned from the survivor's own XML and carried out.
 */
export async function resyncWith(
  survivor: PairSide,
  host: Host,
  secondaryName: string,
): Promise<ProtectResult> {
  const secondary = await waitingSecondary(host, secondaryName, survivor.dom.name);
  const plan = await planSurvivorResync(survivor.lv, survivor.dom, host.uri);
  return resyncSurvivor(
    plan,
    survivor,
    { lv: host.lv, dom: secondary },
    { secondaryUri: host.uri },
  );
}
