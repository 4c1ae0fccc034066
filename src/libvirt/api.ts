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

/** virDomainModificationImpact, for metadata. */
export const Affect = { current: 0, live: 1, config: 2 } as const;

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
