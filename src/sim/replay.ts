// Replays a trace through the core, open loop: the trace's checkpoints are taken as they were
// recorded and the policy decides, checkpoint by checkpoint, which mode each would have run in.
// A passive spell therefore spans passive-count of the trace's checkpoints, and the time and SVM
// run time reported for passive mode are those the trace spent there. On a trace recorded in pure
// COLO this is the what-if: the secondary would have been idle during those runs.
import { HybridCore } from "../colo/core.js";
import type { Mode, Transition, Trigger } from "../colo/events.js";
import type { Params } from "../colo/params.js";
import { meanOf, modeOf } from "../colo/policy.js";
import type { StatsSnapshot } from "../colo/stats.js";
import type { TraceEvent } from "../trace/format.js";

/** One checkpoint as replayed; `mode` is the mode the run after it goes in. */
export interface ReplayedCheckpoint {
  seq: number;
  t: number;
  mode: Mode;
  trigger: Trigger | undefined;
  length: number | undefined;
  pause: number | undefined;
  mean: number;
  passiveLeft: number;
}

export interface Span {
  from: number;
  to: number;
  mode: Mode;
}

export interface Mark {
  t: number;
  label: string;
}

export interface ReplaySummary {
  start: number;
  end: number;
  stats: StatsSnapshot;
  /** Run time, ms, the secondary would not have spent running: the runs after passive checkpoints. */
  svmRunSaved: number;
  spans: Span[];
  marks: Mark[];
  transitions: Transition[];
  finalMean: number;
  rejectedParams: string[];
  /** Events the policy refused (times not finite, or going backwards). */
  rejectedEvents: string[];
}

export class Replay {
  private readonly core: HybridCore;
  private pending: ReplayedCheckpoint | undefined;
  private start: number | undefined;
  private end = 0;
  private svmRunSaved = 0;
  private readonly spans: Span[] = [];
  private readonly marks: Mark[] = [];
  private readonly transitions: Transition[] = [];
  private readonly rejectedParams: string[] = [];
  private readonly rejectedEvents: string[] = [];

  constructor(
    params: Params,
    private readonly onCheckpoint: (c: ReplayedCheckpoint) => void = () => {},
  ) {
    this.core = new HybridCore(params);
  }

  push(event: TraceEvent): void {
    this.start ??= event.t;
    this.end = event.t;
    if (event.type === "mark") {
      this.marks.push({ t: event.t, label: event.label });
      return;
    }
    const wasMode = modeOf(this.core.state);
    const actions = this.core.handle(event);
    for (const a of actions) {
      // A refused event changed nothing: it is no checkpoint either.
      if (a.type === "event-rejected") {
        this.rejectedEvents.push(`t=${event.t}: ${a.message}`);
        return;
      }
      if (a.type === "transition") this.transitions.push(a.transition);
      if (a.type === "params-rejected") {
        this.rejectedParams.push(...a.errors.map((e) => `t=${event.t}: ${e.message}`));
      }
    }
    const state = this.core.state;
    if (event.type === "colo-start") this.extendSpan(event.t, "colo");
    if (event.type === "checkpoint-start") {
      this.flush();
      if (wasMode === "passive" && state.lastLength !== undefined) {
        this.svmRunSaved += state.lastLength;
      }
      this.extendSpan(event.t, modeOf(state));
      this.pending = {
        seq: state.checkpoints,
        t: event.t,
        mode: modeOf(state),
        trigger: event.trigger,
        length: state.lastLength,
        pause: undefined,
        mean: meanOf(state),
        passiveLeft: state.passiveLeft,
      };
    } else if (
      event.type === "checkpoint-end" &&
      this.pending &&
      this.pending.pause === undefined
    ) {
      this.pending.pause = event.t - this.pending.t;
    }
  }

  private extendSpan(t: number, mode: Mode): void {
    const last = this.spans.at(-1);
    if (last) last.to = t;
    if (!last || last.mode !== mode) this.spans.push({ from: t, to: t, mode });
  }

  private flush(): void {
    if (this.pending) this.onCheckpoint(this.pending);
    this.pending = undefined;
  }

  finish(): ReplaySummary {
    this.flush();
    const last = this.spans.at(-1);
    if (last) last.to = this.end;
    return {
      start: this.start ?? 0,
      end: this.end,
      stats: this.core.stats.snapshot(this.end),
      svmRunSaved: this.svmRunSaved,
      spans: this.spans,
      marks: this.marks,
      transitions: this.transitions,
      finalMean: meanOf(this.core.state),
      rejectedParams: this.rejectedParams,
      rejectedEvents: this.rejectedEvents,
    };
  }
}

export function replay(events: Iterable<TraceEvent>, params: Params): ReplaySummary {
  const r = new Replay(params);
  for (const e of events) r.push(e);
  return r.finish();
}
