// One protected domain's agent: the thin executor around the pair controller
// (src/pair/controller.ts). QEMU's events, libvirt's state, timer expiries and the outcomes of
// its work go in, each with the time; the QMP commands, timers and publications the controller
// asks for come out and are carried out here through src/libvirt/. No decision is taken here.
import { EventEmitter } from "node:events";
import type { ParamPatch } from "../colo/params.js";
import type { CheckpointRecord } from "../colo/stats.js";
import { Affect, type DomainRef, type Libvirt } from "../libvirt/api.js";
import { connectLibvirt, type Via } from "../libvirt/connect.js";
import { connectPeer, nbdTarget, replicationTarget } from "../libvirt/peer.js";
import { parseDomainXml } from "../libvirt/xml/domain.js";
import {
  formatMetadata,
  type HybridMetadata,
  type HybridMetadataResult,
  METADATA_KEY,
  METADATA_NS,
} from "../libvirt/xml/metadata.js";
import { XmlError } from "../libvirt/xml/tree.js";
import { PairController } from "../pair/controller.js";
import { primaryFailover, runFailover, secondaryFailover } from "../pair/failover.js";
import { plumbedNics } from "../pair/ids.js";
import { readPrimary, readSide } from "../pair/pair-state.js";
import { type PairSide, protect } from "../pair/protect.js";
import type {
  Answer,
  Input,
  Occurrence,
  Output,
  PairConfig,
  Request,
  Side,
  TimerName,
  Work,
} from "../pair/protocol.js";
import { qemuInfo } from "../pair/qemu-info.js";
import { resyncWith } from "../pair/reprotect.js";
import { EXIT_CONFIG } from "./exit-status.js";
import { type Level, type Logger, makeLogger } from "./log.js";
import type { AgentControl, AgentStatus, SetParamsResult } from "./status.js";

export interface AgentOptions {
  uuid: string;
  /** This host's libvirt. */
  uri: string;
  via?: Via;
  /** Default: lines on stderr naming the domain (log.ts). */
  log?: Logger;
  /** How long to wait before trying an unreachable peer again, ms. */
  peerRetryMs?: number;
  /** How libvirt is reached: this host's, and the peer's (default: connectLibvirt, connectPeer). */
  connect?: (uri: string, whose: "own" | "peer") => Promise<Libvirt>;
}

export class AgentError extends Error {
  override name = "AgentError";
  constructor(
    message: string,
    /** The process's exit status, when this ends the agent. */
    readonly exitStatus = 1,
  ) {
    super(message);
  }
}

/** Runs commands one after another, in the order they were asked for. */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(f: () => Promise<T>): Promise<T> {
    const p = this.tail.then(f);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

const OWN_EVENTS = ["STOP", "RESUME", "MIGRATION", "COLO_EXIT"];
/** Closing waits this long at most for QEMU to take the COLO period back. */
const CLOSE_TIMEOUT_MS = 10_000;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class Agent extends EventEmitter implements AgentControl {
  private readonly controller: PairController;
  /** The primary's commands in the order issued: a period set twice must end as asked last. */
  private readonly ownCommands = new Serial();
  private peer: PairSide | undefined;
  private readonly timers = new Map<TimerName, NodeJS.Timeout>();
  private readonly requests = new Map<number, (a: Answer) => void>();
  private nextRequest = 1;
  private readonly closers: (() => Promise<void>)[] = [];
  /** What lets go of the secondary reached: its subscription, then its connection. */
  private peerClosers: (() => Promise<void>)[] = [];
  private readonly closedWaiters: (() => void)[] = [];
  private released = false;
  private readonly logger: Logger;

  private constructor(
    private readonly lv: Libvirt,
    private readonly dom: DomainRef,
    /** Its metadata, and what its plumbing replicates (failover and protect handle them too). */
    private config: PairConfig,
    private readonly opts: AgentOptions,
  ) {
    super();
    this.logger = opts.log ?? makeLogger(dom.name);
    this.controller = new PairController({
      domain: dom.name,
      uuid: dom.uuid,
      ...config,
      ...(opts.peerRetryMs !== undefined && { peerRetryMs: opts.peerRetryMs }),
    });
  }

  private get meta(): HybridMetadata {
    return this.config.meta;
  }

  /**
   * Connects, reads the domain's metadata and starts following QEMU. Resolves as soon as the
   * agent can be published: reading QEMU's state, reaching the secondary and starting
   * replication go on behind it (the status says "connecting" meanwhile).
   */
  static async start(opts: AgentOptions): Promise<Agent> {
    const lv = await (opts.connect?.(opts.uri, "own") ?? connectLibvirt(opts.uri, opts.via));
    try {
      const dom = await lv.lookupByUuid(opts.uuid);
      const agent = new Agent(lv, dom, await readPair(lv, dom), opts);
      await agent.begin();
      return agent;
    } catch (e) {
      await lv.close();
      throw e;
    }
  }

  private async begin(): Promise<void> {
    // Only the events read here: libvirt filters the rest out (MIGRATION_PASS alone is one
    // more event per checkpoint).
    for (const name of OWN_EVENTS) {
      const sub = await this.lv.onQemuMonitorEvent(this.dom, name, (e) =>
        this.feed({
          type: "qemu-event",
          side: "own",
          event: e.event,
          t: e.timestamp,
          details: e.details,
        }),
      );
      this.closers.push(() => sub.close());
    }
    const life = await this.lv.onLifecycle(this.dom, (e) => {
      if (e.type === "stopped" || e.type === "crashed")
        this.feed({ type: "domain-stopped", why: e.type });
    });
    this.closers.push(() => life.close());
    this.followConnection(this.lv, "own");
    let qemu = "";
    try {
      qemu = (await qemuInfo(this.lv, this.dom)).text;
    } catch (e) {
      this.log("warning", `QEMU's version is unknown: ${message(e)}`);
    }
    this.feed({ type: "start", qemu });
  }

  private followConnection(lv: Libvirt, side: Side): void {
    lv.on("disconnected", (e: Error) =>
      this.feed({ type: "libvirt-lost", side, error: `${lv.uri}: ${e.message}` }),
    );
    lv.on("reconnected", () => this.feed({ type: "libvirt-back", side }));
  }

  // --- the loop -------------------------------------------------------------------------

  private feed(input: Occurrence): void {
    let outputs: Output[];
    try {
      outputs = this.controller.handle({ ...input, now: Date.now() } as Input);
    } catch (e) {
      // The controller is pure; an exception is our bug. Say it, keep the agent up.
      this.log("error", `internal error on ${input.type}: ${(e as Error).stack ?? message(e)}`);
      return;
    }
    for (const o of outputs) this.perform(o);
  }

  private perform(o: Output): void {
    switch (o.type) {
      case "work":
        this.run(o.work).then(
          (result) => this.feed({ type: "done", id: o.id, result }),
          (e) => this.feed({ type: "failed", id: o.id, error: message(e) }),
        );
        return;
      case "set-timer": {
        clearTimeout(this.timers.get(o.name));
        const name = o.name;
        this.timers.set(
          name,
          setTimeout(() => {
            this.timers.delete(name);
            this.feed({ type: "timer", name });
          }, o.ms),
        );
        return;
      }
      case "clear-timer":
        clearTimeout(this.timers.get(o.name));
        this.timers.delete(o.name);
        return;
      case "answer":
        this.requests.get(o.id)?.(o.answer);
        this.requests.delete(o.id);
        return;
      case "log":
        this.log(o.level, o.text);
        return;
      case "changed":
        this.emit("changed");
        return;
      case "checkpoint":
        this.emit("checkpoint", o.record);
        return;
      case "transition":
        this.emit("transition", o.transition);
        return;
      case "config":
        this.config = o.config;
        return;
      case "closed":
        for (const t of this.timers.values()) clearTimeout(t);
        this.timers.clear();
        for (const w of this.closedWaiters.splice(0)) w();
        return;
    }
  }

  private async run(w: Work): Promise<unknown> {
    switch (w.kind) {
      case "qmp": {
        if (w.side === "peer") {
          const peer = this.mustPeer();
          return peer.lv.qmp(peer.dom, w.command, w.args);
        }
        // yank is what unsticks a command in front of it: it never queues.
        if (w.command === "yank") return this.lv.qmp(this.dom, w.command, w.args);
        return this.ownCommands.run(() => this.lv.qmp(this.dom, w.command, w.args));
      }
      case "read-state":
        return this.ownCommands.run(() =>
          this.meta.role === "primary"
            ? readPrimary(this.lv, this.dom)
            : readSide(this.lv, this.dom),
        );
      case "protect": {
        const peer = this.mustPeer();
        const ports = this.meta.ports;
        if (ports === undefined) throw new Error("the metadata keeps no replication port");
        const migrationUri = replicationTarget(this.meta.peer.uri, ports.migration);
        if (this.config.disks > 0 && ports.nbd === undefined)
          throw new Error("the metadata keeps no NBD port for the replicated disks");
        this.log("info", `starting replication to '${peer.dom.name}' (${migrationUri})`);
        return protect({ lv: this.lv, dom: this.dom }, peer, {
          period: w.period,
          migrationUri,
          ...(ports.nbd !== undefined &&
            this.config.disks > 0 && {
              disks: { count: this.config.disks, ...nbdTarget(this.meta.peer.uri, ports.nbd) },
            }),
        });
      }
      case "failover":
        return runFailover(
          this.lv,
          this.dom,
          this.meta.role === "primary"
            ? primaryFailover(this.config.disks, this.config.nics)
            : secondaryFailover(this.config.disks, this.config.nics),
        );
      case "store-metadata":
        return this.lv.setMetadata(
          this.dom,
          METADATA_NS,
          METADATA_KEY,
          formatMetadata(w.meta),
          Affect.live | Affect.config,
        );
      case "connect-peer":
        return this.reachPeer();
      case "drop-peer": {
        this.peer = undefined;
        const closers = this.peerClosers;
        this.peerClosers = [];
        for (const close of closers) await close().catch(() => undefined);
        return undefined;
      }
      case "resync":
        return this.resyncSurvivor(w.secondaryUri);
    }
  }

  private mustPeer(): PairSide {
    if (this.peer === undefined) throw new Error("the secondary is not reached");
    return this.peer;
  }

  /**
   * The survivor's half of re-protection (reprotect.ts): planned from the domain's persistent
   * XML toward the secondary waiting on `uri`'s host, carried out, and the side's configuration
   * read back, its primary's now.
   */
  private async resyncSurvivor(uri: string): Promise<PairConfig> {
    const host = await (this.opts.connect?.(uri, "peer") ??
      connectPeer(uri, this.opts.via === undefined ? {} : { via: this.opts.via }));
    try {
      this.log("info", `re-protecting with '${this.meta.peer.domain}' at ${uri}`);
      await resyncWith({ lv: this.lv, dom: this.dom }, { lv: host, uri }, this.meta.peer.domain);
      return await readPair(this.lv, this.dom);
    } finally {
      await host.close();
    }
  }

  /** Connects to the secondary and follows its RESUMEs; resolves with its QEMU's version. */
  private async reachPeer(): Promise<string> {
    const { uri, domain } = this.meta.peer;
    let lv: Libvirt | undefined;
    try {
      lv = await (this.opts.connect?.(uri, "peer") ??
        connectPeer(uri, this.opts.via === undefined ? {} : { via: this.opts.via }));
      const dom = await lv.lookupByName(domain);
      const sub = await lv.onQemuMonitorEvent(dom, "RESUME", (e) =>
        this.feed({
          type: "qemu-event",
          side: "peer",
          event: e.event,
          t: e.timestamp,
          details: e.details,
        }),
      );
      const peerLv = lv;
      this.peerClosers.push(
        () => sub.close(),
        () => peerLv.close(),
      );
      this.followConnection(lv, "peer");
      this.peer = { lv, dom };
      try {
        return (await qemuInfo(lv, dom)).text;
      } catch (e) {
        this.log("warning", `the secondary's QEMU version is unknown: ${message(e)}`);
        return "";
      }
    } catch (e) {
      if (this.peer === undefined) await lv?.close();
      throw e;
    }
  }

  private request(request: Request): Promise<Answer> {
    const id = this.nextRequest++;
    return new Promise((resolve) => {
      this.requests.set(id, resolve);
      this.feed({ type: "request", id, request });
    });
  }

  // --- AgentControl ----------------------------------------------------------------------

  status(): AgentStatus {
    return this.controller.status(Date.now());
  }

  recent(): CheckpointRecord[] {
    return this.controller.recent(Date.now());
  }

  async setParams(patch: ParamPatch): Promise<SetParamsResult> {
    const a = await this.request({ kind: "set-params", patch });
    if ("error" in a) throw new AgentError(a.error);
    return a;
  }

  async failover(): Promise<void> {
    const a = await this.request({ kind: "failover" });
    if ("error" in a) throw new AgentError(a.error);
  }

  /** Begins re-protection with the secondary waiting on `secondaryUri`'s host (its peer's by default). */
  async resync(secondaryUri: string): Promise<void> {
    const a = await this.request({
      kind: "resync",
      secondaryUri: secondaryUri || this.meta.peer.uri,
    });
    if ("error" in a) throw new AgentError(a.error);
  }

  resetStats(): void {
    void this.request({ kind: "reset-stats" });
  }

  /** Leaves QEMU as COLO mode wants it (period restored, secondary released) and lets go. */
  async close(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const closed = new Promise<void>((r) => this.closedWaiters.push(r));
    this.feed({ type: "request", id: this.nextRequest++, request: { kind: "close" } });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, CLOSE_TIMEOUT_MS)))]);
    clearTimeout(timer);
    for (const t of this.timers.values()) clearTimeout(t);
    for (const close of [...this.peerClosers, ...this.closers.reverse()])
      await close().catch(() => undefined);
    await this.lv.close();
  }

  log(level: Level, text: string): void {
    this.logger(level, text);
  }
}

/** The domain's metadata, and how many disks and NICs its plumbing replicates. */
async function readPair(lv: Libvirt, dom: DomainRef): Promise<PairConfig> {
  let meta: HybridMetadataResult | undefined;
  let disks = 0;
  let nics = 0;
  try {
    const info = parseDomainXml(await lv.domainXml(dom));
    meta = info.metadata;
    disks = info.colo?.disks ?? 0;
    nics = plumbedNics(info.colo?.objects ?? []);
  } catch (e) {
    if (!(e instanceof XmlError)) throw e;
    throw new AgentError(`cannot read the XML of domain '${dom.name}': ${e.message}`, EXIT_CONFIG);
  }
  if (meta === undefined) {
    throw new AgentError(`domain '${dom.name}' has no colo-hybrid metadata`, EXIT_CONFIG);
  }
  if (!meta.ok) {
    const why = meta.errors.map((e) => `${e.path}: ${e.message}`).join("; ");
    throw new AgentError(
      `domain '${dom.name}' has invalid colo-hybrid metadata: ${why}`,
      EXIT_CONFIG,
    );
  }
  return { meta: meta.value, disks, nics };
}
