// The hybrid-mode policy as a pure state machine: step(state, event) -> { state, actions }.
// No clock, no timers, no I/O: time arrives on the events, effects leave as actions.
//
// Decision rule (2015 RFC "COLO: Hybrid mode", checkpoint_to_passive_mode):
//   at the start of every checkpoint, fold the length of the run that just ended into the mean;
//   while passive, count the spell down and, when it is spent, reset the mean and go back to COLO;
//   in COLO, after `warmup` samples, go passive for `passive-count` checkpoints when the mean is
//   below `passive-limit`. The checkpoint that decides to go passive is the first of the spell;
//   checkpoints we requested (by changing the period) do not count down a spell.
//
// The variants differ only in what reaches the mean (docs/policy.md has a worked example):
//   seed       every length, from zero, as the RFC did;
//   corrected  only lengths of COLO runs that ended on their own (not passive runs, not
//              checkpoints we requested by changing the period), bias-corrected (mean.ts).
import type {
  Action,
  EventRejected,
  Mode,
  PolicyEvent,
  Transition,
  TransitionReason,
  Trigger,
} from "./events.js";
import { addSample, correctedEstimate, EMPTY_MEAN, type MeanState, seedEstimate } from "./mean.js";
import { applyPatch, DEFAULT_PARAMS, type Params } from "./params.js";

export interface PolicyState {
  readonly params: Params;
  readonly mean: MeanState;
  /**
   * Counted (not requested) checkpoints until COLO again, the last of them the one that goes
   * back; 0 in COLO (the RFC's passive_count).
   */
  readonly passiveLeft: number;
  /** When the previous checkpoint ended; the next length is measured from here. */
  readonly lastEnd: number | undefined;
  /** When the checkpoint in progress started, if one is. */
  readonly openStart: number | undefined;
  /** Length of the run before the latest checkpoint, when it could be measured. */
  readonly lastLength: number | undefined;
  /** Checkpoints started so far. */
  readonly checkpoints: number;
}

export interface Step {
  readonly state: PolicyState;
  readonly actions: readonly Action[];
}

const NONE: readonly Action[] = Object.freeze([]);

export function initialState(params: Params = DEFAULT_PARAMS): PolicyState {
  return {
    params,
    mean: EMPTY_MEAN,
    passiveLeft: 0,
    lastEnd: undefined,
    openStart: undefined,
    lastLength: undefined,
    checkpoints: 0,
  };
}

export function modeOf(state: PolicyState): Mode {
  return state.passiveLeft > 0 ? "passive" : "colo";
}

/** The mean as the state's variant reports and compares it, ms. */
export function meanOf(state: PolicyState): number {
  return state.params.variant === "seed" ? seedEstimate(state.mean) : correctedEstimate(state.mean);
}

// Every state is built by this one literal so that all states share one shape: spreading
// `{ ...state, x }` instead made V8 run the replay about five times slower. Fields whose
// value may be undefined are taken from `c` whenever `c` names them.
function next(s: PolicyState, c: Partial<PolicyState>): PolicyState {
  return {
    params: c.params ?? s.params,
    mean: c.mean ?? s.mean,
    passiveLeft: c.passiveLeft ?? s.passiveLeft,
    lastEnd: "lastEnd" in c ? c.lastEnd : s.lastEnd,
    openStart: "openStart" in c ? c.openStart : s.openStart,
    lastLength: "lastLength" in c ? c.lastLength : s.lastLength,
    checkpoints: c.checkpoints ?? s.checkpoints,
  };
}

/** Beyond ±2^53 ms a time has lost the millisecond, and sums of lengths could overflow. */
const MAX_TIME = Number.MAX_SAFE_INTEGER;

/**
 * Why `event` must be refused, if it must: its time is not a finite number of ms within
 * ±MAX_TIME, or a checkpoint event goes back before the latest checkpoint event. Only those
 * share a clock: colo-start may restart it (a new session, maybe on another host) and
 * set-params carries the agent's.
 */
export function rejection(s: PolicyState, event: PolicyEvent): EventRejected | undefined {
  const { type, t } = event;
  if (!Number.isFinite(t) || Math.abs(t) > MAX_TIME) {
    const message = `${type} at t=${t}: not a finite time in ms`;
    return { type: "event-rejected", reason: "non-finite-time", message };
  }
  const latest = s.openStart ?? s.lastEnd;
  if (
    (type === "checkpoint-start" || type === "checkpoint-end") &&
    latest !== undefined &&
    t < latest
  ) {
    const message = `${type} at t=${t} is before the latest checkpoint event, at t=${latest}`;
    return { type: "event-rejected", reason: "time-backwards", message };
  }
  return undefined;
}

/** A refused event leaves the state as it was and yields only its rejection. */
export function step(s: PolicyState, event: PolicyEvent): Step {
  const refused = rejection(s, event);
  if (refused) return { state: s, actions: [refused] };
  switch (event.type) {
    case "colo-start":
      return { state: next(initialState(s.params), { lastEnd: event.t }), actions: NONE };
    case "checkpoint-start":
      return checkpointStart(s, event.t, event.trigger);
    case "checkpoint-end":
      return { state: next(s, { lastEnd: event.t, openStart: undefined }), actions: NONE };
    case "set-params":
      return setParams(s, event.t, event.patch);
  }
}

function countsForMean(s: PolicyState, trigger: Trigger | undefined): boolean {
  if (s.params.variant === "seed") return true;
  return s.passiveLeft === 0 && trigger !== "request";
}

function checkpointStart(s: PolicyState, t: number, trigger: Trigger | undefined): Step {
  // A start while another is open means its end was lost: the run length is unknown.
  const since = s.openStart === undefined ? s.lastEnd : undefined;
  const length = since === undefined ? undefined : t - since;
  const mean =
    length !== undefined && countsForMean(s, trigger)
      ? addSample(s.mean, s.params.weight, length)
      : s.mean;
  const measured = next(s, {
    mean,
    openStart: t,
    lastLength: length,
    checkpoints: s.checkpoints + 1,
  });

  if (s.passiveLeft > 0) {
    // QEMU takes it at once when we set the period: counted, it cut every spell by a period
    // (passive-count=1 was a spell of no period at all).
    if (trigger === "request") return { state: measured, actions: NONE };
    const left = s.passiveLeft - 1;
    if (left === 0) return leavePassive(measured, t, "spell-complete");
    return { state: next(measured, { passiveLeft: left }), actions: NONE };
  }
  const { params } = s;
  if (params.enabled && mean.samples >= params.warmup && meanOf(measured) < params.passiveLimit) {
    const transition = transitionOf(measured, t, "colo", "passive", "mean-below-limit");
    return {
      state: next(measured, { passiveLeft: params.passiveCount }),
      actions: [
        { type: "set-period", ms: params.passiveTime },
        { type: "hold-secondary" },
        { type: "transition", transition },
      ],
    };
  }
  return { state: measured, actions: NONE };
}

function leavePassive(s: PolicyState, t: number, reason: TransitionReason): Step {
  const transition = transitionOf(s, t, "passive", "colo", reason);
  return {
    state: next(s, { passiveLeft: 0, mean: EMPTY_MEAN }),
    actions: [
      { type: "set-period", ms: s.params.coloPeriod },
      { type: "release-secondary" },
      { type: "transition", transition },
    ],
  };
}

function transitionOf(
  state: PolicyState,
  t: number,
  from: Mode,
  to: Mode,
  reason: TransitionReason,
): Transition {
  return { t, from, to, reason, mean: meanOf(state) };
}

// New values rule the next decision. A spell under way is not lengthened, but a lower
// passive-count caps it: it ends no later than a spell of the new count begun at the latest
// checkpoint would (in COLO passiveLeft is 0 and stays so).
function setParams(state: PolicyState, t: number, patch: Readonly<Record<string, unknown>>): Step {
  const result = applyPatch(state.params, patch);
  if (!result.ok) return { state, actions: [{ type: "params-rejected", errors: result.errors }] };
  const { params } = result;
  const passiveLeft = Math.min(state.passiveLeft, params.passiveCount);
  const updated = next(state, { params, passiveLeft });
  const changed: Action = { type: "params-changed", params };
  if (modeOf(updated) === "passive") {
    if (!params.enabled) {
      const left = leavePassive(updated, t, "disabled");
      return { state: left.state, actions: [changed, ...left.actions] };
    }
    if (params.passiveTime !== state.params.passiveTime) {
      return { state: updated, actions: [changed, { type: "set-period", ms: params.passiveTime }] };
    }
  } else if (params.coloPeriod !== state.params.coloPeriod) {
    return { state: updated, actions: [changed, { type: "set-period", ms: params.coloPeriod }] };
  }
  return { state: updated, actions: [changed] };
}
