// What goes into the policy core and what comes out of it. Times are milliseconds on the
// clock of whoever produced the events (QEMU's own event timestamps on a live pair).
import type { ParamError, ParamPatch, Params } from "./params.js";

export type Mode = "colo" | "passive";

/** Why a checkpoint happened, where the producer knows it. */
export type Trigger = "timer" | "miscompare" | "request";
export const TRIGGERS: readonly Trigger[] = ["timer", "miscompare", "request"];

export type PolicyEvent =
  /** COLO (re)started: the RFC's initial state; `t` is when the first COLO interval began. */
  | { type: "colo-start"; t: number }
  /** The primary stopped for a checkpoint (QEMU `STOP`). */
  | { type: "checkpoint-start"; t: number; trigger?: Trigger | undefined }
  /** The primary runs again (QEMU `RESUME`). */
  | { type: "checkpoint-end"; t: number }
  | { type: "set-params"; t: number; patch: ParamPatch };

export type TransitionReason =
  /** The mean fell below passive-limit after warm-up. */
  | "mean-below-limit"
  /** passive-count passive checkpoints have been taken. */
  | "spell-complete"
  /** Hybrid mode was switched off while passive. */
  | "disabled";

export interface Transition {
  t: number;
  from: Mode;
  to: Mode;
  reason: TransitionReason;
  /** The mean when the decision was taken, ms. */
  mean: number;
}

/** Why an event was refused: see `rejection` in policy.ts. */
export type RejectionReason = "non-finite-time" | "time-backwards";

/** An event the core refused; it changed nothing and reached neither the mean nor the stats. */
export interface EventRejected {
  type: "event-rejected";
  reason: RejectionReason;
  message: string;
}

export type Action =
  /** Set the primary's x-checkpoint-delay. */
  | { type: "set-period"; ms: number }
  /** Keep the secondary stopped: stop it again after each of its RESUMEs. */
  | { type: "hold-secondary" }
  | { type: "release-secondary" }
  | { type: "transition"; transition: Transition }
  | { type: "params-changed"; params: Params }
  | { type: "params-rejected"; errors: ParamError[] }
  | EventRejected;
