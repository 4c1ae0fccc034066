// The pair controller's vocabulary (controller.ts): what goes in, what comes out. Sans-IO like
// h11: the controller never calls libvirt, reads a clock or sets a timer; the agent
// (src/agent/agent.ts) executes the outputs and feeds back their results, QEMU's events and
// timer expiries, each with the time it happened.
import type { Transition } from "../colo/events.js";
import type { ParamError, ParamPatch } from "../colo/params.js";
import type { CheckpointRecord } from "../colo/stats.js";
import type { HybridMetadata } from "../libvirt/xml/metadata.js";
import type { PrimaryState, SideState } from "./pair-state.js";

/** "own" is this agent's domain; "peer" the secondary a primary's agent follows. */
export type Side = "own" | "peer";

export type TimerName =
  /** Check the secondary's QEMU answers (primary role, in COLO). */
  | "heartbeat"
  /** The heartbeat's query has not come back: the secondary is hung. */
  | "peer-timeout"
  /** A checkpoint (primary STOP … RESUME) has not ended. */
  | "checkpoint"
  /** Try the secondary's host again. */
  | "peer-retry"
  /** Read QEMU's state again after events kept disturbing the reads. */
  | "derive-retry"
  /** Try starting replication again, after it failed. */
  | "replication-retry"
  /** Compare both sides' disk writes (primary role, in COLO, with replicated disks). */
  | "replica-check";

/** A request of the agent's surfaces (D-Bus), answered by an `answer` output of the same id. */
export type Request =
  | { kind: "set-params"; patch: ParamPatch }
  | { kind: "failover" }
  /**
   * Re-protection: this side runs alone; make it the primary of the secondary started on
   * `secondaryUri`'s host (reprotect.ts). Answered once begun; the state tells how it goes.
   */
  | { kind: "resync"; secondaryUri: string }
  | { kind: "reset-stats" }
  | { kind: "close" };

export type Answer =
  | { ok: true }
  | { ok: false; errors: ParamError[] }
  | { ok: false; error: string };

/** Work for the executor; its outcome comes back as `done` or `failed` with the same id. */
export type Work =
  | { kind: "qmp"; side: Side; command: string; args?: Record<string, unknown> }
  /** pair-state.ts: readPrimary for the primary role, readSide for the secondary. */
  | { kind: "read-state" }
  /** protect.ts: start replication to the secondary (primary role). */
  | { kind: "protect"; period: number }
  /** failover.ts: this side leaves COLO and runs alone. */
  | { kind: "failover" }
  /** Store the metadata (live and persistent) before its parameters are applied. */
  | { kind: "store-metadata"; meta: HybridMetadata }
  /** Reach the secondary: done with its QEMU's version text. */
  | { kind: "connect-peer" }
  /** Let go of the secondary reached before: the metadata names another. */
  | { kind: "drop-peer" }
  /** reprotect.ts, the survivor's half: done with the side's new PairConfig (its primary's). */
  | { kind: "resync"; secondaryUri: string };

/** What the agent reads from its domain's XML: the metadata, and what its plumbing replicates. */
export interface PairConfig {
  meta: HybridMetadata;
  /** Replicated disks (pair/disks.ts) and NICs (ids.ts, plumbedNics) in the plumbing. */
  disks: number;
  nics: number;
}

export type Input = { now: number } & (
  | { type: "start"; qemu: string }
  /** A QEMU monitor event; `t` is QEMU's own timestamp. */
  | { type: "qemu-event"; side: Side; event: string; t: number; details: unknown }
  | { type: "domain-stopped"; why: string }
  | { type: "libvirt-lost"; side: Side; error: string }
  | { type: "libvirt-back"; side: Side }
  | { type: "done"; id: number; result: unknown }
  | { type: "failed"; id: number; error: string }
  | { type: "timer"; name: TimerName }
  | { type: "request"; id: number; request: Request }
);

/** An input as the executor hands it over: the controller's clock is stamped on at the door. */
export type Occurrence = Input extends infer I
  ? I extends unknown
    ? Omit<I, "now">
    : never
  : never;

export type Output =
  | { type: "work"; id: number; work: Work }
  | { type: "set-timer"; name: TimerName; ms: number }
  | { type: "clear-timer"; name: TimerName }
  | { type: "answer"; id: number; answer: Answer }
  | { type: "log"; level: "info" | "warning" | "error"; text: string }
  /** Something in the status may have changed. */
  | { type: "changed" }
  | { type: "checkpoint"; record: CheckpointRecord }
  | { type: "transition"; transition: Transition }
  /** The side's configuration changed (re-protection): the executor acts on this one from now on. */
  | { type: "config"; config: PairConfig }
  /** After a `close` request: nothing more will be asked of QEMU; let go of everything. */
  | { type: "closed" };

export type StateRead = SideState | PrimaryState;
