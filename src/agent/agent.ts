// One protected domain's agent: the thin loop around the policy core. QEMU's events come in
// through libvirt, are read as checkpoints and fed to HybridCore; its actions go out as QMP
// through libvirt. State is always derived from QEMU (on start and after a lost connection).
import { EventEmitter } from "node:events";
import { HybridCore } from "../colo/core.js";
import type { Action, PolicyEvent, Transition } from "../colo/events.js";
import { applyPatch, type ParamPatch, type Params, toExternal } from "../colo/params.js";
import type { CheckpointRecord } from "../colo/stats.js";
import { Affect, type DomainRef, type Libvirt, type QemuMonitorEvent } from "../libvirt/api.js";
import { connectLibvirt, type Via } from "../libvirt/connect.js";
import { connectPeer, replicationTarget } from "../libvirt/peer.js";
import { parseDomainXml } from "../libvirt/xml/domain.js";
import {
  formatMetadata,
  type HybridMetadata,
  type HybridMetadataResult,
  METADATA_KEY,
  METADATA_NS,
} from "../libvirt/xml/metadata.js";
import { XmlError } from "../libvirt/xml/tree.js";
import { CheckpointReader } from "../pair/checkpoints.js";
import { coloReasonOf, coloStateOf } from "../pair/colo-state.js";
import { primaryFailover, secondaryFailover } from "../pair/failover.js";
import {
  NATIVE_HYBRID_PARAMS,
  type PrimaryState,
  readPrimary,
  readSide,
  type SideState,
  setCheckpointDelay,
} from "../pair/pair-state.js";
import { type PairSide, protect } from "../pair/protect.js";
import { qemuInfo } from "../pair/qemu-info.js";
import { EXIT_CONFIG } from "./exit-status.js";
import { type Level, type Logger, makeLogger } from "./log.js";
import {
  type AgentControl,
  type AgentStatus,
  type ColoState,
  HISTORY_KEPT,
  type HistoryEntry,
  type HistoryKind,
  type SetParamsResult,
} from "./status.js";

export interface AgentOptions {
  uuid: string;
  /** This host's libvirt. */
  uri: string;
  via?: Via;
  /** Default: lines on stderr naming the domain (log.ts). */
  log?: Logger;
  /** How long to wait before trying an unreachable peer again, ms. */
  peerRetryMs?: number;
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

/** Runs QEMU commands one after another, in the order they were asked for. */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(f: () => Promise<T>): Promise<T> {
    const p = this.tail.then(f);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

const OWN_EVENTS = ["STOP", "RESUME", "MIGRATION", "COLO_EXIT"];

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class Agent extends EventEmitter implements AgentControl {
  private readonly core: HybridCore;
  private readonly reader = new CheckpointReader();
  private readonly history: HistoryEntry[] = [];
  private readonly primaryCommands = new Serial();
  private readonly derivations = new Serial();
  /** QEMU events of this domain seen so far: a state read across one of them is stale. */
  private ownEvents = 0;
  private colo: ColoState = "connecting";
  private coloReason = "";
  private lastError = "";
  private readonly qemu = { primary: "", secondary: "" };
  /** The secondary, once reached (primary role only). */
  private peer: PairSide | undefined;
  /** Passive mode: stop the secondary again after each of its RESUMEs. */
  private held = false;
  private stopping = false;
  /** QEMU runs hybrid mode itself (the ORBIT fork): set its parameters and only observe. */
  private native = false;
  private closed = false;
  private peerTimer: NodeJS.Timeout | undefined;
  private readonly closers: (() => Promise<void>)[] = [];
  private readonly logger: Logger;

  private constructor(
    private readonly lv: Libvirt,
    private readonly dom: DomainRef,
    private meta: HybridMetadata,
    private readonly opts: AgentOptions,
  ) {
    super();
    this.core = new HybridCore(meta.params);
    this.logger = opts.log ?? makeLogger(dom.name);
  }

  /** Connects, reads the domain's metadata and QEMU's state, and starts following it. */
  static async start(opts: AgentOptions): Promise<Agent> {
    const lv = await connectLibvirt(opts.uri, opts.via);
    try {
      const dom = await lv.lookupByUuid(opts.uuid);
      let meta: HybridMetadataResult | undefined;
      try {
        meta = parseDomainXml(await lv.domainXml(dom)).metadata;
      } catch (e) {
        if (!(e instanceof XmlError)) throw e;
        throw new AgentError(
          `cannot read the XML of domain '${dom.name}': ${e.message}`,
          EXIT_CONFIG,
        );
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
      const agent = new Agent(lv, dom, meta.value, opts);
      await agent.begin();
      return agent;
    } catch (e) {
      await lv.close();
      throw e;
    }
  }

  private get role() {
    return this.meta.role;
  }

  private get params(): Params {
    return this.core.state.params;
  }

  private async begin(): Promise<void> {
    // Only the events read here: libvirt filters the rest out (MIGRATION_PASS alone is one
    // more event per checkpoint).
    for (const name of OWN_EVENTS) {
      const sub = await this.lv.onQemuMonitorEvent(this.dom, name, (e) => this.onOwnEvent(e));
      this.closers.push(() => sub.close());
    }
    const life = await this.lv.onLifecycle(this.dom, (e) => {
      if (e.type === "stopped" || e.type === "crashed") this.setColo("stopped", e.type);
    });
    this.closers.push(() => life.close());
    this.lv.on("disconnected", (e: Error) =>
      this.error(`lost libvirt at ${this.lv.uri}: ${e.message}`),
    );
    this.lv.on("reconnected", () => {
      this.log("info", `libvirt at ${this.lv.uri} is back; reading QEMU's state again`);
      void this.derive();
    });
    await this.derive();
    if (this.role === "primary") await this.connectPeer();
  }

  // --- deriving the state from QEMU ------------------------------------------------------

  private derive(): Promise<void> {
    // One at a time (start, the peer found, libvirt back): each reads QEMU afresh.
    return this.derivations.run(async () => {
      try {
        if (this.qemu[this.role] === "") {
          this.qemu[this.role] = (await qemuInfo(this.lv, this.dom)).text;
        }
        const snapshot = await this.readUndisturbed();
        if (snapshot === undefined) return; // the events kept coming: they tell the state
        if (this.role === "primary") await this.derivePrimary(snapshot as PrimaryState);
        else this.applySide(snapshot);
      } catch (e) {
        this.error(`cannot read QEMU's state: ${message(e)}`);
      }
    });
  }

  /**
   * QEMU's state, read while none of its events arrived: an event during the queries (COLO
   * starting as the agent starts) makes the answers older than what the events already said.
   */
  private async readUndisturbed(): Promise<SideState | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const seen = this.ownEvents;
      const s =
        this.role === "primary"
          ? await readPrimary(this.lv, this.dom)
          : await readSide(this.lv, this.dom);
      if (this.ownEvents === seen) return s;
    }
    return undefined;
  }

  private applySide(s: SideState): ColoState {
    const state = coloStateOf(s);
    this.setColo(state, coloReasonOf(s));
    return state;
  }

  private async derivePrimary(p: PrimaryState): Promise<void> {
    if (p.nativeHybrid !== this.native) {
      this.native = p.nativeHybrid;
      if (this.native) this.log("info", "QEMU runs hybrid mode itself: setting its parameters");
    }
    const wasColo = this.reader.colo;
    const state = this.applySide(p);
    if (state === "colo") {
      // Found mid-replication (a restart, or back from a lost connection): a fresh agent starts
      // the policy; one that was following keeps its mode and re-asserts it.
      if (!wasColo) this.feed(this.reader.joined(Date.now()));
      await this.assertSettings(p);
    } else if (wasColo) {
      this.reader.left();
      await this.coloEnded(coloReasonOf(p) || "COLO ended while libvirt was unreachable");
    } else if (state === "unprotected" && this.meta.protect) {
      await this.startReplication();
    }
  }

  /** Puts QEMU's period (and the secondary) where the policy's mode wants them. */
  private async assertSettings(p: PrimaryState): Promise<void> {
    if (this.native) {
      await this.setNativeParams();
      return;
    }
    const mode = this.core.status(Date.now()).mode;
    this.held = mode === "passive";
    const period = this.held ? this.params.passiveTime : this.params.coloPeriod;
    // A secondary left stopped (by an agent that was killed while passive) runs again at the
    // next checkpoint, and setting the period takes one at once.
    const secondaryStopped =
      !this.held && this.peer !== undefined && (await this.secondaryRun()) === "paused";
    if (p.checkpointDelay !== period || secondaryStopped) await this.setPeriod(period);
  }

  private async secondaryRun(): Promise<string | undefined> {
    const peer = this.peer;
    if (peer === undefined) return undefined;
    try {
      return ((await peer.lv.qmp(peer.dom, "query-status")) as { status: string }).status;
    } catch {
      return undefined;
    }
  }

  // --- the secondary ---------------------------------------------------------------------

  private async connectPeer(): Promise<void> {
    const { uri, domain } = this.meta.peer;
    let lv: Libvirt | undefined;
    try {
      lv = await connectPeer(uri, this.opts.via === undefined ? {} : { via: this.opts.via });
      const dom = await lv.lookupByName(domain);
      const peerLv = lv;
      const sub = await lv.onQemuMonitorEvent(dom, "RESUME", () => this.onSecondaryResume());
      this.closers.push(
        () => sub.close(),
        () => peerLv.close(),
      );
      this.peer = { lv, dom };
      this.log("info", `following the secondary '${domain}' at ${uri}`);
      try {
        this.qemu.secondary = (await qemuInfo(lv, dom)).text;
      } catch (e) {
        this.log("warning", `the secondary's QEMU version is unknown: ${message(e)}`);
      }
      // Now that the secondary is reachable, a held state left behind can be repaired and
      // replication started when the metadata asks for it.
      await this.derive();
    } catch (e) {
      await lv?.close();
      this.error(`cannot reach the secondary '${domain}': ${message(e)}`);
      if (!this.closed) {
        this.peerTimer = setTimeout(() => void this.connectPeer(), this.opts.peerRetryMs ?? 5000);
      }
    }
  }

  private onSecondaryResume(): void {
    if (!this.held || this.stopping || !this.reader.colo) return;
    const peer = this.peer;
    if (peer === undefined) return;
    // COLO resumed the secondary after loading a checkpoint; passive mode keeps it idle.
    this.stopping = true;
    peer.lv
      .qmp(peer.dom, "stop")
      .catch((e) => this.error(`cannot hold the secondary: ${message(e)}`))
      .finally(() => {
        this.stopping = false;
      });
  }

  // --- events and actions ----------------------------------------------------------------

  private onOwnEvent(e: QemuMonitorEvent): void {
    this.ownEvents++;
    if (e.event === "MIGRATION") {
      const status = (e.details as { status?: string } | undefined)?.status ?? "";
      if (status === "colo") this.setColo("colo", "");
      else if (status === "setup" || status === "active") this.setColo("starting", "");
      else if (this.colo === "starting" && (status === "failed" || status === "cancelled")) {
        this.setColo("unprotected", `migration ${status}`);
      }
    }
    const wasColo = this.reader.colo;
    const event = this.reader.read(e);
    if (this.role === "primary" && event !== undefined) {
      this.feed(event);
      if (event.type === "colo-start") void this.enforceColoPeriod();
    }
    if (e.event === "COLO_EXIT" && wasColo) {
      const d = e.details as { mode?: string; reason?: string } | undefined;
      void this.coloEnded(`COLO_EXIT as ${d?.mode ?? "?"}, reason ${d?.reason ?? "?"}`);
    }
  }

  /** Replication just started, maybe with another period than ours. */
  private async enforceColoPeriod(): Promise<void> {
    try {
      await this.assertSettings(await readPrimary(this.lv, this.dom));
    } catch (e) {
      this.error(`cannot set the COLO period: ${message(e)}`);
    }
  }

  private feed(event: PolicyEvent): void {
    for (const action of this.core.handle(event)) this.execute(action);
    if (event.type === "checkpoint-end") {
      const latest = this.core.stats.latest();
      if (latest !== undefined) this.emit("checkpoint", latest);
    }
    this.changed();
  }

  private execute(action: Action): void {
    switch (action.type) {
      case "set-period":
        if (!this.native) void this.setPeriod(action.ms);
        return;
      case "hold-secondary":
        this.held = !this.native;
        return;
      case "release-secondary":
        // The secondary runs again at the next checkpoint, which the new period brings at once.
        this.held = false;
        return;
      case "transition":
        this.onTransition(action.transition);
        return;
      case "params-changed":
        if (this.native) void this.setNativeParams();
        return;
      case "params-rejected":
        // Parameters are validated before they reach the core; this would be our bug.
        this.error(`parameters rejected: ${action.errors.map((e) => e.message).join("; ")}`);
        return;
    }
  }

  private setPeriod(ms: number): Promise<void> {
    return this.primaryCommands
      .run(async () => {
        this.reader.expectRequested();
        await setCheckpointDelay(this.lv, this.dom, ms);
      })
      .catch((e) => this.error(`cannot set x-checkpoint-delay=${ms}: ${message(e)}`));
  }

  private setNativeParams(): Promise<void> {
    const p = toExternal(this.params);
    const args = Object.fromEntries(
      Object.entries(NATIVE_HYBRID_PARAMS).map(([ours, qemu]) => [qemu, p[ours]]),
    );
    return this.primaryCommands
      .run(() => this.lv.qmp(this.dom, "migrate-set-parameters", args))
      .then(() => undefined)
      .catch((e) => this.error(`cannot set QEMU's hybrid parameters: ${message(e)}`));
  }

  private onTransition(t: Transition): void {
    const why =
      t.reason === "mean-below-limit"
        ? `mean ${t.mean.toFixed(0)} ms < passive-limit ${this.params.passiveLimit} ms`
        : t.reason === "spell-complete"
          ? `${this.params.passiveCount} passive checkpoints taken`
          : "hybrid mode disabled";
    this.record("transition", `${t.from} → ${t.to}: ${why}`, "info");
    this.emit("transition", t);
  }

  // --- COLO ending, failover, replication start -----------------------------------------

  private async coloEnded(reason: string): Promise<void> {
    this.held = false;
    this.record("colo", `COLO ended: ${reason}`, "warning");
    if (this.role !== "primary") {
      // Taking over is the admin's call: the primary may still be serving.
      this.setColo("exited", `${reason}; 'colo-hybrid failover' makes this secondary run alone`);
      return;
    }
    // The period outlives COLO in QEMU's migration parameters: leave it as COLO mode wants it.
    if (!this.native) await this.setPeriod(this.params.coloPeriod);
    if (this.params.autoFailover) await this.failover().catch(() => undefined);
    else this.setColo("exited", `${reason}; auto-failover is off: the primary may be paused`);
  }

  async failover(): Promise<void> {
    this.log("warning", `failover of this ${this.role} requested`);
    try {
      if (this.role === "primary") await primaryFailover(this.lv, this.dom);
      else await secondaryFailover(this.lv, this.dom);
      this.held = false;
      this.reader.left();
      this.record("failover", `${this.role} failed over: it runs alone`, "warning");
      this.setColo("failed-over", `${this.role} failed over`);
    } catch (e) {
      this.error(`failover failed: ${message(e)}`);
      throw e;
    }
  }

  private async startReplication(): Promise<void> {
    const peer = this.peer;
    if (peer === undefined) return;
    try {
      const { ports } = this.meta;
      if (ports === undefined) {
        throw new AgentError(
          "the metadata keeps no replication port (a pair made by an older 'pair create'): make the pair again",
        );
      }
      const migrationUri = replicationTarget(this.meta.peer.uri, ports.migration);
      this.log("info", `starting replication to '${peer.dom.name}' (${migrationUri})`);
      await protect({ lv: this.lv, dom: this.dom }, peer, {
        period: this.params.coloPeriod,
        migrationUri,
      });
    } catch (e) {
      this.error(`cannot start replication: ${message(e)}`);
    }
  }

  // --- AgentControl ----------------------------------------------------------------------

  status(): AgentStatus {
    const now = Date.now();
    const core = this.core.status(now);
    return {
      domain: this.dom.name,
      uuid: this.dom.uuid,
      role: this.role,
      peer: { ...this.meta.peer },
      colo: this.colo,
      coloReason: this.coloReason,
      mode: core.mode,
      passiveLeft: core.passiveLeft,
      mean: core.mean,
      samples: core.samples,
      params: toExternal(core.params),
      stats: core.stats,
      qemu: { ...this.qemu },
      lastError: this.lastError,
      history: [...this.history],
    };
  }

  recent(): CheckpointRecord[] {
    return this.core.stats.inWindow(Date.now());
  }

  async setParams(patch: ParamPatch): Promise<SetParamsResult> {
    const checked = applyPatch(this.params, patch);
    if (!checked.ok) return checked;
    // Stored first, live and persistent, so that a failure changes nothing.
    const meta = { ...this.meta, params: checked.params };
    await this.lv.setMetadata(
      this.dom,
      METADATA_NS,
      METADATA_KEY,
      formatMetadata(meta),
      Affect.live | Affect.config,
    );
    this.meta = meta;
    this.feed({ type: "set-params", t: Date.now(), patch });
    const shown = Object.entries(patch)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(" ");
    this.record("params", `parameters set: ${shown}`, "info");
    return { ok: true };
  }

  resetStats(): void {
    this.core.stats.reset();
    this.changed();
  }

  /** Leaves QEMU as COLO mode wants it (period restored, secondary released) and lets go. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.peerTimer);
    if (this.role === "primary" && this.reader.colo && !this.native && this.held) {
      this.held = false;
      this.log("info", "leaving passive mode before exiting");
      await this.setPeriod(this.params.coloPeriod);
    }
    for (const close of this.closers.reverse()) await close().catch(() => undefined);
    await this.lv.close();
  }

  // --- bookkeeping -----------------------------------------------------------------------

  private setColo(state: ColoState, reason: string): void {
    if (state === this.colo && reason === this.coloReason) return;
    const before = this.colo;
    this.colo = state;
    this.coloReason = reason;
    if (before !== state)
      this.log("info", `COLO state ${before} → ${state}${reason ? ` (${reason})` : ""}`);
    this.changed();
  }

  private record(kind: HistoryKind, text: string, level: "info" | "warning" | "error"): void {
    this.history.push({ t: Date.now(), kind, message: text });
    if (this.history.length > HISTORY_KEPT) this.history.shift();
    this.log(level, text);
    this.changed();
  }

  private error(text: string): void {
    this.lastError = text;
    this.record("error", text, "error");
  }

  log(level: Level, text: string): void {
    this.logger(level, text);
  }

  private changed(): void {
    this.emit("changed");
  }
}
