// The secondary's disk images (pair/disks.ts plans them), made and removed through libvirt's
// storage API on the secondary's host: a directory pool over the image directory, one empty
// qcow2 volume per image. libvirt does not label files named only in <qemu:commandline>, so
// each volume is made owned by the host's QEMU user (its DAC label in the capabilities).
import { createHash } from "node:crypto";
import type { SecondaryImage } from "../pair/disks.js";
import type { DomainRef, Libvirt, PoolRef, VolumeRef } from "./api.js";
import { ErrorCode, LibvirtError } from "./errors.js";
import { qemuOwner } from "./xml/capabilities.js";
import { dirPoolXml, qcow2VolumeXml } from "./xml/storage.js";

/** The pool over `dir`: "colo-hybrid-images" for the default directory, else named after it. */
export function poolName(dir: string, defaultDir: string): string {
  if (dir === defaultDir) return "colo-hybrid-images";
  const last =
    dir
      .replace(/\/+$/, "")
      .split("/")
      .at(-1)
      ?.replace(/[^\w.-]/g, "_") || "root";
  return `colo-hybrid-${last}-${createHash("sha256").update(dir).digest("hex").slice(0, 6)}`;
}

const isNotFound = (e: unknown, code: number) => e instanceof LibvirtError && e.code === code;

/** The pool, or undefined when the host has none of that name. */
async function findPool(lv: Libvirt, name: string): Promise<PoolRef | undefined> {
  try {
    return await lv.poolLookupByName(name);
  } catch (e) {
    if (isNotFound(e, ErrorCode.noStoragePool)) return undefined;
    throw e;
  }
}

/** The running pool over `dir`, defined, built and started (autostart) when it is not. */
async function ensurePool(lv: Libvirt, name: string, dir: string): Promise<PoolRef> {
  let pool = await findPool(lv, name);
  if (pool === undefined) {
    pool = await lv.poolDefineXml(dirPoolXml(name, dir));
    await lv.poolBuild(pool);
    await lv.poolSetAutostart(pool, true);
  }
  if ((await lv.poolInfo(pool)).state !== "running") await lv.poolCreate(pool);
  await lv.poolRefresh(pool);
  return pool;
}

/** Which of the paths are volumes already. */
async function existingVolumes(lv: Libvirt, paths: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const path of paths) {
    try {
      await lv.volLookupByPath(path);
      found.push(path);
    } catch (e) {
      if (!isNotFound(e, ErrorCode.noStorageVolume)) throw e;
    }
  }
  return found;
}

interface NewImage {
  /** A file name in the pool's directory. */
  name: string;
  bytes: number;
}

/**
 * Empty qcow2 volumes owned by `owner`; when one cannot be made, those made are deleted again and
 * the error is thrown.
 */
async function createImages(
  lv: Libvirt,
  pool: PoolRef,
  images: readonly NewImage[],
  owner: { uid: number; gid: number },
): Promise<VolumeRef[]> {
  const made: VolumeRef[] = [];
  try {
    for (const image of images) {
      made.push(await lv.volCreateXml(pool, qcow2VolumeXml(image.name, image.bytes, owner)));
    }
  } catch (e) {
    await deleteVolumes(lv, made);
    throw e;
  }
  return made;
}

/** Deletes the volumes at the paths that are volumes; the names of those that were not. */
export async function deleteImages(lv: Libvirt, paths: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const path of paths) {
    let vol: VolumeRef;
    try {
      vol = await lv.volLookupByPath(path);
    } catch (e) {
      if (!isNotFound(e, ErrorCode.noStorageVolume)) throw e;
      missing.push(path);
      continue;
    }
    await lv.volDelete(vol);
  }
  return missing;
}

async function deleteVolumes(lv: Libvirt, vols: readonly VolumeRef[]): Promise<void> {
  for (const vol of vols) await lv.volDelete(vol).catch(() => undefined);
}

/** What pair create checks and then makes for a pair with disks. */
export interface ImagesToMake {
  /** Why they cannot be made; nothing has changed. */
  problems: string[];
  /** Makes them (and the pool); resolves with what undoes that. */
  make(): Promise<() => Promise<void>>;
}

/** Each disk's virtual size in bytes, by target, as libvirt reads it from the domain's <disk>. */
export async function diskSizes(
  lv: Libvirt,
  dom: DomainRef,
  targets: readonly string[],
): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const target of targets) sizes.set(target, (await lv.domainBlockInfo(dom, target)).capacity);
  return sizes;
}

/**
 * Checks that the secondary's host can take `images` (each of its disk's virtual size, by
 * target, in `sizes`) in `dir`: none there already but those in `reusable` (a stale side's,
 * which are used as they are: the copy into the base overwrites all of it, and the replication
 * driver empties the overlays when COLO starts), QEMU's user known, room in the pool when it
 * exists (else after making it, before any image).
 */
export async function imagesToMake(
  secondary: { lv: Libvirt; uri: string },
  images: readonly SecondaryImage[],
  sizes: ReadonlyMap<string, number>,
  pool: { name: string; dir: string },
  domainType: string,
  reusable: readonly string[] = [],
): Promise<ImagesToMake> {
  const problems: string[] = [];
  const all = images.map((i) => ({
    path: i.path,
    name: i.path.slice(i.path.lastIndexOf("/") + 1),
    bytes: sizes.get(i.sizeOf) ?? 0,
  }));
  const there = await existingVolumes(
    secondary.lv,
    all.map((i) => i.path),
  );
  const taken = there.filter((p) => !reusable.includes(p));
  if (taken.length > 0) {
    problems.push(
      `images exist already on ${secondary.uri}: ${taken.join(", ")} (a pair made before? colo-hybrid pair remove deletes them)`,
    );
  }
  const wanted = all.filter((i) => !there.includes(i.path));
  const total = wanted.reduce((sum, i) => sum + i.bytes, 0);
  const owner = qemuOwner(await secondary.lv.capabilities(), domainType);
  if (owner === undefined) {
    problems.push(
      `cannot tell which user QEMU runs as on ${secondary.uri} (its capabilities name no DAC label for type '${domainType}'): the secondary's images must be owned by it`,
    );
  }
  const roomProblem = (available: number) =>
    available >= total
      ? undefined
      : `${secondary.uri} has ${mib(available)} MiB free in ${pool.dir}, and the secondary's images take up to ${mib(total)} MiB (each the size of its disk)`;
  const existing = await findPool(secondary.lv, pool.name);
  if (existing !== undefined) {
    const problem = roomProblem((await secondary.lv.poolInfo(existing)).available);
    if (problem !== undefined) problems.push(problem);
  }
  return {
    problems,
    make: async () => {
      if (owner === undefined) throw new Error("no owner for the images");
      const made = await ensurePool(secondary.lv, pool.name, pool.dir);
      const problem = roomProblem((await secondary.lv.poolInfo(made)).available);
      if (problem !== undefined) {
        throw new Error(`${problem}; the storage pool '${pool.name}' stays for the next try`);
      }
      const vols = await createImages(secondary.lv, made, wanted, owner);
      return () => deleteVolumes(secondary.lv, vols);
    },
  };
}

const mib = (bytes: number) => Math.floor(bytes / 2 ** 20);
