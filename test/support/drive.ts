// Helpers to drive the policy with plain data.
import type { Action, PolicyEvent, Trigger } from "../../src/colo/events.js";
import { applyPatch, DEFAULT_PARAMS, type Params } from "../../src/colo/params.js";
import { initialState, type PolicyState, step } from "../../src/colo/policy.js";

export function params(patch: Record<string, unknown> = {}): Params {
  const r = applyPatch(DEFAULT_PARAMS, patch);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join("; "));
  return r.params;
}

export interface Run {
  length: number;
  trigger?: Trigger;
}

/** Events of checkpoints after runs of the given lengths, each with `pause` ms of pause. */
export function eventsOf(runs: readonly (number | Run)[], pause = 0): PolicyEvent[] {
  const events: PolicyEvent[] = [{ type: "colo-start", t: 0 }];
  let t = 0;
  for (const r of runs) {
    const run = typeof r === "number" ? { length: r } : r;
    t += run.length;
    events.push({ type: "checkpoint-start", t, trigger: run.trigger });
    t += pause;
    events.push({ type: "checkpoint-end", t });
  }
  return events;
}

export interface Trace {
  states: PolicyState[];
  actions: Action[][];
}

/** Steps through events; records the state and actions after each checkpoint start. */
export function drive(p: Params, events: readonly PolicyEvent[]): Trace {
  let state = initialState(p);
  const trace: Trace = { states: [], actions: [] };
  for (const e of events) {
    const r = step(state, e);
    state = r.state;
    if (e.type === "checkpoint-start") {
      trace.states.push(state);
      trace.actions.push([...r.actions]);
    }
  }
  return trace;
}
