// colo-hybrid's libvirt client: libvirt's RPC protocol over a unix socket, SSH or TLS, one
// connection shared by every call, reconnected with backoff when the daemon goes away.
//
// Reconnecting: one loop at a time (started when the established connection is lost, ended
// when a new one is logged in with every subscription registered, or by close()), and at most
// one connection open at any time: an attempt that fails is closed before the next begins.
// close() ends the loop, any attempt under way and the connection.
//
// Events: a handler that throws, or a QEMU event whose details are not JSON (the handler then
// gets `details: undefined`), is reported as "eventError" (an Error; `cause` is what the
// handler threw) or, with no "eventError" listener, as a process warning. Neither touches the
// connection or the events after it.
import { EventEmitter } from "node:events";
import {
  type BlockInfo,
  type DomainRef,
  DomainState,
  type Libvirt,
  type LifecycleEvent,
  LifecycleEventType,
  type PoolInfo,
  type PoolRef,
  PoolState,
  type QemuMonitorEvent,
  type Subscription,
  uuidToBytes,
  uuidToString,
  type VolumeRef,
} from "./api.js";
import { ErrorCode, LibvirtError, unlessAbsent } from "./errors.js";
import { parseQmpReply, qmpCommandJson } from "./qmp.js";
import { type ConnectionOptions, RpcConnection } from "./rpc/connection.js";
import { AuthType, DomainEventId, events, Feature, procedures } from "./rpc/protocol.js";
import type { XdrValue } from "./rpc/xdr.js";
import { openTransport } from "./transport/open.js";
import { type LibvirtUri, parseLibvirtUri, withParams } from "./uri.js";

export interface ClientOptions extends ConnectionOptions {
  /** Time to open the transport and log in, ms. */
  connectTimeout: number;
  /** Reconnect delays grow from the first to the last, doubling, ms. */
  reconnectMin: number;
  reconnectMax: number;
  /**
   * URI parameters given apart from the URI (a peer's, from hosts.conf): they steer the
   * transport, and messages show the URI without them.
   */
  params: ReadonlyMap<string, string>;
}

const DEFAULTS = { connectTimeout: 15_000, reconnectMin: 100, reconnectMax: 5_000 };

type WireDomain = XdrValue<typeof procedures.domainLookupByName.ret>["dom"];

const fromWire = (d: WireDomain): DomainRef => ({
  name: d.name,
  uuid: uuidToString(d.uuid),
  id: d.id,
});

// The wire form of each DomainRef, made once: the agent sends the same domain many times a second.
const wireCache = new WeakMap<DomainRef, WireDomain>();
function toWire(d: DomainRef): WireDomain {
  let wire = wireCache.get(d);
  if (wire?.name !== d.name || wire.id !== d.id) {
    const uuid = uuidToBytes(d.uuid);
    if (!uuid) throw new LibvirtError("usage", `'${d.uuid}' is not a UUID`);
    wire = { name: d.name, uuid, id: d.id };
    wireCache.set(d, wire);
  }
  return wire;
}

type WirePool = XdrValue<typeof procedures.storagePoolLookupByName.ret>["pool"];

const poolFromWire = (p: WirePool): PoolRef => ({ name: p.name, uuid: uuidToString(p.uuid) });

function poolToWire(p: PoolRef): WirePool {
  const uuid = uuidToBytes(p.uuid);
  if (!uuid) throw new LibvirtError("usage", `'${p.uuid}' is not a UUID`);
  return { name: p.name, uuid };
}

// The text of each command without arguments, made once: the agent polls the same few.
const commandCache = new Map<string, string>();
function commandJson(command: string, args: Record<string, unknown> | undefined): string {
  if (args !== undefined) return qmpCommandJson(command, args);
  let json = commandCache.get(command);
  if (json === undefined) {
    json = qmpCommandJson(command);
    if (commandCache.size < 64) commandCache.set(command, json);
  }
  return json;
}

interface Registration {
  /** Registers on a fresh connection; returns the server's callback id. */
  register(conn: RpcConnection): Promise<number>;
  deregister(conn: RpcConnection, serverId: number): Promise<void>;
  deliver(msg: unknown): void;
  serverId: number | undefined;
  /** What it is, for messages: "QEMU monitor events of 'web1'". */
  what: string;
}

export class LibvirtClient extends EventEmitter implements Libvirt {
  /** The established connection: logged in, every subscription registered. */
  private conn: RpcConnection | undefined;
  /** Every connection not yet closed: the established one, or the attempt under way. */
  private readonly live = new Set<RpcConnection>();
  private closing = false;
  /** Aborted by close(): ends the reconnect loop's wait and any transport being opened. */
  private readonly stop = new AbortController();
  /** The reconnect loop, while one runs (there is never more than one). */
  private reconnecting: Promise<void> | undefined;
  private readonly registrations = new Set<Registration>();

  private constructor(
    readonly uri: string,
    private readonly parsed: LibvirtUri,
    private readonly opts: Partial<ClientOptions>,
  ) {
    super();
  }

  /** Connects; rejects (once) when the first connection cannot be made. */
  static async connect(uri: string, options: Partial<ClientOptions> = {}): Promise<LibvirtClient> {
    const parsed = parseLibvirtUri(withParams(uri, options.params));
    const client = new LibvirtClient(uri, parsed, options);
    const conn = await client.open();
    if (conn.isClosed) throw new LibvirtError("connection", `${uri}: connection lost`);
    client.conn = conn;
    return client;
  }

  private option<K extends keyof typeof DEFAULTS>(k: K): number {
    return this.opts[k] ?? DEFAULTS[k];
  }

  /** A new connection, logged in; tracked in `live` from its first byte to its close. */
  private async open(): Promise<RpcConnection> {
    const stream = await openTransport(
      this.parsed,
      this.option("connectTimeout"),
      this.stop.signal,
    );
    if (this.closing) {
      stream.destroy();
      throw new LibvirtError("connection", `${this.uri}: closed`);
    }
    const conn = new RpcConnection(stream, this.opts);
    this.live.add(conn);
    conn.once("close", (reason?: Error) => {
      this.live.delete(conn);
      this.lost(conn, reason);
    });
    conn.on("handlerError", (e: Error) =>
      this.reportEventError(new Error(`event handling failed: ${e.message}`, { cause: e })),
    );
    conn.onEvent(
      events.qemuMonitorEvent.program,
      events.qemuMonitorEvent.proc,
      events.qemuMonitorEvent.msg,
      (m) => this.deliver(m),
    );
    conn.onEvent(
      events.domainLifecycle.program,
      events.domainLifecycle.proc,
      events.domainLifecycle.msg,
      (m) => this.deliver(m),
    );
    try {
      await this.login(conn);
    } catch (e) {
      conn.close();
      throw e;
    }
    return conn;
  }

  private async login(conn: RpcConnection): Promise<void> {
    const { types } = await conn.call(procedures.authList, undefined, "auth list");
    if (types.length > 0 && !types.includes(AuthType.none)) {
      if (!types.includes(AuthType.polkit)) {
        throw new LibvirtError(
          "connection",
          `${this.uri}: the daemon wants SASL authentication, which colo-hybrid does not do`,
          ErrorCode.authFailed,
        );
      }
      await conn.call(procedures.authPolkit, undefined, "polkit authentication");
    }
    const keepalive = await conn.call(
      procedures.connectSupportsFeature,
      { feature: Feature.programKeepalive },
      "keepalive support",
    );
    await conn.call(procedures.connectOpen, { name: this.parsed.daemonUri, flags: 0 }, "open");
    if (keepalive.supported) conn.startKeepalive();
  }

  /** The established connection closed: tell listeners once, reconnect. */
  private lost(conn: RpcConnection, reason: Error | undefined): void {
    // An attempt that fails is not established: the loop that made it goes on.
    if (this.conn !== conn || this.closing) return;
    this.conn = undefined;
    for (const r of this.registrations) r.serverId = undefined;
    this.emit(
      "disconnected",
      reason ?? new LibvirtError("connection", `${this.uri}: connection lost`),
    );
    if (this.closing || this.reconnecting) return; // a listener may have closed us
    this.reconnecting = this.reconnect();
  }

  /**
   * Tries until a connection is logged in with every subscription registered, or close():
   * one attempt at a time, each closed before the next when it fails.
   */
  private async reconnect(): Promise<void> {
    let delay = this.option("reconnectMin");
    while (!this.closing) {
      await this.pause(delay);
      if (this.closing) break;
      const conn = await this.attempt();
      if (conn && !conn.isClosed && !this.closing) {
        // Synchronously from the check to the emit: a loss from now on starts the next loop.
        this.reconnecting = undefined;
        this.conn = conn;
        this.emit("reconnected");
        return;
      }
      conn?.close();
      for (const r of this.registrations) r.serverId = undefined;
      delay = Math.min(delay * 2, this.option("reconnectMax"));
    }
    this.reconnecting = undefined;
  }

  /** One connection with every subscription registered on it, or undefined (and closed). */
  private async attempt(): Promise<RpcConnection | undefined> {
    let conn: RpcConnection | undefined;
    try {
      conn = await this.open();
      for (const r of this.registrations) r.serverId = await r.register(conn);
      return conn;
    } catch {
      conn?.close(); // the loop tries again after its pause
      return undefined;
    }
  }

  /** Waits `ms`, or less when close() is called. */
  private pause(ms: number): Promise<void> {
    const signal = this.stop.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** An event handler threw, or an event could not be made sense of: "eventError", or a warning. */
  private reportEventError(error: Error): void {
    if (this.listenerCount("eventError") === 0) {
      process.emitWarning(error.message, { type: "LibvirtEventError" });
      return;
    }
    try {
      this.emit("eventError", error);
    } catch {
      // A listener that throws has nowhere further to report to; the connection goes on.
    }
  }

  private connection(what: string): RpcConnection {
    if (this.conn && !this.conn.isClosed) return this.conn;
    const state = this.closing ? "closed" : "reconnecting";
    throw new LibvirtError(
      "connection",
      `${what}: not connected to ${this.uri} (${state})`,
      ErrorCode.noConnect,
    );
  }

  private deliver(msg: { callbackID: number }): void {
    for (const r of this.registrations) {
      if (r.serverId !== msg.callbackID) continue;
      try {
        r.deliver(msg);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        this.reportEventError(new Error(`${r.what}: the handler threw: ${message}`, { cause: e }));
      }
    }
  }

  // ---- domains ----------------------------------------------------------------------------

  async lookupByName(name: string): Promise<DomainRef> {
    const what = `lookup of domain '${name}'`;
    const r = await this.connection(what).call(procedures.domainLookupByName, { name }, what);
    return fromWire(r.dom);
  }

  async lookupByUuid(uuid: string): Promise<DomainRef> {
    const bytes = uuidToBytes(uuid);
    if (!bytes) throw new LibvirtError("usage", `'${uuid}' is not a UUID`, ErrorCode.invalidArg);
    const what = `lookup of domain ${uuid}`;
    const r = await this.connection(what).call(
      procedures.domainLookupByUuid,
      { uuid: bytes },
      what,
    );
    return fromWire(r.dom);
  }

  async domainXml(dom: DomainRef, flags = 0): Promise<string> {
    const what = `XML of '${dom.name}'`;
    const r = await this.connection(what).call(
      procedures.domainGetXmlDesc,
      { dom: toWire(dom), flags },
      what,
    );
    return r.xml;
  }

  async defineXml(xml: string): Promise<DomainRef> {
    const what = "defining a domain";
    const r = await this.connection(what).call(procedures.domainDefineXml, { xml }, what);
    return fromWire(r.dom);
  }

  async undefine(dom: DomainRef): Promise<void> {
    const what = `undefining '${dom.name}'`;
    await this.connection(what).call(procedures.domainUndefine, { dom: toWire(dom) }, what);
  }

  async domainState(
    dom: DomainRef,
  ): Promise<{ state: (typeof DomainState)[number]; reason: number }> {
    const what = `state of '${dom.name}'`;
    const r = await this.connection(what).call(
      procedures.domainGetState,
      { dom: toWire(dom), flags: 0 },
      what,
    );
    return { state: DomainState[r.state] ?? "nostate", reason: r.reason };
  }

  async getMetadata(dom: DomainRef, uri: string, flags = 0): Promise<string | undefined> {
    const what = `metadata of '${dom.name}'`;
    const call = this.connection(what).call(
      procedures.domainGetMetadata,
      { dom: toWire(dom), type: METADATA_ELEMENT, uri, flags },
      what,
    );
    return (await unlessAbsent(call, ErrorCode.noDomainMetadata))?.metadata;
  }

  async setMetadata(
    dom: DomainRef,
    uri: string,
    key: string,
    xml: string | undefined,
    flags = 0,
  ): Promise<void> {
    const what = `setting metadata of '${dom.name}'`;
    await this.connection(what).call(
      procedures.domainSetMetadata,
      {
        dom: toWire(dom),
        type: METADATA_ELEMENT,
        metadata: xml ?? null,
        key: xml === undefined ? null : key,
        uri,
        flags,
      },
      what,
    );
  }

  async create(dom: DomainRef, opts: { paused?: boolean } = {}): Promise<void> {
    const what = `starting '${dom.name}'`;
    const flags = opts.paused ? START_PAUSED : 0;
    await this.connection(what).call(
      procedures.domainCreateWithFlags,
      { dom: toWire(dom), flags },
      what,
    );
  }

  async destroy(dom: DomainRef): Promise<void> {
    const what = `destroying '${dom.name}'`;
    await this.connection(what).call(procedures.domainDestroy, { dom: toWire(dom) }, what);
  }

  async suspend(dom: DomainRef): Promise<void> {
    const what = `suspending '${dom.name}'`;
    await this.connection(what).call(procedures.domainSuspend, { dom: toWire(dom) }, what);
  }

  async resume(dom: DomainRef): Promise<void> {
    const what = `resuming '${dom.name}'`;
    await this.connection(what).call(procedures.domainResume, { dom: toWire(dom) }, what);
  }

  async qmp(dom: DomainRef, command: string, args?: Record<string, unknown>): Promise<unknown> {
    const what = `QMP ${command} on '${dom.name}'`;
    const r = await this.connection(what).call(
      procedures.qemuMonitorCommand,
      { dom: toWire(dom), cmd: commandJson(command, args), flags: 0 },
      what,
    );
    return parseQmpReply(command, r.result);
  }

  async domainBlockInfo(dom: DomainRef, disk: string): Promise<BlockInfo> {
    const what = `block info of '${disk}' of '${dom.name}'`;
    const r = await this.connection(what).call(
      procedures.domainGetBlockInfo,
      { dom: toWire(dom), path: disk, flags: 0 },
      what,
    );
    return {
      capacity: Number(r.capacity),
      allocation: Number(r.allocation),
      physical: Number(r.physical),
    };
  }

  // ---- the host ---------------------------------------------------------------------------

  async capabilities(): Promise<string> {
    const what = "host capabilities";
    const r = await this.connection(what).call(procedures.connectGetCapabilities, undefined, what);
    return r.capabilities;
  }

  async freeMemory(): Promise<number> {
    const what = "free memory of the host";
    const r = await this.connection(what).call(procedures.nodeGetFreeMemory, undefined, what);
    return Number(r.freeMem);
  }

  // ---- storage ----------------------------------------------------------------------------

  async poolLookupByName(name: string): Promise<PoolRef> {
    const what = `lookup of pool '${name}'`;
    const r = await this.connection(what).call(procedures.storagePoolLookupByName, { name }, what);
    return poolFromWire(r.pool);
  }

  async poolDefineXml(xml: string): Promise<PoolRef> {
    const what = "defining a pool";
    const r = await this.connection(what).call(
      procedures.storagePoolDefineXml,
      { xml, flags: 0 },
      what,
    );
    return poolFromWire(r.pool);
  }

  async poolBuild(pool: PoolRef): Promise<void> {
    const what = `building pool '${pool.name}'`;
    await this.connection(what).call(
      procedures.storagePoolBuild,
      { pool: poolToWire(pool), flags: 0 },
      what,
    );
  }

  async poolCreate(pool: PoolRef): Promise<void> {
    const what = `starting pool '${pool.name}'`;
    await this.connection(what).call(
      procedures.storagePoolCreate,
      { pool: poolToWire(pool), flags: 0 },
      what,
    );
  }

  async poolSetAutostart(pool: PoolRef, autostart: boolean): Promise<void> {
    const what = `setting autostart of pool '${pool.name}'`;
    await this.connection(what).call(
      procedures.storagePoolSetAutostart,
      { pool: poolToWire(pool), autostart: autostart ? 1 : 0 },
      what,
    );
  }

  async poolRefresh(pool: PoolRef): Promise<void> {
    const what = `refreshing pool '${pool.name}'`;
    await this.connection(what).call(
      procedures.storagePoolRefresh,
      { pool: poolToWire(pool), flags: 0 },
      what,
    );
  }

  async poolInfo(pool: PoolRef): Promise<PoolInfo> {
    const what = `info of pool '${pool.name}'`;
    const r = await this.connection(what).call(
      procedures.storagePoolGetInfo,
      { pool: poolToWire(pool) },
      what,
    );
    return {
      state: PoolState[r.state] ?? "unknown",
      capacity: Number(r.capacity),
      allocation: Number(r.allocation),
      available: Number(r.available),
    };
  }

  async volCreateXml(pool: PoolRef, xml: string): Promise<VolumeRef> {
    const what = `creating a volume in pool '${pool.name}'`;
    const r = await this.connection(what).call(
      procedures.storageVolCreateXml,
      { pool: poolToWire(pool), xml, flags: 0 },
      what,
    );
    return r.vol;
  }

  async volLookupByPath(path: string): Promise<VolumeRef> {
    const what = `lookup of volume ${path}`;
    const r = await this.connection(what).call(procedures.storageVolLookupByPath, { path }, what);
    return r.vol;
  }

  async volPath(vol: VolumeRef): Promise<string> {
    const what = `path of volume '${vol.name}' in pool '${vol.pool}'`;
    const r = await this.connection(what).call(procedures.storageVolGetPath, { vol }, what);
    return r.name;
  }

  async volDelete(vol: VolumeRef): Promise<void> {
    const what = `deleting volume '${vol.name}' in pool '${vol.pool}'`;
    await this.connection(what).call(procedures.storageVolDelete, { vol, flags: 0 }, what);
  }

  // ---- events -----------------------------------------------------------------------------

  private async subscribe(r: Registration, what: string): Promise<Subscription> {
    r.serverId = await r.register(this.connection(what));
    this.registrations.add(r);
    return {
      close: async () => {
        if (!this.registrations.delete(r)) return;
        const id = r.serverId;
        if (id !== undefined && this.conn && !this.conn.isClosed) await r.deregister(this.conn, id);
      },
    };
  }

  onQemuMonitorEvent(
    dom: DomainRef | undefined,
    event: string | undefined,
    handler: (e: QemuMonitorEvent) => void,
  ): Promise<Subscription> {
    const what = `QEMU monitor events${dom ? ` of '${dom.name}'` : ""}`;
    const args = { dom: dom ? toWire(dom) : null, event: event ?? null, flags: 0 };
    return this.subscribe(
      {
        serverId: undefined,
        what,
        register: async (conn) =>
          (await conn.call(procedures.qemuMonitorEventRegister, args, what)).callbackID,
        deregister: async (conn, callbackID) => {
          await conn.call(procedures.qemuMonitorEventDeregister, { callbackID }, what);
        },
        deliver: (msg) => {
          const m = msg as XdrValue<typeof events.qemuMonitorEvent.msg>;
          const seconds = Number(m.seconds);
          handler({
            domain: fromWire(m.dom),
            event: m.event,
            seconds,
            micros: m.micros,
            timestamp: seconds * 1000 + m.micros / 1000,
            details: m.details === null ? undefined : this.parseDetails(what, m.event, m.details),
          });
        },
      },
      what,
    );
  }

  onLifecycle(
    dom: DomainRef | undefined,
    handler: (e: LifecycleEvent) => void,
  ): Promise<Subscription> {
    const what = `lifecycle events${dom ? ` of '${dom.name}'` : ""}`;
    const args = { eventID: DomainEventId.lifecycle, dom: dom ? toWire(dom) : null };
    return this.subscribe(
      {
        serverId: undefined,
        what,
        register: async (conn) =>
          (await conn.call(procedures.domainEventCallbackRegisterAny, args, what)).callbackID,
        deregister: async (conn, callbackID) => {
          await conn.call(procedures.domainEventCallbackDeregisterAny, { callbackID }, what);
        },
        deliver: (msg) => {
          const { msg: m } = msg as XdrValue<typeof events.domainLifecycle.msg>;
          handler({
            domain: fromWire(m.dom),
            type: LifecycleEventType[m.event] ?? "unknown",
            detail: m.detail,
          });
        },
      },
      what,
    );
  }

  /** QEMU's event "data" as JSON; text that is not JSON is reported and gives undefined. */
  private parseDetails(what: string, event: string, details: string): unknown {
    try {
      return JSON.parse(details);
    } catch {
      this.reportEventError(
        new LibvirtError(
          "protocol",
          `${what}: the details of ${event} are not JSON: ${details.slice(0, 200)}`,
        ),
      );
      return undefined;
    }
  }

  /** Ends everything: the reconnect loop, any attempt under way, the connection. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.stop.abort();
    const conn = this.conn;
    this.conn = undefined;
    this.registrations.clear();
    for (const c of this.live) if (c !== conn) c.close();
    // A "reconnected" listener's exception is its own (it surfaced when it was thrown).
    const loop = this.reconnecting?.catch(() => {});
    if (conn && !conn.isClosed) {
      try {
        await conn.call(procedures.connectClose, undefined, "close");
      } catch {
        // The daemon (or the ssh proxy in front of it) may hang up before it replies.
      } finally {
        conn.close();
      }
    }
    await loop;
  }
}

/** VIR_DOMAIN_METADATA_ELEMENT: an XML element of our own namespace. */
const METADATA_ELEMENT = 2;
/** VIR_DOMAIN_START_PAUSED. */
const START_PAUSED = 1;
