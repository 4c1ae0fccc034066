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
  /** How many replicated disks: quorum drives colo-disk0, colo-disk1, ... (pair/disks.ts). */
  disks: number;
  /** The files the plumbing's drives open (ids colo-...): on a secondary, its own images. */
  images: string[];
  /**
   * The image each replicated disk runs on, by disk number: a primary's quorum's first child, a
   * secondary's base (what it runs on once it has taken over).
   */
  diskImages: DiskImage[];
}

export interface DiskImage {
  path: string;
  /** The image's format driver: "raw" or "qcow2". */
  format: string;
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
  /** <model type=...>: "virtio", "e1000"; undefined leaves it to libvirt. */
  model: string | undefined;
  /** <driver name=...>: "vhost" or "qemu" (no vhost-net); undefined leaves it to libvirt. */
  driver: string | undefined;
  /** <mac address=...>, when set. */
  mac: string | undefined;
  /** <source bridge|network|dev=...>: what it is plugged into. */
  source: string | undefined;
}

/** A <disk>. */
export interface Disk {
  /** "disk", "cdrom", "floppy", "lun". */
  device: string;
  /** <target dev=...>: "vda", "sdb". */
  target: string | undefined;
  /** What it holds (<source file|dev|dir|name|volume=...>); undefined for an empty drive. */
  source: string | undefined;
  /** <disk type=...>: "file", "block", "network", "volume", "dir". */
  type: string;
  /** <driver type=...>: the image format, "raw", "qcow2"; undefined leaves it to libvirt. */
  format: string | undefined;
  /** <target bus=...>: "virtio", "scsi", "sata", "ide", "usb". */
  bus: string | undefined;
  readonly: boolean;
  shareable: boolean;
  /** <address type='pci'>, when it has one: where the guest sees a virtio disk. */
  pci: PciAddress | undefined;
  /** <address type='drive'>, when it has one: where the guest sees a SCSI or SATA disk. */
  drive: DriveAddress | undefined;
  /** <serial>: the guest sees it as the disk's serial number. */
  serial: string | undefined;
  /** A user-set <alias name="ua-..."/>. */
  alias: string | undefined;
  /** <boot order=...>. */
  bootOrder: string | undefined;
}

/** A disk's place on its controller (<address type='drive'>), as numbers. */
export interface DriveAddress {
  controller: number;
  bus: number;
  target: number;
  unit: number;
}

/** A <controller>: the bus a SCSI or SATA disk sits on. */
export interface Controller {
  /** "scsi", "sata", "pci", "usb", "virtio-serial", ... */
  type: string;
  index: number;
  /** "virtio-scsi", "lsilogic", "pcie-root", ...; undefined leaves it to libvirt. */
  model: string | undefined;
  /** A user-set <alias name="ua-..."/>. */
  alias: string | undefined;
}

/** A PCI address as libvirt writes it (hex strings: bus '0x00', slot '0x05'). */
export interface PciAddress {
  domain: string;
  bus: string;
  slot: string;
  function: string;
}

/** A <hostdev>: a device of the host given to the guest. */
export interface HostDevice {
  /** "subsystem" (libvirt's default) or "capabilities". */
  mode: string;
  /** "pci", "usb", "scsi", "scsi_host", "mdev"; "storage", "misc", "net" in capabilities mode. */
  type: string;
  /** The device as the host names it: "0000:03:00.0", "vendor 0x046d product 0xc52b", a UUID. */
  source: string | undefined;
}

/** A <filesystem>: a directory (or file) of the host exported to the guest. */
export interface Filesystem {
  /** "mount" (libvirt's default), "file", "block", ... */
  type: string;
  /** <driver type=...>: "virtiofs", "path", "handle"; undefined when not written (9p, path). */
  driver: string | undefined;
  /** <source dir|file|dev|name|socket=...>. */
  source: string | undefined;
  /** <target dir=...>: the mount tag the guest sees. */
  target: string | undefined;
}

/** A <shmem>: memory shared with other processes of the host. */
export interface Shmem {
  name: string;
  /** "master" or "peer"; undefined when not written (peer). */
  role: string | undefined;
  /** <model type=...>: "ivshmem-plain", "ivshmem-doorbell", "ivshmem". */
  model: string | undefined;
}

/** A <tpm>. */
export interface Tpm {
  model: string | undefined;
  /** <backend type=...>: "passthrough", "emulator", "external". */
  backend: string | undefined;
  /** The host's device (passthrough) or socket (external). */
  path: string | undefined;
}

/** An <input>. */
export interface Input {
  /** "mouse", "keyboard", "tablet", "passthrough", "evdev". */
  type: string;
  bus: string | undefined;
  /** The host's event device (<source evdev=...> or <source dev=...>). */
  source: string | undefined;
}

/** A <smartcard>. */
export interface Smartcard {
  /** "host", "host-certificates", "passthrough". */
  mode: string;
  /** The character device type of mode='passthrough': "spicevmc", "tcp", ... */
  type: string | undefined;
}

/** A <video>. */
export interface Video {
  /** <model type=...>: "virtio", "vga", "qxl", ... */
  model: string | undefined;
  /** <model><acceleration accel3d='yes'/>: virgl, for virtio. */
  accel3d: boolean;
}

/** A <crypto> device. */
export interface Crypto {
  model: string | undefined;
  type: string | undefined;
  /** <backend model=...>: "builtin", "lkcf". */
  backend: string | undefined;
}

/** A <cpu><feature>. */
export interface CpuFeature {
  name: string;
  /** As written, or "require" (libvirt's default). */
  policy: string;
}

/** The domain's IOThreads: <iothreads>N</iothreads>, and the ids <iothreadids> gives. */
export interface IoThreads {
  count: number;
  ids: number[];
}

/**
 * QEMU's namespaces of ids: two chardevs cannot share an id, a chardev and an object can. Drive
 * ids and block node names are one namespace (QEMU refuses a node name that is a drive's id).
 */
export type QemuIdKind =
  | "chardev"
  | "object"
  | "netdev"
  | "device"
  | "block"
  | "fsdev"
  | "audiodev"
  | "tpmdev"
  | "monitor";

/** An id that an option of <qemu:commandline> defines. */
export interface QemuId {
  kind: QemuIdKind;
  /** The option, with one leading dash: "-chardev", "-blockdev". */
  option: string;
  id: string;
}

/** What setting up a pair needs of a domain, including one not defined yet (no UUID). */
export interface DomainConfig {
  name: string;
  /** As written, when there is one. */
  uuid: string | undefined;
  type: string;
  /** <os><type machine=...>: "pc-i440fx-7.2", "pc-q35-7.2". */
  machine: string | undefined;
  /** <memory>, in bytes; undefined when absent or not a size libvirt reads. */
  memoryBytes: number | undefined;
  nics: Nic[];
  disks: Disk[];
  controllers: Controller[];
  hostdevs: HostDevice[];
  filesystems: Filesystem[];
  shmems: Shmem[];
  tpms: Tpm[];
  inputs: Input[];
  smartcards: Smartcard[];
  videos: Video[];
  cryptos: Crypto[];
  /** <launchSecurity type=...>: "sev", "sev-snp", "s390-pv", "tdx"; undefined without one. */
  launchSecurity: string | undefined;
  /** <features><hyperv mode=...>: "custom" (libvirt's default) or "passthrough". */
  hyperv: string | undefined;
  cpuFeatures: CpuFeature[];
  /** <clock><timer name='tsc' frequency=...>, when set. */
  tscFrequency: string | undefined;
  iothreads: IoThreads;
  /** Every <qemu:arg> value of <qemu:commandline>, in order. */
  qemuArgs: string[];
  /** The ids those arguments define, in order. */
  qemuIds: QemuId[];
  /** Every -incoming value among those arguments, in order. */
  qemuIncoming: string[];
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
  const defined = qemuDefinitions(qemuArgs);
  const firstAttr = (el: XmlElement, name: string, attrs: readonly string[]) =>
    attrs.map((a) => childAttr(el, name, a)).find((v) => v !== undefined);
  return {
    name,
    uuid: child(root, "uuid")?.text.trim(),
    type,
    machine: optional(child(root, "os"), (os) => childAttr(os, "type", "machine")),
    memoryBytes: optional(child(root, "memory"), (m) => scaledBytes(m.text, attrValue(m, "unit"))),
    nics: all("interface").map((i) => ({
      type: attrValue(i, "type") ?? "",
      alias: childAttr(i, "alias", "name"),
      model: childAttr(i, "model", "type"),
      driver: childAttr(i, "driver", "name"),
      mac: childAttr(i, "mac", "address"),
      source: firstAttr(i, "source", ["bridge", "network", "dev"]),
    })),
    disks: all("disk").map((d) => ({
      device: attrValue(d, "device") ?? "disk",
      target: childAttr(d, "target", "dev"),
      source: firstAttr(d, "source", ["file", "dev", "dir", "name", "volume"]),
      type: attrValue(d, "type") ?? "file",
      format: childAttr(d, "driver", "type"),
      bus: childAttr(d, "target", "bus"),
      readonly: child(d, "readonly") !== undefined,
      shareable: child(d, "shareable") !== undefined,
      pci: pciAddress(d),
      drive: driveAddress(d),
      serial: child(d, "serial")?.text.trim(),
      alias: childAttr(d, "alias", "name"),
      bootOrder: childAttr(d, "boot", "order"),
    })),
    controllers: all("controller").map((c) => ({
      type: attrValue(c, "type") ?? "",
      index: Number(attrValue(c, "index") ?? "0"),
      model: attrValue(c, "model"),
      alias: childAttr(c, "alias", "name"),
    })),
    hostdevs: all("hostdev").map((h) => ({
      mode: attrValue(h, "mode") ?? "subsystem",
      type: attrValue(h, "type") ?? "",
      source: hostdevSource(h),
    })),
    filesystems: all("filesystem").map((f) => ({
      type: attrValue(f, "type") ?? "mount",
      driver: childAttr(f, "driver", "type"),
      source: firstAttr(f, "source", ["dir", "file", "dev", "name", "socket"]),
      target: childAttr(f, "target", "dir"),
    })),
    shmems: all("shmem").map((m) => ({
      name: attrValue(m, "name") ?? "",
      role: attrValue(m, "role"),
      model: childAttr(m, "model", "type"),
    })),
    tpms: all("tpm").map((t) => {
      const backend = child(t, "backend");
      return {
        model: attrValue(t, "model"),
        backend: backend && attrValue(backend, "type"),
        path:
          backend && (childAttr(backend, "device", "path") ?? childAttr(backend, "source", "path")),
      };
    }),
    inputs: all("input").map((i) => ({
      type: attrValue(i, "type") ?? "",
      bus: attrValue(i, "bus"),
      source: firstAttr(i, "source", ["evdev", "dev"]),
    })),
    smartcards: all("smartcard").map((c) => ({
      mode: attrValue(c, "mode") ?? "",
      type: attrValue(c, "type"),
    })),
    videos: all("video").map((v) => {
      const model = child(v, "model");
      return {
        model: model && attrValue(model, "type"),
        accel3d: model !== undefined && childAttr(model, "acceleration", "accel3d") === "yes",
      };
    }),
    cryptos: all("crypto").map((c) => ({
      model: attrValue(c, "model"),
      type: attrValue(c, "type"),
      backend: childAttr(c, "backend", "model"),
    })),
    launchSecurity: optional(child(root, "launchSecurity"), (l) => attrValue(l, "type") ?? ""),
    hyperv: optional(child(root, "features"), (f) =>
      optional(child(f, "hyperv"), (h) => attrValue(h, "mode") ?? "custom"),
    ),
    cpuFeatures: (child(root, "cpu")?.children ?? [])
      .filter((c) => c.ns === "" && c.name === "feature")
      .map((f) => ({
        name: attrValue(f, "name") ?? "",
        policy: attrValue(f, "policy") ?? "require",
      })),
    tscFrequency: (child(root, "clock")?.children ?? [])
      .filter((t) => t.ns === "" && t.name === "timer" && attrValue(t, "name") === "tsc")
      .map((t) => attrValue(t, "frequency"))
      .find((f) => f !== undefined),
    iothreads: readIothreads(root),
    qemuArgs,
    qemuIds: defined.ids,
    qemuIncoming: defined.incoming,
    colo: coloPlumbing(qemuArgs),
    metadata: metadata === undefined ? undefined : findMetadata(metadata),
  };
}

/**
 * Whether libvirt gives the domain an IOThread numbered `id`: one <iothreadids> names, or one of
 * the lowest numbers it names none of, which libvirt gives the rest of <iothreads> (in
 * virDomainIOThreadIDDefArrayInit).
 */
export function hasIothread(threads: IoThreads, id: number): boolean {
  const given = new Set(threads.ids);
  if (given.has(id)) return true;
  if (!Number.isInteger(id) || id < 1) return false;
  let givenBelow = 0;
  for (const g of given) if (g < id) givenBelow++;
  // `id` is the (id - givenBelow)-th number not given.
  return id - givenBelow <= threads.count - given.size;
}

function optional<T, R>(value: T | undefined, f: (v: T) => R): R | undefined {
  return value === undefined ? undefined : f(value);
}

function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.ns === "" && c.name === name);
}

function childAttr(el: XmlElement, name: string, attr: string): string | undefined {
  const c = child(el, name);
  return c === undefined ? undefined : attrValue(c, attr);
}

/** Which host device a <hostdev> passes, as the host names it. */
/** libvirt's size units (formatdomain "Memory Allocation"); KiB when none is given. */
const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  bytes: 1,
  kb: 1e3,
  k: 2 ** 10,
  kib: 2 ** 10,
  mb: 1e6,
  m: 2 ** 20,
  mib: 2 ** 20,
  gb: 1e9,
  g: 2 ** 30,
  gib: 2 ** 30,
  tb: 1e12,
  t: 2 ** 40,
  tib: 2 ** 40,
};

function scaledBytes(text: string, unit = "KiB"): number | undefined {
  const scale = UNITS[unit.toLowerCase()];
  const n = text.trim();
  return scale !== undefined && /^\d+$/.test(n) ? Number(n) * scale : undefined;
}

/** A <disk> element's <target dev=...>, the disk's name in the domain. */
export function diskTarget(disk: XmlElement): string | undefined {
  return childAttr(disk, "target", "dev");
}

function pciAddress(el: XmlElement): PciAddress | undefined {
  const address = child(el, "address");
  if (address === undefined || attrValue(address, "type") !== "pci") return undefined;
  const part = (name: string) => attrValue(address, name) ?? "0x0";
  return {
    domain: part("domain"),
    bus: part("bus"),
    slot: part("slot"),
    function: part("function"),
  };
}

function driveAddress(el: XmlElement): DriveAddress | undefined {
  const address = child(el, "address");
  if (address === undefined || attrValue(address, "type") !== "drive") return undefined;
  const part = (name: string) => Number(attrValue(address, name) ?? "0");
  return {
    controller: part("controller"),
    bus: part("bus"),
    target: part("target"),
    unit: part("unit"),
  };
}

function hostdevSource(hostdev: XmlElement): string | undefined {
  const source = child(hostdev, "source");
  if (source === undefined) return undefined;
  const address = child(source, "address");
  const at = (name: string) => (address === undefined ? undefined : attrValue(address, name));
  const vendor = childAttr(source, "vendor", "id");
  const product = childAttr(source, "product", "id");
  const adapter = childAttr(source, "adapter", "name");
  const [domain, bus, slot, fn] = ["domain", "bus", "slot", "function"].map(at);
  const hex = (v: string, width: number) => {
    const n = /^(0x[0-9a-f]+|[0-9]+)$/i.test(v) ? Number(v) : Number.NaN;
    return Number.isSafeInteger(n) ? n.toString(16).padStart(width, "0") : v;
  };
  if (at("uuid") !== undefined) return at("uuid"); // mdev
  if (domain !== undefined && bus !== undefined && slot !== undefined && fn !== undefined) {
    return `${hex(domain, 4)}:${hex(bus, 2)}:${hex(slot, 2)}.${hex(fn, 1)}`;
  }
  if (vendor !== undefined || product !== undefined) {
    return [vendor && `vendor ${vendor}`, product && `product ${product}`]
      .filter(Boolean)
      .join(" ");
  }
  const scsi = [bus, at("target"), at("unit")];
  if (adapter !== undefined) {
    return scsi.every((v) => v !== undefined) ? `${adapter} ${scsi.join(":")}` : adapter;
  }
  if (bus !== undefined && at("device") !== undefined) return `bus ${bus} device ${at("device")}`;
  const named = attrValue(source, "wwpn") ?? attrValue(source, "name");
  if (named !== undefined) return named;
  // mode='capabilities': <block>, <char> or <interface> as text.
  return source.children.map((c) => c.text.trim()).find((t) => t !== "");
}

function readIothreads(root: XmlElement): IoThreads {
  const count = child(root, "iothreads")?.text.trim() ?? "";
  const ids = (child(root, "iothreadids")?.children ?? [])
    .filter((c) => c.ns === "" && c.name === "iothread")
    .map((c) => attrValue(c, "id") ?? "")
    .filter((id) => /^[0-9]{1,9}$/.test(id))
    .map(Number);
  return { count: /^[0-9]{1,9}$/.test(count) ? Number(count) : 0, ids };
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
  let disks = 0;
  const images: string[] = [];
  const primaryImages = new Map<number, DiskImage>();
  const baseImages = new Map<number, DiskImage>();
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
    } else if (option === "-drive") {
      const drive = keyval(value);
      const quorum = /^colo-disk(\d+)$/.exec(drive.id ?? "")?.[1];
      const parent = /^colo-parent(\d+)$/.exec(drive.id ?? "")?.[1];
      const child = drive["children.0.file.filename"];
      if (drive.driver === "quorum" && quorum !== undefined) {
        disks++;
        if (child !== undefined)
          primaryImages.set(Number(quorum), {
            path: child,
            format: drive["children.0.driver"] ?? "raw",
          });
      }
      const base = drive["file.filename"];
      if (parent !== undefined && base !== undefined)
        baseImages.set(Number(parent), { path: base, format: drive.driver ?? "raw" });
      if (drive.id?.startsWith("colo-")) {
        images.push(
          ...Object.entries(drive).flatMap(([k, v]) => (/(^|\.)filename$/.test(k) ? [v] : [])),
        );
      }
      i++;
    }
  }
  let role: Role;
  if (types.has("colo-compare")) role = "primary";
  else if (types.has("filter-rewriter") || incoming !== undefined) role = "secondary";
  else return undefined;
  const own = role === "primary" ? primaryImages : baseImages;
  const diskImages = Array.from({ length: disks }, (_, n) => own.get(n)).filter(
    (d): d is DiskImage => d !== undefined,
  );
  return incoming === undefined
    ? { role, objects, disks, images, diskImages }
    : { role, objects, incoming, disks, images, diskImages };
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
  const fields: Record<string, string> = Object.create(null);
  keyvalParts(text).forEach(({ key, value }, i) => {
    if (key !== undefined) fields[key] = value;
    else if (i === 0) fields["qom-type"] = value;
  });
  return fields;
}

/** The parts of QEMU's key=value,... syntax in order, repeated keys too; undefined key: no "=". */
function keyvalParts(text: string): { key: string | undefined; value: string }[] {
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
  return parts.map((p) => {
    const eq = p.indexOf("=");
    return eq >= 0 ? { key: p.slice(0, eq), value: p.slice(eq + 1) } : { key: undefined, value: p };
  });
}

/** The options that define ids, and in which of QEMU's namespaces. */
const ID_OPTIONS = new Map<string, QemuIdKind>([
  ["-chardev", "chardev"],
  ["-object", "object"],
  ["-netdev", "netdev"],
  ["-nic", "netdev"],
  ["-net", "netdev"],
  ["-device", "device"],
  ["-drive", "block"],
  ["-blockdev", "block"],
  ["-fsdev", "fsdev"],
  ["-virtfs", "fsdev"],
  ["-audiodev", "audiodev"],
  ["-tpmdev", "tpmdev"],
  ["-mon", "monitor"],
]);

/**
 * The ids QEMU arguments define (`id=`; `node-name=`, nested ones too, for drives and block
 * nodes), in keyval or JSON syntax, and their -incoming values. Every value given is taken, a
 * repeated `id=` too: more than QEMU would take rather than less.
 */
export function qemuDefinitions(args: readonly string[]): { ids: QemuId[]; incoming: string[] } {
  const ids: QemuId[] = [];
  const incoming: string[] = [];
  for (let i = 0; i + 1 < args.length; i++) {
    // QEMU takes both -option and --option.
    const option = (args[i] ?? "").replace(/^--/, "-");
    const value = args[i + 1] ?? "";
    const kind = ID_OPTIONS.get(option);
    if (kind !== undefined) {
      for (const { key, id } of definedIds(value)) {
        if (key === "id") ids.push({ kind, option, id });
        else if (kind === "block") ids.push({ kind, option, id });
      }
      i++;
    } else if (option === "-incoming") {
      incoming.push(value);
      i++;
    }
  }
  return { ids, incoming };
}

/** Every `id` and node name an option's value gives; `key` is "id" or "node-name". */
function definedIds(value: string): { key: "id" | "node-name"; id: string }[] {
  const found: { key: "id" | "node-name"; id: string }[] = [];
  if (value.trimStart().startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      const top = (parsed as Record<string, unknown>).id;
      if (typeof top === "string") found.push({ key: "id", id: top });
      // Node names nest ("file": {"node-name": ...}); a stack, not recursion, for deep input.
      const stack: unknown[] = [parsed];
      for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
        if (typeof v !== "object" || v === null) continue;
        for (const [k, inner] of Object.entries(v)) {
          if (k === "node-name" && typeof inner === "string") {
            found.push({ key: "node-name", id: inner });
          } else stack.push(inner);
        }
      }
      return found;
    }
  }
  for (const { key, value: v } of keyvalParts(value)) {
    if (key === "id") found.push({ key: "id", id: v });
    else if (key === "node-name" || key?.endsWith(".node-name")) {
      found.push({ key: "node-name", id: v });
    }
  }
  return found;
}
