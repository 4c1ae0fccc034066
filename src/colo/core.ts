// The policy and its statistics together: what the agent and the simulator drive.
// Still sans-IO: it only holds state; events come in, actions go out.
import type { Action, Mode, PolicyEvent } from "./events.js";
import type { Params } from "./params.js";
import { initialState, meanOf, modeOf, type PolicyState, step } from "./policy.js";
import { CheckpointStats, type StatsOptions, type StatsSnapshot } from "./stats.js";

/** What the agent publishes: the policy's view and the statistics, at `now`. */
export interface CoreStatus {
  mode: Mode;
  /** Counted checkpoints until COLO again (PolicyState.passiveLeft); 0 in COLO. */
  passiveLeft: number;
  /** The mean as the variant compares it, ms, and the samples in it since the last reset. */
  mean: number;
  samples: number;
  params: Params;
  stats: StatsSnapshot;
}

export class HybridCore {
  private current: PolicyState;
  readonly stats: CheckpointStats;

  constructor(params?: Params, statsOptions?: Partial<StatsOptions>) {
    this.current = initialState(params);
    this.stats = new CheckpointStats(statsOptions);
  }

  get state(): PolicyState {
    return this.current;
  }

  handle(event: PolicyEvent): readonly Action[] {
    const before = this.current;
    const { state, actions } = step(before, event);
    // A refused event changed nothing, so it must not reach the statistics either.
    if (actions[0]?.type === "event-rejected") return actions;
    this.current = state;
    if (event.type === "checkpoint-start") {
      this.stats.onCheckpoint(
        event.t,
        modeOf(state),
        event.trigger,
        state.lastLength,
        meanOf(state),
      );
    } else if (event.type === "checkpoint-end" && before.openStart !== undefined) {
      this.stats.onPause(event.t - before.openStart);
    }
    for (const action of actions) {
      if (action.type === "transition") this.stats.onTransition(action.transition);
    }
    return actions;
  }

  status(now: number): CoreStatus {
    const s = this.current;
    return {
      mode: modeOf(s),
      passiveLeft: s.passiveLeft,
      mean: meanOf(s),
      samples: s.mean.samples,
      params: s.params,
      stats: this.stats.snapshot(now),
    };
  }
}
