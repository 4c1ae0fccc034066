// The domain's disks under COLO block replication (QEMU's docs/block-replication.txt and
// COLO-FT.txt). Nothing here talks to libvirt; plumbing.ts writes what this plans.
//
//   primary                                        secondary
//   device -> quorum colo-diskN                    device -> quorum colo-diskN
//               child 0: the domain's own image                 child 0: replication colo-childsN
//               child 1: NBD colo-nbdN  ---------->  NBD export colo-parentN (base image)
//                        (added by protect)                       active <- hidden <- base
//
// libvirt has no quorum disk, so each replicated <disk> leaves <devices> for <qemu:commandline>
// (-drive and -device, at the disk's own address on both sides: its PCI slot, or its place on
// its SCSI or SATA controller, which stays in <devices>), and the primary's
// metadata keeps the <disk> as it was, for pair remove. The secondary's three images (base,
// active, hidden) are empty qcow2 of the disk's size in the image directory of its host; protect
// fills the base from the primary's disk over NBD before COLO starts.
import type { Controller, Disk, PciAddress } from "../libvirt/xml/domain.js";

export const DEFAULT_IMAGE_DIR = "/var/lib/colo-hybrid/images";

/** The QEMU ids of replicated disk `n`, the same on both sides where both have them. */
export function diskIds(n: number) {
  return {
    /** The quorum the guest's device sits on. */
    quorum: `colo-disk${n}`,
    /** The secondary's base image, exported over NBD under this name. */
    parent: `colo-parent${n}`,
    /** The secondary's replication driver, the quorum's child. */
    replication: `colo-childs${n}`,
    /** The primary's NBD client to the secondary's export, its quorum's second child. */
    nbd: `colo-nbd${n}`,
    /** protect's job that copies the primary's disk into the secondary's base. */
    sync: `colo-sync${n}`,
  } as const;
}

/** An image pair create makes on the secondary's host: empty qcow2 of the disk's virtual size. */
export interface SecondaryImage {
  path: string;
  /** The primary's disk (its target, "vda") whose virtual size it takes. */
  sizeOf: string;
}

export interface DiskPlan {
  /** The replicated disks' targets, in order: disk n is the n-th. */
  targets: string[];
  /** Their images on the primary's host, in the same order. */
  sources: string[];
  primaryArgs: string[];
  secondaryArgs: string[];
  images: SecondaryImage[];
}

const FORMATS = new Set(["raw", "qcow2"]);

function isRemovable(device: string): boolean {
  return device === "cdrom" || device === "floppy";
}

/** QEMU's option syntax doubles a comma inside a value. */
const value = (text: string) => text.replaceAll(",", ",,");

/** -device's bus and addr for a PCI address: libvirt names PCI controller N "pci.N". */
function pciOptions(pci: PciAddress, q35: boolean): DeviceProps {
  const bus = Number.parseInt(pci.bus, 16);
  const slot = `0x${Number.parseInt(pci.slot, 16).toString(16)}`;
  const fn = Number.parseInt(pci.function, 16);
  return {
    bus: bus === 0 && q35 ? "pcie.0" : `pci.${bus}`,
    addr: fn === 0 ? slot : `${slot}.${fn}`,
  };
}

/**
 * A -device's properties. Written as JSON, as libvirt writes its own devices: QEMU creates all
 * -device options in the old syntax before any in JSON, so a disk written the old way would
 * look for its SCSI or SATA bus before libvirt's controller made it.
 */
type DeviceProps = Record<string, string | number>;

/** The buses whose disks are replicated, and the QEMU device of each. */
const DEVICES: Readonly<Record<string, string>> = {
  virtio: "virtio-blk-pci",
  scsi: "scsi-hd",
  sata: "ide-hd",
};

/**
 * Where the disk's device goes, as libvirt itself puts it (its QEMU command line, libvirt 9):
 * a virtio disk at its PCI address; a SCSI disk on its virtio-scsi controller's bus "scsiN.0"
 * with its channel, id and LUN, and libvirt's device_id, which the guest reads as the disk's
 * identity; a SATA disk on its AHCI controller's port: "sataN.UNIT", or "ide.UNIT" for q35's
 * built-in one. Undefined, with the reason pushed to `refuse`, when the domain does not say.
 */
function placement(
  d: Disk,
  controllers: readonly Controller[],
  q35: boolean,
  refuse: (why: string) => void,
): DeviceProps | undefined {
  if (d.bus === "virtio") {
    if (d.pci !== undefined) return pciOptions(d.pci, q35);
    refuse(
      "it has no PCI address: define the domain first (libvirt gives it one), so both sides put it at the same one",
    );
    return undefined;
  }
  const a = d.drive;
  if (a === undefined) {
    refuse(
      "it has no drive address: define the domain first (libvirt gives it one), so both sides put it at the same one",
    );
    return undefined;
  }
  const controller = controllers.find((c) => c.type === d.bus && c.index === a.controller);
  if (controller === undefined) {
    refuse(`the domain has no <controller type='${d.bus}' index='${a.controller}'> for it`);
    return undefined;
  }
  if (d.bus === "scsi") {
    if (controller.model !== "virtio-scsi") {
      refuse(
        `its SCSI controller ${a.controller} is model '${controller.model ?? "?"}': only virtio-scsi controllers are replicated`,
      );
      return undefined;
    }
    const alias = d.alias ?? `scsi${a.controller}-${a.bus}-${a.target}-${a.unit}`;
    return {
      bus: `${controller.alias ?? `scsi${a.controller}`}.0`,
      channel: a.bus,
      "scsi-id": a.target,
      lun: a.unit,
      device_id: `drive-${alias}`,
    };
  }
  const ahci = controller.alias ?? (q35 && a.controller === 0 ? "ide" : `sata${a.controller}`);
  return { bus: `${ahci}.${a.unit}` };
}

/**
 * The replication plan for the domain's disks; every reason one cannot be replicated is pushed
 * to `problems`. CD-ROMs and floppies are left as they are: read-only media, read the same on
 * both sides, which need the same image at the same path.
 */
export function planDisks(
  disks: readonly Disk[],
  opts: {
    imageDir: string;
    secondaryName: string;
    q35: boolean;
    controllers: readonly Controller[];
  },
  problems: string[],
  warnings: string[],
): DiskPlan {
  const plan: DiskPlan = {
    targets: [],
    sources: [],
    primaryArgs: [],
    secondaryArgs: [],
    images: [],
  };
  const refuse = (d: Disk, why: string) => {
    problems.push(
      `disk ${d.target ?? "?"}${d.source ? ` (${d.source})` : ""} cannot be replicated: ${why}`,
    );
  };
  for (const d of disks) {
    if (isRemovable(d.device)) {
      if (d.source !== undefined) {
        warnings.push(
          `the ${d.device} ${d.target ?? ""} (${d.source}) is left as it is: both sides read it, so ${d.source} must be on the secondary's host too`,
        );
      }
      continue;
    }
    const n = plan.targets.length;
    const before = problems.length;
    if (d.device === "lun")
      refuse(d, "a LUN passes SCSI commands to the host's device, past QEMU's block layer");
    if (d.type === "network")
      refuse(d, "a network disk is one image for both sides; replication needs one image on each");
    else if (d.type !== "file")
      refuse(d, `<disk type='${d.type}'>: only file-backed images (type='file') are replicated`);
    if (d.source === undefined) refuse(d, "it has no image (<source file=...>)");
    if (d.format !== undefined && !FORMATS.has(d.format))
      refuse(d, `image format '${d.format}': raw and qcow2 are replicated`);
    if (d.readonly) refuse(d, "it is read-only (<readonly/>): replication writes to it");
    if (d.shareable)
      refuse(
        d,
        "it is shared with other domains (<shareable/>): their writes would reach one side only",
      );
    const device = d.bus === undefined ? undefined : DEVICES[d.bus];
    if (device === undefined)
      refuse(
        d,
        `bus '${d.bus ?? "?"}': virtio-blk, virtio-scsi and SATA disks are replicated (<target bus='virtio|scsi|sata'>)`,
      );
    const place =
      device === undefined || problems.length > before
        ? undefined
        : placement(d, opts.controllers, opts.q35, (why) => refuse(d, why));
    if (problems.length > before || d.source === undefined || place === undefined) continue;

    const ids = diskIds(n);
    const target = d.target ?? `disk${n}`;
    const image = (kind: string) =>
      `${opts.imageDir}/${opts.secondaryName}-${target}-${kind}.qcow2`;
    const [base, active, hidden] = [image("base"), image("active"), image("hidden")];
    const quorum = `if=none,id=${ids.quorum},driver=quorum,read-pattern=fifo,vote-threshold=1`;
    const deviceArgs = [
      "-device",
      JSON.stringify({
        driver: device,
        drive: ids.quorum,
        id: `colo-${target}`,
        ...place,
        ...(d.serial !== undefined && { serial: d.serial }),
        ...(d.bootOrder !== undefined && { bootindex: Number(d.bootOrder) }),
      }),
    ];
    plan.targets.push(target);
    plan.sources.push(d.source);
    plan.primaryArgs.push(
      "-drive",
      `${quorum},children.0.driver=${d.format ?? "raw"},children.0.file.filename=${value(d.source)}`,
      ...deviceArgs,
    );
    plan.secondaryArgs.push(
      "-drive",
      `if=none,id=${ids.parent},driver=qcow2,file.filename=${value(base)}`,
      "-drive",
      [
        `if=none,id=${ids.replication},driver=replication,mode=secondary,top-id=${ids.quorum}`,
        `file.driver=qcow2,file.file.filename=${value(active)}`,
        `file.backing.driver=qcow2,file.backing.file.filename=${value(hidden)}`,
        `file.backing.backing=${ids.parent}`,
      ].join(","),
      "-drive",
      `${quorum},children.0=${ids.replication}`,
      ...deviceArgs,
    );
    plan.images.push(...[base, active, hidden].map((path) => ({ path, sizeOf: target })));
  }
  return plan;
}
