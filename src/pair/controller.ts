// One side of a COLO pair as a pure state machine (inputs and outputs: protocol.ts): where the
// pair stands, the checkpoints read from QEMU's events and fed to the policy core, holding the
// secondary while passive, liveness, failover, starting replication, and the admin's requests.
// State is derived from QEMU on start and after a lost connection, never from what was last
// believed. Every command is issued here with an id and its outcome comes back as an input, so
// what is in flight is always known: that is what keeps the races of issue 12 out.

import {
  type AgentStatus,
  type ColoState,
  HISTORY_KEPT,
  type HistoryEntry,
  type HistoryKind,
} from "../agent/status.js";
import { HybridCore } from "../colo/core.js";
import type { Action, PolicyEvent } from "../colo/events.js";
import { applyPatch, type ParamPatch, type Params, toExternal } from "../colo/params.js";
import type { CheckpointRecord } from "../colo/stats.js";
import type { HybridMetadata } from "../libvirt/xml/metadata.js";
import { CheckpointReader } from "./checkpoints.js";
import { coloReasonOf, coloStateOf } from "./colo-state.js";
import { allNicIds } from "./ids.js";
import { livenessOf } from "./liveness.js";
import { NATIVE_HYBRID_PARAMS, type PrimaryState } from "./pair-state.js";
import type {
  Answer,
  Input,
  Output,
  PairConfig,
  Request,
  StateRead,
  TimerName,
  Work,
} from "./protocol.js";
import { ReplicaWatch, STALL_WRITES, writesByDisk } from "./replica.js";

/** What each command in flight is for: its outcome is read by this. */
type Purpose =
  | { for: "derive"; eventsAtIssue: number }
  | { for: "check-period" }
  | { for: "set-period"; ms: number; requested: boolean }
  | { for: "native-params" }
  | { for: "hold" }
  | { for: "heartbeat" }
  | { for: "check-secondary-run" }
  | { for: "protect" }
  | { for: "yank" }
  | { for: "failover" }
  | { for: "store-params"; meta: HybridMetadata; patch: ParamPatch; request: number }
  | { for: "connect-peer" }
  | { for: "replica"; side: "own" | "peer" }
  | { for: "resync"; secondaryUri: string }
  | { for: "drop-peer" };

/** What an error is about: it is cleared when its cause is (LastError says only what holds). */
type Cause =
  | "libvirt"
  | "peer"
  | "state"
  | "period"
  | "hold"
  | "replication"
  | "hung"
  | "failover"
  | "replica";

const RESYNCING =
  "re-protection is under way (the guest runs alone until COLO runs with the new secondary): ask again once it has ended";

/** After this many reads disturbed by events, say so and read again after a pause. */
const QUIET_READS = 5;
const DERIVE_RETRY_MS = 100;
const PEER_RETRY_MS = 5000;
/** A replication start that failed is tried again this much later, not at once. */
const REPLICATION_RETRY_MS = 10_000;
/** How often the replicated disks' writes are compared (replica.ts). */
export const REPLICA_CHECK_MS = 10_000;

// What ties the primary to the secondary: the migration stream, and each NIC's two chardevs to
// it. yank refuses the whole list when one is not there, so it names exactly the pair's NICs.
const yankSecondaryLinks = (nics: number) => ({
  instances: [
    { type: "migration" },
    ...allNicIds(nics).flatMap(({ primaryChardevs: c }) => [
      { type: "chardev", id: c.mirror },
      { type: "chardev", id: c.compare },
    ]),
  ],
});

export interface ControllerConfig {
  domain: string;
  uuid: string;
  meta: HybridMetadata;
  peerRetryMs?: number;
  /** Replicated disks in the pair's plumbing (pair/disks.ts): their replicas are watched. */
  disks?: number;
  /** NICs in the pair's plumbing (ids.ts, plumbedNics); 1 when not given. */
  nics?: number;
}

export class PairController {
  private readonly core: HybridCore;
  private meta: HybridMetadata;
  private out: Output[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, Purpose>();

  private colo: ColoState = "connecting";
  private coloReason = "";
  /** QEMU's events read as checkpoints; it knows whether a COLO session runs (both roles). */
  private readonly reader = new CheckpointReader();
  /** QEMU runs hybrid mode itself (its colo-passive-* parameters): we set them and observe. */
  private native = false;
  private readonly qemu = { primary: "", secondary: "" };
  /** QEMU events of our domain so far: a state read across one of them is stale. */
  private ownEvents = 0;
  private deriving = false;
  private deriveAgain = false;
  private disturbedReads = 0;

  private peer: "none" | "connecting" | "reached" = "none";
  /** Passive mode: stop the secondary again after each of its RESUMEs. */
  private held = false;
  private stopInFlight = false;
  /** A RESUME came while a stop was in flight: whichever came first, stop once more. */
  private stopAgain = false;
  private checkpointOpen = false;
  private heartbeatInFlight = false;
  private hung = false;

  private failingOver = false;
  /** Failover was done (or begun) in this COLO session: never twice. */
  private failedOver = false;
  private failoverWaiters: number[] = [];
  private protecting = false;
  /** Replication failed to start: wait for the retry timer before trying again. */
  private replicationBackoff = false;

  private readonly paramQueue: { id: number; patch: ParamPatch }[] = [];
  private storing = false;

  private closing: number | undefined;
  private releaseOnClose = false;
  /** A stop landed after passive mode ended: the secondary may be idle until a checkpoint. */
  private strayStop = false;
  private closed = false;

  /** Replicated disks and NICs in the plumbing: a reload may change them. */
  private disks: number;
  private nics: number;
  /** Re-protection under way (reprotect.ts, run by the executor), from this ColoState. */
  private resyncing = false;
  private resyncFrom: ColoState = "failed-over";
  /** The peer changed while a connection to the old one was under way. */
  private peerMoved = false;

  private readonly replica = new ReplicaWatch();
  /** The two sides' write counts of the look under way. */
  private replicaLook: { own?: Map<string, number>; peer?: Map<string, number> } | undefined;

  private readonly errors = new Map<Cause, string>();
  private lastError = "";
  private readonly history: HistoryEntry[] = [];
  private now = 0;

  constructor(private readonly config: ControllerConfig) {
    this.meta = config.meta;
    this.core = new HybridCore(config.meta.params);
    this.disks = config.disks ?? 0;
    this.nics = config.nics ?? 1;
  }

  /** In a COLO session, as QEMU's events and state say. */
  private get inColo(): boolean {
    return this.reader.colo;
  }

  private get role() {
    return this.meta.role;
  }

  private get params(): Params {
    return this.core.state.params;
  }

  /** Takes one input; returns what to do about it, in order. */
  handle(input: Input): Output[] {
    this.now = input.now;
    if (!this.closed) this.dispatch(input);
    const out = this.out;
    this.out = [];
    return out;
  }

  private dispatch(input: Input): void {
    switch (input.type) {
      case "start":
        this.qemu[this.role] = input.qemu;
        this.derive();
        if (this.role === "primary") this.connectPeer();
        return;
      case "qemu-event":
        if (input.side === "own") this.onOwnEvent(input.event, input.t, input.details);
        else {
          this.alive();
          if (input.event === "RESUME") this.onSecondaryResume();
        }
        return;
      case "domain-stopped":
        this.stopWatching();
        this.reader.left();
        this.setColo("stopped", input.why);
        return;
      case "libvirt-lost":
        if (input.side === "own") {
          this.fail("libvirt", `lost libvirt: ${input.error}`);
        } else {
          this.peer = "none";
          this.fail("peer", `lost the secondary's libvirt: ${input.error}`);
        }
        return;
      case "libvirt-back":
        if (input.side === "own") {
          this.clear("libvirt");
          this.log("info", "libvirt is back; reading QEMU's state again");
        } else {
          this.peer = "reached";
          this.clear("peer");
          // Watching the secondary again: it stopped when its libvirt went.
          this.watch();
        }
        this.derive();
        return;
      case "done":
      case "failed": {
        const purpose = this.pending.get(input.id);
        if (purpose === undefined) return;
        this.pending.delete(input.id);
        if (input.type === "done") this.onDone(purpose, input.result);
        else this.onFailed(purpose, input.error);
        return;
      }
      case "timer":
        this.onTimer(input.name);
        return;
      case "request":
        this.onRequest(input.id, input.request);
        return;
    }
  }

  // --- issuing --------------------------------------------------------------------------

  private emit(o: Output): void {
    this.out.push(o);
  }

  private issue(work: Work, purpose: Purpose): number {
    const id = this.nextId++;
    this.pending.set(id, purpose);
    this.emit({ type: "work", id, work });
    return id;
  }

  private timer(name: TimerName, ms: number): void {
    this.emit({ type: "set-timer", name, ms });
  }

  private untimer(name: TimerName): void {
    this.emit({ type: "clear-timer", name });
  }

  private answer(id: number, answer: Answer): void {
    this.emit({ type: "answer", id, answer });
  }

  // --- deriving the state from QEMU -----------------------------------------------------

  private derive(): void {
    // One read at a time; a wish to read again while one runs is kept, never dropped.
    if (this.deriving) {
      this.deriveAgain = true;
      return;
    }
    this.deriving = true;
    this.deriveAgain = false;
    this.issue({ kind: "read-state" }, { for: "derive", eventsAtIssue: this.ownEvents });
  }

  private derived(s: StateRead, eventsAtIssue: number): void {
    this.deriving = false;
    if (this.ownEvents !== eventsAtIssue) {
      // An event came during the reads (COLO starting as the agent starts): the answers may be
      // older than the events. Read again; after a few tries, wait a little first.
      this.disturbedReads++;
      if (this.disturbedReads === QUIET_READS)
        this.log(
          "warning",
          `QEMU's events kept coming during ${QUIET_READS} reads of its state; reading again`,
        );
      if (this.disturbedReads >= QUIET_READS) this.timer("derive-retry", DERIVE_RETRY_MS);
      else this.derive();
      return;
    }
    this.disturbedReads = 0;
    this.clear("state");
    if (this.deriveAgain) {
      this.derive();
      return;
    }
    const state = coloStateOf(s);
    if (this.role === "primary") this.derivePrimary(s as PrimaryState, state);
    else this.deriveSecondary(s, state);
  }

  private deriveSecondary(s: StateRead, state: ColoState): void {
    if (state === "colo") {
      if (!this.inColo) this.reader.joined(this.now);
    } else if (this.inColo) {
      this.reader.left();
      this.coloEnded(coloReasonOf(s) || "COLO ended while libvirt was unreachable");
      return;
    }
    this.setColo(state, coloReasonOf(s));
  }

  private derivePrimary(p: PrimaryState, state: ColoState): void {
    if (p.nativeHybrid !== this.native) {
      this.native = p.nativeHybrid;
      if (this.native) this.log("info", "QEMU runs hybrid mode itself: setting its parameters");
    }
    if (state === "colo") {
      this.setColo("colo", "");
      // Found mid-replication (a restart, or back from a lost connection): a fresh agent starts
      // the policy; one that was following keeps its mode and re-asserts it.
      if (!this.inColo) this.enterColo(this.reader.joined(this.now));
      this.assertSettings(p.checkpointDelay);
      return;
    }
    if (this.inColo) {
      this.reader.left();
      this.coloEnded(coloReasonOf(p) || "COLO ended while libvirt was unreachable");
      return;
    }
    this.setColo(state, coloReasonOf(p));
    if (state === "unprotected" && this.meta.protect) this.startReplication();
  }

  // --- QEMU's events --------------------------------------------------------------------

  private onOwnEvent(event: string, t: number, details: unknown): void {
    this.ownEvents++;
    if (event === "MIGRATION") this.onMigration(details);
    const wasColo = this.reader.colo;
    const read = this.reader.read({ event, timestamp: t, details });
    if (event === "COLO_EXIT" && wasColo) {
      const d = (details ?? {}) as { mode?: unknown; reason?: unknown };
      this.coloEnded(`COLO_EXIT as ${String(d.mode ?? "?")}, reason ${String(d.reason ?? "?")}`);
      return;
    }
    if (read === undefined) return;
    if (read.type === "colo-start") {
      this.enterColo(read);
      // Replication just started, maybe with another period than ours.
      if (this.role === "primary")
        this.issue(
          { kind: "qmp", side: "own", command: "query-migrate-parameters" },
          { for: "check-period" },
        );
      return;
    }
    // The secondary's own STOP/RESUME are the checkpoints loaded, not the primary's pauses.
    if (this.role !== "primary") return;
    if (read.type === "checkpoint-start") {
      this.checkpointOpen = true;
      this.timer("checkpoint", livenessOf(this.params).checkpointMs);
      this.feed(read);
    } else if (read.type === "checkpoint-end" && this.checkpointOpen) {
      this.checkpointOpen = false;
      this.untimer("checkpoint");
      this.alive(); // the secondary took the checkpoint
      this.feed(read);
    }
  }

  private onMigration(details: unknown): void {
    const status = String((details as { status?: unknown } | undefined)?.status ?? "");
    if (status === "colo") this.setColo("colo", "");
    else if (status === "setup" || status === "active") this.setColo("starting", "");
    else if (this.colo === "starting" && ["failed", "cancelled", "completed"].includes(status))
      this.setColo("unprotected", `migration ${status}`);
  }

  /** A COLO session begins (`start` from the reader: seen starting, or found running). */
  private enterColo(start: PolicyEvent): void {
    this.failedOver = false;
    this.hung = false;
    this.strayStop = false;
    this.checkpointOpen = false;
    this.clear("replication");
    this.clear("failover");
    this.clear("hung");
    if (this.role !== "primary") return;
    if (!this.native) this.feed(start);
    this.watch();
  }

  // --- the policy -----------------------------------------------------------------------

  private feed(event: PolicyEvent): void {
    // Where QEMU decides the mode itself, our policy's decisions would be fiction; it still
    // learns every parameter change.
    if (this.native && event.type !== "set-params") return;
    for (const action of this.core.handle(event)) this.execute(action);
    if (event.type === "checkpoint-end") {
      const latest = this.core.stats.latest();
      if (latest !== undefined) this.emit({ type: "checkpoint", record: latest });
    }
    this.changed();
  }

  private execute(action: Action): void {
    switch (action.type) {
      case "set-period":
        this.setPeriod(action.ms, true);
        return;
      case "hold-secondary":
        this.held = true;
        // Held, the secondary writes nothing: no sign of a stalled replica.
        this.replica.reset();
        return;
      case "release-secondary":
        // The secondary runs again at the next checkpoint, which the new period brings at once.
        this.held = false;
        return;
      case "transition": {
        const t = action.transition;
        const why =
          t.reason === "mean-below-limit"
            ? `mean ${t.mean.toFixed(0)} ms < passive-limit ${this.params.passiveLimit} ms`
            : t.reason === "spell-complete"
              ? `${this.params.passiveCount} passive checkpoints taken`
              : "hybrid mode disabled";
        this.record("transition", `${t.from} → ${t.to}: ${why}`, "info");
        this.emit({ type: "transition", transition: t });
        return;
      }
      case "params-changed":
        return;
      case "params-rejected":
        // Parameters are validated before they reach the core; this would be our bug.
        this.record(
          "error",
          `parameters rejected: ${action.errors.map((e) => e.message).join("; ")}`,
          "error",
        );
        return;
      case "event-rejected":
        this.record("error", `QEMU event refused by the policy: ${action.message}`, "warning");
        return;
    }
  }

  /** Sets x-checkpoint-delay; in COLO QEMU takes one checkpoint at once, ours. */
  private setPeriod(ms: number, inSession: boolean): void {
    if (this.native) return;
    const requested = inSession && this.inColo;
    if (requested) this.reader.expectRequested();
    this.issue(
      {
        kind: "qmp",
        side: "own",
        command: "migrate-set-parameters",
        args: { "x-checkpoint-delay": ms },
      },
      { for: "set-period", ms, requested },
    );
  }

  private setNativeParams(): void {
    const p = toExternal(this.params);
    const args = Object.fromEntries(
      Object.entries(NATIVE_HYBRID_PARAMS).map(([ours, qemu]) => [qemu, p[ours]]),
    );
    this.issue(
      { kind: "qmp", side: "own", command: "migrate-set-parameters", args },
      { for: "native-params" },
    );
  }

  /** Puts QEMU's period (and the secondary) where the policy's mode wants them. */
  private assertSettings(checkpointDelay: number | undefined): void {
    if (this.native) {
      this.setNativeParams();
      return;
    }
    this.held = this.core.status(this.now).mode === "passive";
    const period = this.held ? this.params.passiveTime : this.params.coloPeriod;
    if (checkpointDelay !== period) this.setPeriod(period, true);
    // One left stopped by an agent killed while passive.
    else if (!this.held && this.peer === "reached") this.checkSecondaryRuns();
  }

  /** A secondary found stopped in COLO mode runs again at the checkpoint setting the period brings. */
  private checkSecondaryRuns(): void {
    this.issue(
      { kind: "qmp", side: "peer", command: "query-status" },
      { for: "check-secondary-run" },
    );
  }

  // --- the secondary --------------------------------------------------------------------

  private connectPeer(): void {
    if (this.closing !== undefined) return;
    this.peer = "connecting";
    this.issue({ kind: "connect-peer" }, { for: "connect-peer" });
  }

  private onSecondaryResume(): void {
    if (!this.held || !this.inColo || this.peer !== "reached" || this.closing !== undefined) return;
    // COLO resumed the secondary after loading a checkpoint; passive mode keeps it idle.
    if (this.stopInFlight) {
      this.stopAgain = true;
      return;
    }
    this.stopSecondary();
  }

  private stopSecondary(): void {
    this.stopInFlight = true;
    this.stopAgain = false;
    this.issue({ kind: "qmp", side: "peer", command: "stop" }, { for: "hold" });
  }

  /** `stopped`: the secondary did stop (the command succeeded). */
  private stopSettled(stopped: boolean): void {
    this.stopInFlight = false;
    if (this.closing !== undefined) this.finishClose();
    else if (!this.inColo) return;
    else if (this.held) {
      if (this.stopAgain) this.stopSecondary();
    }
    // Passive mode ended while the stop was on its way, and the checkpoint that released the
    // secondary came before it: it would stay idle in COLO mode.
    else if (stopped) {
      this.strayStop = true;
      this.checkSecondaryRuns();
    }
  }

  /**
   * Starts watching the secondary: its QEMU is asked whether it runs a heartbeat after its last
   * sign of life, and peer-timeout without one (counted from the last, so that the stall,
   * whenever it began, is found within peer-timeout) is a hang. A checkpoint under way is
   * exempt: the secondary answers nothing while it loads one, and the checkpoint's own bound
   * covers it.
   */
  private watch(): void {
    if (!this.watching()) return;
    this.timer("peer-timeout", livenessOf(this.params).peerTimeoutMs);
    this.beat();
    if (this.disks > 0) this.timer("replica-check", REPLICA_CHECK_MS);
  }

  /** Asks both sides for their disks' write counts (replica.ts). */
  private lookAtReplicas(): void {
    this.timer("replica-check", REPLICA_CHECK_MS);
    if (this.held) {
      this.replica.reset();
      return;
    }
    if (this.replicaLook !== undefined) return;
    this.replicaLook = {};
    for (const side of ["own", "peer"] as const)
      this.issue({ kind: "qmp", side, command: "query-blockstats" }, { for: "replica", side });
  }

  private replicaCounts(side: "own" | "peer", stats: unknown): void {
    const look = this.replicaLook;
    if (look === undefined) return;
    look[side] = writesByDisk(stats, this.disks);
    if (look.own === undefined || look.peer === undefined) return;
    this.replicaLook = undefined;
    if (this.held || !this.watching()) return;
    const { stalled, recovered } = this.replica.observe(look.own, look.peer);
    for (const disk of stalled) {
      this.fail(
        "replica",
        `the secondary's disk ${disk} completed no write in ${REPLICA_CHECK_MS / 1000} s while the primary's completed ${STALL_WRITES} or more: its replica is stalled, and a failover to it could hang its disk`,
      );
    }
    for (const disk of recovered) this.log("info", `the secondary's disk ${disk} writes again`);
    if (recovered.length > 0 && !this.replica.anyStalled) this.clear("replica");
  }

  private beat(): void {
    if (this.heartbeatInFlight) return;
    this.heartbeatInFlight = true;
    this.issue({ kind: "qmp", side: "peer", command: "query-status" }, { for: "heartbeat" });
  }

  /** The secondary's QEMU answered (an error is an answer too: a lost link is `libvirt-lost`). */
  private answered(): void {
    this.heartbeatInFlight = false;
    this.alive();
  }

  /** A sign of life from the secondary: the deadline counts from now, the next ask waits. */
  private alive(): void {
    if (!this.watching()) return;
    const { peerTimeoutMs, heartbeatMs } = livenessOf(this.params);
    this.timer("peer-timeout", peerTimeoutMs);
    if (!this.heartbeatInFlight) this.timer("heartbeat", heartbeatMs);
  }

  private watching(): boolean {
    return this.role === "primary" && this.inColo && this.peer === "reached" && !this.hung;
  }

  private stopWatching(): void {
    this.untimer("heartbeat");
    this.untimer("peer-timeout");
    this.untimer("checkpoint");
    this.untimer("replica-check");
    this.checkpointOpen = false;
    this.replica.reset();
    this.replicaLook = undefined;
  }

  /** The secondary (or the link to it) stopped answering in COLO. */
  private onHung(why: string): void {
    if (this.hung || !this.inColo || this.role !== "primary") return;
    this.hung = true;
    this.stopWatching();
    this.fail("hung", `the secondary '${this.meta.peer.domain}' is hung: ${why}`);
    this.setColo(this.colo, `secondary hung: ${why}`);
    // Unstick the primary's migration thread: COLO then ends on the primary (COLO_EXIT), which
    // fails it over when auto-failover is on.
    this.issue(
      {
        kind: "qmp",
        side: "own",
        command: "yank",
        args: yankSecondaryLinks(this.nics),
      },
      { for: "yank" },
    );
  }

  // --- COLO ending, failover, replication start -----------------------------------------

  private coloEnded(reason: string): void {
    this.held = false;
    this.stopWatching();
    this.record("colo", `COLO ended: ${reason}`, "warning");
    if (this.failingOver) return; // our own failover ended it
    if (this.role !== "primary") {
      // Taking over is the admin's call: the primary may still be serving.
      this.setColo("exited", `${reason}; 'colo-hybrid failover' makes this secondary run alone`);
      return;
    }
    // The period outlives COLO in QEMU's migration parameters: leave it as COLO mode wants it.
    this.setPeriod(this.params.coloPeriod, false);
    if (this.params.autoFailover && !this.failedOver) this.failover(undefined);
    else this.setColo("exited", `${reason}; auto-failover is off: the primary may be paused`);
  }

  private failover(request: number | undefined): void {
    if (request !== undefined && !this.failingOver && this.colo === "failed-over") {
      this.answer(request, { ok: true }); // it runs alone already
      return;
    }
    if (request !== undefined) this.failoverWaiters.push(request);
    if (this.failingOver) return; // one failover at a time: the second asker waits for it
    this.failingOver = true;
    this.failedOver = true;
    this.log(
      "warning",
      `failover of this ${this.role} ${request === undefined ? "begins" : "requested"}`,
    );
    this.issue({ kind: "failover" }, { for: "failover" });
  }

  private failoverSettled(error: string | undefined): void {
    this.failingOver = false;
    const waiters = this.failoverWaiters;
    this.failoverWaiters = [];
    if (error === undefined) {
      this.held = false;
      this.reader.left();
      this.stopWatching();
      // A hung secondary stays the last error: it is still hung, and the pair still broken.
      this.clear("failover");
      this.record("failover", `${this.role} failed over: it runs alone`, "warning");
      this.setColo("failed-over", `${this.role} failed over`);
    } else {
      this.fail("failover", `failover failed: ${error}`);
    }
    for (const id of waiters)
      this.answer(id, error === undefined ? { ok: true } : { ok: false, error });
  }

  private startReplication(): void {
    if (this.protecting || this.resyncing || this.replicationBackoff || this.peer !== "reached")
      return;
    if (this.closing !== undefined) return;
    if (this.meta.ports === undefined) {
      this.fail(
        "replication",
        "cannot start replication: the metadata keeps no replication port (a pair made by an older 'pair create'): make the pair again",
      );
      return;
    }
    this.protecting = true;
    this.setColo("starting", "");
    this.issue({ kind: "protect", period: this.params.coloPeriod }, { for: "protect" });
  }

  // --- outcomes -------------------------------------------------------------------------

  private onDone(p: Purpose, result: unknown): void {
    switch (p.for) {
      case "derive":
        this.derived(result as StateRead, p.eventsAtIssue);
        return;
      case "check-period": {
        const delay = (result as Record<string, unknown>)["x-checkpoint-delay"];
        if (this.inColo) this.assertSettings(typeof delay === "number" ? delay : undefined);
        return;
      }
      case "set-period":
        this.clear("period");
        // The checkpoint it brings resumes the secondary.
        if (p.requested && !this.held) this.strayStop = false;
        if (this.closing !== undefined) this.finishClose();
        return;
      case "native-params":
        this.clear("period");
        return;
      case "hold":
        this.clear("hold");
        this.alive();
        this.stopSettled(true);
        return;
      case "heartbeat":
        this.answered();
        return;
      case "check-secondary-run":
        if ((result as { status?: string }).status !== "paused") this.strayStop = false;
        // Closing releases it anyway.
        else if (this.inColo && !this.held && this.closing === undefined)
          this.setPeriod(this.params.coloPeriod, true);
        return;
      case "protect":
        this.protecting = false;
        this.clear("replication");
        this.derive();
        return;
      case "yank":
        this.log(
          "info",
          "yanked the primary's links to the secondary (migration, mirror and compare chardevs)",
        );
        this.afterYank();
        return;
      case "failover":
        this.failoverSettled(undefined);
        return;
      case "store-params":
        this.paramsStored(p.meta, p.patch, p.request);
        return;
      case "replica":
        this.replicaCounts(p.side, result);
        return;
      case "resync":
        this.resyncing = false;
        this.clear("replication");
        this.adopt(result as PairConfig);
        return;
      case "drop-peer":
        this.peerDropped();
        return;
      case "connect-peer":
        if (this.peerMoved) {
          // It reached the secondary the metadata named before the reload.
          this.peerMoved = false;
          this.peer = "none";
          this.issue({ kind: "drop-peer" }, { for: "drop-peer" });
          return;
        }
        this.peer = "reached";
        this.qemu.secondary = String(result ?? "");
        this.clear("peer");
        this.log(
          "info",
          `following the secondary '${this.meta.peer.domain}' at ${this.meta.peer.uri}`,
        );
        // Now that the secondary is reachable, a held state left behind can be repaired and
        // replication started when the metadata asks for it.
        this.derive();
        this.watch();
        return;
    }
  }

  private onFailed(p: Purpose, error: string): void {
    switch (p.for) {
      case "derive":
        this.deriving = false;
        this.fail("state", `cannot read QEMU's state: ${error}`);
        if (this.deriveAgain) this.derive();
        return;
      case "check-period":
        this.fail("period", `cannot read the COLO period: ${error}`);
        return;
      case "set-period":
        // The checkpoint we asked for will not come: the next one is QEMU's own.
        if (p.requested) this.reader.cancelRequested();
        this.fail("period", `cannot set x-checkpoint-delay=${p.ms}: ${error}`);
        if (this.closing !== undefined) this.finishClose();
        return;
      case "native-params":
        this.fail("period", `cannot set QEMU's hybrid parameters: ${error}`);
        return;
      case "hold":
        // Once COLO is over the secondary is no longer ours to hold: its failure is no error.
        if (this.inColo) this.fail("hold", `cannot hold the secondary: ${error}`);
        else this.log("info", `a stop of the secondary sent in COLO failed after it: ${error}`);
        this.stopSettled(false);
        return;
      case "heartbeat":
        this.answered();
        return;
      case "check-secondary-run":
        return;
      case "protect":
        this.protecting = false;
        this.fail(
          "replication",
          `cannot start replication: ${error} (trying again in ${REPLICATION_RETRY_MS / 1000} s)`,
        );
        this.replicationBackoff = true;
        this.timer("replication-retry", REPLICATION_RETRY_MS);
        this.derive();
        return;
      case "yank":
        this.log("warning", `cannot yank the primary's links to the secondary: ${error}`);
        this.afterYank();
        return;
      case "failover":
        this.failoverSettled(error);
        return;
      case "store-params":
        this.answer(p.request, { ok: false, error: `cannot store the parameters: ${error}` });
        this.storing = false;
        this.nextParams();
        return;
      case "replica":
        // A side that cannot answer is the heartbeat's to judge; this look is over.
        this.replicaLook = undefined;
        return;
      case "resync":
        this.resyncing = false;
        this.fail("replication", `re-protection with ${p.secondaryUri} failed: ${error}`);
        // It runs alone as before (reprotect.ts undid its steps); QEMU is read again to be sure.
        this.setColo(this.resyncFrom, "re-protection failed");
        this.derive();
        return;
      case "drop-peer":
        // Closing an old connection failed: it is gone for us either way.
        this.peerDropped();
        return;
      case "connect-peer":
        this.peer = "none";
        if (this.peerMoved) {
          this.peerMoved = false;
          this.peerDropped();
          return;
        }
        this.fail("peer", `cannot reach the secondary '${this.meta.peer.domain}': ${error}`);
        this.timer("peer-retry", this.config.peerRetryMs ?? PEER_RETRY_MS);
        return;
    }
  }

  private afterYank(): void {
    // COLO_EXIT usually came already and failed the primary over; if not, do it now.
    if (this.params.autoFailover && !this.failedOver) this.failover(undefined);
    else if (!this.params.autoFailover)
      this.setColo(
        this.colo,
        `secondary hung; auto-failover is off: 'colo-hybrid failover' makes the primary run alone`,
      );
  }

  private onTimer(name: TimerName): void {
    switch (name) {
      case "heartbeat":
        if (this.watching()) this.beat();
        return;
      case "peer-timeout":
        if (this.heartbeatInFlight && this.watching() && !this.checkpointOpen)
          this.onHung(`its QEMU has not answered in ${livenessOf(this.params).peerTimeoutMs} ms`);
        return;
      case "checkpoint":
        if (this.checkpointOpen && this.inColo)
          this.onHung(`a checkpoint has not ended in ${livenessOf(this.params).checkpointMs} ms`);
        return;
      case "peer-retry":
        if (this.peer === "none") this.connectPeer();
        return;
      case "derive-retry":
        this.derive();
        return;
      case "replication-retry":
        this.replicationBackoff = false;
        this.derive();
        return;
      case "replica-check":
        if (this.watching()) this.lookAtReplicas();
        return;
    }
  }

  // --- requests -------------------------------------------------------------------------

  private onRequest(id: number, r: Request): void {
    switch (r.kind) {
      case "set-params":
        // Re-protection stores the metadata it read when it began: a change now would be lost.
        if (this.resyncing) {
          this.answer(id, { ok: false, error: RESYNCING });
          return;
        }
        // One at a time, each patch applied to what the previous one stored.
        this.paramQueue.push({ id, patch: r.patch });
        this.nextParams();
        return;
      case "failover":
        // Until COLO runs with the new secondary the guest runs alone; and the failover for the
        // side's new role is known only once re-protection ends.
        if (this.resyncing) {
          this.answer(id, { ok: false, error: RESYNCING });
          return;
        }
        this.failover(id);
        return;
      case "resync":
        this.resync(id, r.secondaryUri);
        return;
      case "reset-stats":
        this.core.stats.reset();
        this.answer(id, { ok: true });
        this.changed();
        return;
      case "close":
        this.close(id);
        return;
    }
  }

  /**
   * Re-protection, asked for: this side runs alone (a failed-over side, or a primary whose
   * secondary never came), and the executor makes it the primary of the secondary waiting on
   * `secondaryUri`'s host. Answered at once; ColoState and LastError tell how it goes.
   */
  private resync(request: number, secondaryUri: string): void {
    const refused = this.whyNoResync();
    if (refused !== undefined) {
      this.answer(request, { ok: false, error: refused });
      return;
    }
    this.resyncing = true;
    this.resyncFrom = this.colo;
    this.clear("replication");
    this.setColo("starting", `re-protecting with the secondary on ${secondaryUri}`);
    this.issue({ kind: "resync", secondaryUri }, { for: "resync", secondaryUri });
    this.answer(request, { ok: true });
  }

  private whyNoResync(): string | undefined {
    const name = `'${this.config.domain}'`;
    if (this.resyncing) return `${name} is being protected again already`;
    if (this.failingOver) return `${name} is failing over: try again once it runs alone`;
    if (this.storing || this.paramQueue.length > 0)
      return `${name}'s parameters are being stored: try again once they are`;
    if (this.inColo || this.protecting || this.colo === "starting")
      return `${name} is in COLO already (${this.colo}): there is nothing to resync`;
    const alone =
      this.colo === "failed-over" || (this.role === "primary" && this.colo === "unprotected");
    if (!alone)
      return `${name} does not run alone (COLO state ${this.colo}): re-protection makes a side that runs alone after a failover the primary of a new secondary`;
    return undefined;
  }

  /**
   * The side's configuration after re-protection: new parameters apply as `set` applies them,
   * and the secondary (maybe another, on another host, with this side maybe a secondary before)
   * is followed anew: the old one let go of, the new one reached, COLO's session read again.
   */
  private adopt(next: PairConfig): void {
    const before = this.meta;
    const patch = Object.fromEntries(
      Object.entries(toExternal(next.meta.params)).filter(
        ([k, v]) => toExternal(before.params)[k] !== v,
      ),
    ) as ParamPatch;
    this.meta = next.meta;
    this.disks = next.disks;
    this.nics = next.nics;
    // Its own QEMU's version goes with its role; the new secondary's is known once reached.
    const own = this.qemu[before.role];
    this.qemu.primary = "";
    this.qemu.secondary = "";
    this.qemu[next.meta.role] = own;
    this.emit({ type: "config", config: next });
    if (Object.keys(patch).length > 0) this.feed({ type: "set-params", t: this.now, patch });
    this.record(
      "colo",
      `protected again: the ${next.meta.role} of '${next.meta.peer.domain}' at ${next.meta.peer.uri} (was the ${before.role} of '${before.peer.domain}')`,
      "info",
    );
    this.stopWatching();
    this.held = false;
    this.untimer("peer-retry");
    this.clear("peer");
    this.clear("hung");
    this.hung = false;
    // The session began under the old role: read it again as the primary's.
    this.reader.left();
    // The new peer is reached once the old one is let go of, or once the old one's connection
    // under way has settled.
    if (this.peer === "connecting") this.peerMoved = true;
    else if (this.peer === "none") this.peerDropped();
    else {
      this.peer = "none";
      this.issue({ kind: "drop-peer" }, { for: "drop-peer" });
    }
  }

  private peerDropped(): void {
    if (this.role === "primary") this.connectPeer();
    this.derive();
  }

  private nextParams(): void {
    if (this.storing) return;
    const next = this.paramQueue.shift();
    if (next === undefined) return;
    const checked = applyPatch(this.meta.params, next.patch);
    if (!checked.ok) {
      this.answer(next.id, checked);
      this.nextParams();
      return;
    }
    // Stored first, live and persistent, so that a failure changes nothing.
    this.storing = true;
    const meta = { ...this.meta, params: checked.params };
    this.issue(
      { kind: "store-metadata", meta },
      { for: "store-params", meta, patch: next.patch, request: next.id },
    );
  }

  private paramsStored(meta: HybridMetadata, patch: ParamPatch, request: number): void {
    this.meta = meta;
    this.feed({ type: "set-params", t: this.now, patch });
    if (this.native && this.inColo) this.setNativeParams();
    // A new peer-timeout counts from now.
    if (!this.heartbeatInFlight) this.alive();
    this.record("params", `parameters set: ${shown(patch)}`, "info");
    this.answer(request, { ok: true });
    this.storing = false;
    this.nextParams();
  }

  /** Leaves QEMU as COLO mode wants it (period restored, secondary released), then lets go. */
  private close(id: number): void {
    if (this.closing !== undefined) return;
    this.closing = id;
    this.stopWatching();
    this.untimer("peer-retry");
    this.untimer("derive-retry");
    this.untimer("replication-retry");
    for (const q of this.paramQueue.splice(0))
      this.answer(q.id, { ok: false, error: "the agent is stopping" });
    // Held, or maybe left stopped (a stop on its way, or one that landed late), or QEMU's period
    // maybe still passive-time (the last change failed): set colo-period, whose checkpoint
    // releases the secondary.
    this.releaseOnClose =
      this.role === "primary" &&
      this.inColo &&
      !this.native &&
      (this.held || this.stopInFlight || this.strayStop || this.errors.has("period"));
    this.held = false;
    this.finishClose();
  }

  /** Called again as each thing closing waits for settles. */
  private finishClose(): void {
    if (this.closing === undefined || this.closed || this.stopInFlight) return;
    if (this.releaseOnClose) {
      // After any stop in flight, so that the checkpoint the period brings releases the secondary.
      this.releaseOnClose = false;
      this.log("info", "leaving passive mode before exiting");
      this.setPeriod(this.params.coloPeriod, true);
      return;
    }
    if ([...this.pending.values()].some((p) => p.for === "set-period")) return;
    this.closed = true;
    this.answer(this.closing, { ok: true });
    this.emit({ type: "closed" });
  }

  // --- what is published ----------------------------------------------------------------

  status(now: number): AgentStatus {
    const core = this.core.status(now);
    return {
      domain: this.config.domain,
      uuid: this.config.uuid,
      role: this.role,
      peer: { ...this.meta.peer },
      colo: this.colo,
      coloReason: this.coloReason,
      mode: this.native ? "colo" : core.mode,
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

  recent(now: number): CheckpointRecord[] {
    return this.core.stats.inWindow(now);
  }

  /** Live parameters and the stored ones: always the same (a property the tests check). */
  parameters(): { live: Params; stored: Params } {
    return { live: this.params, stored: this.meta.params };
  }

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
    this.history.push({ t: this.now, kind, message: text });
    if (this.history.length > HISTORY_KEPT) this.history.shift();
    this.log(level, text);
    this.changed();
  }

  private fail(cause: Cause, text: string): void {
    this.errors.delete(cause);
    this.errors.set(cause, text);
    this.lastError = text;
    this.record("error", text, "error");
  }

  private clear(cause: Cause): void {
    if (!this.errors.delete(cause)) return;
    // The newest error whose cause still holds, or none.
    this.lastError = [...this.errors.values()].at(-1) ?? "";
    this.changed();
  }

  private log(level: "info" | "warning" | "error", text: string): void {
    this.emit({ type: "log", level, text });
  }

  private changed(): void {
    this.emit({ type: "changed" });
  }
}

/** A patch as the history says it: "passive-count=50 passive-time=300". */
function shown(patch: ParamPatch): string {
  return Object.entries(patch)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(" ");
}
