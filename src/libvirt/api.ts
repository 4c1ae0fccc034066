// What colo-hybrid needs from libvirt, whichever way it is reached (our RPC client, or virsh).
import type { EventEmitter } from "node:events";

export interface DomainRef {
  name: string;
  /** Canonical lowercase UUID. */
  uuid: string;
  /** -1 when not running. */
  id: number;
}

/** virDomainState. */
export const DomainState = [
  "nostate",
  "running",
  "blocked",
  "paused",
  "shutdown",
  "shutoff",
  "crashed",
  "pmsuspended",
] as const;
export type DomainStateName = (typeof DomainState)[number];

/** virDomainEventType, for lifecycle events. */
export const LifecycleEventType = [
  "defined",
  "undefined",
  "started",
  "suspended",
  "resumed",
  "stopped",
  "shutdown",
  "pmsuspended",
  "crashed",
] as const;

export interface LifecycleEvent {
  domain: DomainRef;
  type: (typeof LifecycleEventType)[number] | "unknown";
  /** The event's detail code (virDomainEvent*DetailType). */
  detail: number;
}

/** A QEMU monitor event, stamped by QEMU itself. */
export interface QemuMonitorEvent {
  domain: DomainRef;
  event: string;
  /** QEMU's timestamp in ms since the epoch (seconds and microseconds as QEMU sent them). */
  timestamp: number;
  seconds: number;
  micros: number;
  /** The event's "data", parsed; undefined when it had none. */
  details: unknown;
}

export interface Subscription {
  close(): Promise<void>;
}

/** A storage pool (remote_nonnull_storage_pool). */
export interface PoolRef {
  name: string;
  /** Canonical lowercase UUID. */
  uuid: string;
}

/** A storage volume (remote_nonnull_storage_vol): its pool's name, its own, its key. */
export interface VolumeRef {
  pool: string;
  name: string;
  /** Unique on the host; for a file, its path. */
  key: string;
}

/** virStoragePoolState. */
export const PoolState = ["inactive", "building", "running", "degraded", "inaccessible"] as const;

/** virStoragePoolInfo; sizes in bytes. */
export interface PoolInfo {
  state: (typeof PoolState)[number] | "unknown";
  capacity: number;
  allocation: number;
  /** Free space for new volumes. */
  available: number;
}

/** virDomainBlockInfo, bytes. */
export interface BlockInfo {
  /** What the guest sees (a qcow2 image's virtual size). */
  capacity: number;
  /** Host storage in use by the image. */
  allocation: number;
  /** The host file or device's own size. */
  physical: number;
}

/** virDomainModificationImpact, for metadata. */
export const Affect = { current: 0, live: 1, config: 2 } as const;

/** virDomainXMLFlags: the persistent configuration with its secrets, as `virsh edit` reads it. */
export const XML_SECURE_INACTIVE = 1 | 2;

/**
 * A libvirt connection. Emits "disconnected" (Error) once when it loses the daemon and
 * "reconnected" when it is back with every subscription restored.
 */
export interface Libvirt extends EventEmitter {
  readonly uri: string;
  lookupByName(name: string): Promise<DomainRef>;
  lookupByUuid(uuid: string): Promise<DomainRef>;
  domainXml(dom: DomainRef, flags?: number): Promise<string>;
  /**
   * Defines a persistent domain from its XML (virDomainDefineXML): a new one, or a new
   * configuration for the domain of the same name and UUID.
   */
  defineXml(xml: string): Promise<DomainRef>;
  /**
   * Removes a domain's persistent configuration (virDomainUndefine); a running domain would go
   * on, transient, so callers check that it is shut off first.
   */
  undefine(dom: DomainRef): Promise<void>;
  domainState(dom: DomainRef): Promise<{ state: DomainStateName; reason: number }>;
  /** Our element under <metadata>, or undefined when the domain has none. */
  getMetadata(dom: DomainRef, uri: string, flags?: number): Promise<string | undefined>;
  /** Writes (or with `xml` undefined removes) the element of namespace `uri`; others stay. */
  setMetadata(
    dom: DomainRef,
    uri: string,
    key: string,
    xml: string | undefined,
    flags?: number,
  ): Promise<void>;
  /** Starts a defined domain (virDomainCreateWithFlags); `paused`: VIR_DOMAIN_START_PAUSED. */
  create(dom: DomainRef, opts?: { paused?: boolean }): Promise<void>;
  /** Ends a running domain's QEMU at once (virDomainDestroy), as `virsh destroy` does. */
  destroy(dom: DomainRef): Promise<void>;
  suspend(dom: DomainRef): Promise<void>;
  resume(dom: DomainRef): Promise<void>;
  /** Runs a QMP command; resolves with its "return", rejects with QmpError. */
  qmp(dom: DomainRef, command: string, args?: Record<string, unknown>): Promise<unknown>;
  /** QEMU monitor events of one domain (or all), of one event name (or all). */
  onQemuMonitorEvent(
    dom: DomainRef | undefined,
    event: string | undefined,
    handler: (e: QemuMonitorEvent) => void,
  ): Promise<Subscription>;
  onLifecycle(
    dom: DomainRef | undefined,
    handler: (e: LifecycleEvent) => void,
  ): Promise<Subscription>;
  /**
   * Sizes of one disk of a domain, running or shut off; `disk` is its target ("vda") or its
   * source path.
   */
  domainBlockInfo(dom: DomainRef, disk: string): Promise<BlockInfo>;

  // The host.
  /** The host's capabilities XML (virConnectGetCapabilities); xml/capabilities.ts reads it. */
  capabilities(): Promise<string>;
  /** The host's free memory in bytes (virNodeGetFreeMemory); through virsh, whole KiB. */
  freeMemory(): Promise<number>;

  // Storage: how COLO block replication gets empty qcow2 images made on a (remote) host.
  /** Rejects with ErrorCode.noStoragePool when there is none of that name. */
  poolLookupByName(name: string): Promise<PoolRef>;
  /** Defines a persistent pool from its XML (virStoragePoolDefineXML); it starts inactive. */
  poolDefineXml(xml: string): Promise<PoolRef>;
  /** Makes the pool's storage (a dir pool's directory), before the first start. */
  poolBuild(pool: PoolRef): Promise<void>;
  /** Starts an inactive pool (virStoragePoolCreate). */
  poolCreate(pool: PoolRef): Promise<void>;
  /** Whether libvirt starts the pool when the host boots. */
  poolSetAutostart(pool: PoolRef, autostart: boolean): Promise<void>;
  /** Rescans the pool's storage: files made behind libvirt's back become volumes. */
  poolRefresh(pool: PoolRef): Promise<void>;
  poolInfo(pool: PoolRef): Promise<PoolInfo>;
  /** Makes a new volume in a running pool from its XML (virStorageVolCreateXML). */
  volCreateXml(pool: PoolRef, xml: string): Promise<VolumeRef>;
  /** Rejects with ErrorCode.noStorageVolume when no running pool has a volume at `path`. */
  volLookupByPath(path: string): Promise<VolumeRef>;
  /** The volume's path on its host: what a domain's disk names as its source. */
  volPath(vol: VolumeRef): Promise<string>;
  /** Deletes the volume and its storage. */
  volDelete(vol: VolumeRef): Promise<void>;
  close(): Promise<void>;
}

export function uuidToString(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function uuidToBytes(uuid: string): Uint8Array | undefined {
  const hex = uuid.replaceAll("-", "").toLowerCase();
  return /^[0-9a-f]{32}$/.test(hex) ? Uint8Array.from(Buffer.from(hex, "hex")) : undefined;
}
