// A real COLO pair of a guest with a qcow2 disk on virtio-blk, brought up with the product's own
// code: planPair, the secondary's images through libvirt's storage API (imagesToMake), protect
// with its disk copy over NBD. Its NIC is the caller's (user networking by default, or a bridge).
// teardown() removes the domains, the images and the pool, also after a failure.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ParamPatch } from "../../src/colo/params.js";
import { LibvirtClient } from "../../src/libvirt/client.js";
import { diskSizes, imagesToMake, poolName } from "../../src/libvirt/images.js";
import { DEFAULT_IMAGE_DIR } from "../../src/pair/disks.js";
import { planPair } from "../../src/pair/plumbing.js";
import { type PairSide, protect } from "../../src/pair/protect.js";
import { qemuInfo } from "../../src/pair/qemu-info.js";
import { run } from "../support/exec.js";
import { BUILD_DIR } from "../support/paths.js";
import { startLibvirtd, TEST_DOMAIN_PREFIX, virsh } from "../support/services.js";
import { buildGuest, recordText } from "./guest.js";
import { guestDomainXml } from "./guest-domain.js";
import { distinctFreePorts, removeLabDomains } from "./pair.js";
import { applyTcgWorkaround } from "./tcg-workaround.js";

export const DISK_BYTES = 64 * 2 ** 20;

export interface DiskPair {
  lv: LibvirtClient;
  primary: PairSide;
  secondary: PairSide;
  /** The primary's own image, and the secondary's base (what it runs on after a takeover). */
  images: { primary: string; secondaryBase: string };
  /** recordsOn for a shut-off side's image. */
  recordsOn(image: string): Promise<{ records: number; pattern: boolean }>;
  teardown(): Promise<void>;
}

export type DiskBus = "virtio" | "scsi" | "sata";

/** The disk's name in the guest and in the secondary's image names: vda, or sda. */
export const diskTarget = (bus: DiskBus) => (bus === "virtio" ? "vda" : "sda");

/**
 * The lab guest's domain XML with a qcow2 image as its disk: virtio-blk vda, or sda on a
 * virtio-scsi controller, or sda on SATA (libvirt adds the AHCI controller itself).
 */
export function withDisk(domainXml: string, image: string, bus: DiskBus = "virtio"): string {
  const controller =
    bus === "scsi" ? "\n    <controller type='scsi' index='0' model='virtio-scsi'/>" : "";
  return domainXml.replace(
    "<devices>",
    `<devices>${controller}
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${image}'/>
      <target dev='${diskTarget(bus)}' bus='${bus}'/>
    </disk>`,
  );
}

/** Runs a command here, or on a lab host (LabHost.run); `scratch` must be visible to both. */
type Runner = (cmd: string, args: readonly string[]) => Promise<unknown>;

/**
 * How many of the write workload's records, 1..n in order, a shut-off domain's image holds, and
 * whether the pattern qemu-io wrote at 1..5 MiB before the pair started is still there.
 */
export async function recordsOn(
  image: string,
  scratch: string,
  on: Runner = run,
): Promise<{ records: number; pattern: boolean }> {
  const file = join(scratch, "records.raw");
  await on("qemu-img", ["convert", "-O", "raw", image, file]);
  const raw = readFileSync(file);
  rmSync(file);
  let n = 0;
  while (raw.subarray((n + 1) * 512, (n + 1) * 512 + 21).toString() === recordText(n + 1)) n++;
  return { records: n, pattern: raw.subarray(2 ** 20, 5 * 2 ** 20).every((b) => b === 0x5a) };
}

/** The pattern recordsOn looks for, written into a fresh image. */
export async function writePattern(image: string, on: Runner = run): Promise<void> {
  await on("qemu-io", ["-f", "qcow2", "-c", "write -P 0x5a 1M 4M", image]);
}

export async function startDiskPair(opts: {
  nic?: string;
  period: number;
  log?: (line: string) => void;
  /** Who starts replication: protect here (default), or the primary's agent (<protect>true</protect>). */
  replication?: "here" | "agent";
  /** The disk's bus; virtio by default. */
  bus?: DiskBus;
  /** The agents' parameters in the pair's metadata, over the defaults. */
  params?: ParamPatch;
}): Promise<DiskPair> {
  const log = opts.log ?? ((line: string) => console.log(`lab: ${line}`));
  await startLibvirtd();
  const tag = randomBytes(3).toString("hex");
  const name = `${TEST_DOMAIN_PREFIX}dpair-${tag}`;
  const dir = join(BUILD_DIR, "lab", `dpair-${tag}`);
  const imageDir = join(dir, "images");
  const pool = poolName(imageDir, DEFAULT_IMAGE_DIR);
  const disk = join(dir, "primary.qcow2");
  mkdirSync(dir, { recursive: true });
  await run("chmod", ["0755", dir]);
  await run("qemu-img", ["create", "-q", "-f", "qcow2", disk, String(DISK_BYTES)]);
  await writePattern(disk);
  await run("chown", ["libvirt-qemu:kvm", disk]);
  const guest = await buildGuest();
  const plainXml = withDisk(
    guestDomainXml({ name, ...guest, ...(opts.nic && { nic: opts.nic }) }),
    disk,
    opts.bus,
  );
  const lv = await LibvirtClient.connect("qemu:///system");
  const made: string[] = [];
  let gdbPid: number | undefined;
  const teardown = async () => {
    await removeLabDomains(made, gdbPid);
    await virsh(["pool-destroy", pool]).catch(() => undefined);
    await virsh(["pool-undefine", pool]).catch(() => undefined);
    await lv.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Defined plain first, so that libvirt gives the disk its address, as for any domain.
    const plainDom = await lv.defineXml(plainXml);
    made.push(name);
    const defined = await lv.domainXml(plainDom, 2);
    const [mirror, compare, compareIn, compareOut, migration, nbd] = (await distinctFreePorts(
      6,
    )) as number[];
    const ports = { mirror, compare, compareIn, compareOut, migration, nbd } as never;
    const plan = planPair(defined, {
      secondaryUri: "qemu:///system",
      ports,
      period: opts.period,
      imageDir,
      ...(opts.params && { params: opts.params }),
    });
    const images = await imagesToMake(
      { lv, uri: "qemu:///system" },
      plan.images,
      await diskSizes(lv, plainDom, plan.diskTargets),
      { name: pool, dir: imageDir },
      "qemu",
    );
    if (images.problems.length > 0) throw new Error(images.problems.join("; "));
    await images.make();
    await lv.defineXml(plan.secondary.xml);
    made.push(plan.secondary.name);
    await lv.defineXml(
      opts.replication === "agent"
        ? plan.primary.xml.replace(
            "<colo:protect>false</colo:protect>",
            "<colo:protect>true</colo:protect>",
          )
        : plan.primary.xml,
    );
    await virsh(["start", plan.secondary.name, "--paused"]);
    await virsh(["start", plan.primary.name, "--paused"]);
    const primary: PairSide = { lv, dom: await lv.lookupByName(plan.primary.name) };
    const secondary: PairSide = { lv, dom: await lv.lookupByName(plan.secondary.name) };
    gdbPid = (await applyTcgWorkaround(name, await qemuInfo(lv, primary.dom), log))?.gdbPid;
    if (opts.replication !== "agent") {
      const result = await protect(primary, secondary, {
        period: opts.period,
        migrationUri: `tcp:127.0.0.1:${migration}`,
        disks: { count: 1, host: "127.0.0.1", port: nbd as number },
      });
      log(`COLO with a disk after ${result.elapsedMs} ms: ${name}`);
    }
    const base = plan.images.find((i) => i.path.endsWith("-base.qcow2"))?.path as string;
    return {
      lv,
      primary,
      secondary,
      images: { primary: disk, secondaryBase: base },
      recordsOn: (image) => recordsOn(image, dir),
      teardown,
    };
  } catch (e) {
    await teardown();
    throw e;
  }
}
