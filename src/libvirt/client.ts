// colo-hybrid's libvirt client: libvirt's RPC protocol over a unix socket, SSH or TLS, one
// connection shared by every call, reconnected with backoff when the daemon goes away.
import { EventEmitter } from "node:events";
import {
  type DomainRef,
  DomainState,
  type Libvirt,
  type LifecycleEvent,
  LifecycleEventType,
  type QemuMonitorEvent,
  type Subscription,
  uuidToBytes,
  uuidToString,
} from "./api.js";
import { ErrorCode, LibvirtError, unlessAbsent } from "./errors.js";
import { parseQmpReply, qmpCommandJson } from "./qmp.js";
import { type ConnectionOptions, RpcConnection } from "./rpc/connection.js";
import { decodeBody } from "./rpc/message.js";
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

interface Registration {
  /** Registers on a fresh connection; returns the server's callback id. */
  register(conn: RpcConnection): Promise<number>;
  deregister(conn: RpcConnection, serverId: number): Promise<void>;
  deliver(msg: unknown): void;
  serverId: number | undefined;
}

export class LibvirtClient extends EventEmitter implements Libvirt {
  private conn: RpcConnection | undefined;
  private closing = false;
  private reconnectDelay: number;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly registrations = new Set<Registration>();

  private constructor(
    readonly uri: string,
    private readonly parsed: LibvirtUri,
    private readonly opts: Partial<ClientOptions>,
  ) {
    super();
    this.reconnectDelay = this.option("reconnectMin");
  }

  /** Connects; rejects (once) when the first connection cannot be made. */
  static async connect(uri: string, options: Partial<ClientOptions> = {}): Promise<LibvirtClient> {
    const parsed = parseLibvirtUri(withParams(uri, options.params));
    const client = new LibvirtClient(uri, parsed, options);
    client.conn = await client.open();
    return client;
  }

  private option<K extends keyof typeof DEFAULTS>(k: K): number {
    return this.opts[k] ?? DEFAULTS[k];
  }

  private async open(): Promise<RpcConnection> {
    const stream = await openTransport(this.parsed, this.option("connectTimeout"));
    const conn = new RpcConnection(stream, this.opts);
    conn.onEvent(events.qemuMonitorEvent.program, events.qemuMonitorEvent.proc, (body) =>
      this.deliver(decodeBody(body, events.qemuMonitorEvent.msg)),
    );
    conn.onEvent(events.domainLifecycle.program, events.domainLifecycle.proc, (body) =>
      this.deliver(decodeBody(body, events.domainLifecycle.msg)),
    );
    try {
      await this.login(conn);
    } catch (e) {
      conn.close();
      throw e;
    }
    conn.once("close", (reason?: Error) => this.lost(conn, reason));
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

  private lost(conn: RpcConnection, reason: Error | undefined): void {
    if (this.conn !== conn || this.closing) return;
    this.conn = undefined;
    for (const r of this.registrations) r.serverId = undefined;
    this.emit(
      "disconnected",
      reason ?? new LibvirtError("connection", `${this.uri}: connection lost`),
    );
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.reconnectTimer = setTimeout(async () => {
      try {
        const conn = await this.open();
        if (this.closing) {
          conn.close();
          return;
        }
        this.conn = conn;
        for (const r of this.registrations) r.serverId = await r.register(conn);
        this.reconnectDelay = this.option("reconnectMin");
        this.emit("reconnected");
      } catch {
        if (this.closing) return;
        this.conn?.close();
        this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.option("reconnectMax"));
        this.scheduleReconnect();
      }
    }, this.reconnectDelay);
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
      if (r.serverId === msg.callbackID) r.deliver(msg);
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
      { dom: toWire(dom), cmd: qmpCommandJson(command, args), flags: 0 },
      what,
    );
    return parseQmpReply(command, r.result);
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
            details: m.details === null ? undefined : JSON.parse(m.details),
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

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    const conn = this.conn;
    this.conn = undefined;
    this.registrations.clear();
    if (!conn || conn.isClosed) return;
    try {
      await conn.call(procedures.connectClose, undefined, "close");
    } catch {
      // The daemon (or the ssh proxy in front of it) may hang up before it replies.
    } finally {
      conn.close();
    }
  }
}

/** VIR_DOMAIN_METADATA_ELEMENT: an XML element of our own namespace. */
const METADATA_ELEMENT = 2;
