// Synthetic COLO traces with load phases, for the demo, tests and benchmarks.
//
// Model of a pair in COLO mode: a checkpoint comes when the timer (colo-period after the last
// one ended) runs out or at the first miscompare, whichever is first. Miscompares arrive as a
// Poisson process whose rate depends on the load phase. Rates and pauses follow what was
// measured on the one-host lab (QEMU 7.2, TCG): divergent HTTP load gave 3.6-4.4 checkpoints/s,
// pauses (STOP to RESUME) on the primary were 65-100 ms. With ~83 ms of pause per checkpoint,
// 6 miscompares/s while running give ~4 checkpoints/s.
import { HybridCore } from "../colo/core.js";
import type { PolicyEvent, Trigger } from "../colo/events.js";
import type { Params } from "../colo/params.js";
import { parseDecimal } from "../input/decimal.js";
import { excerpt } from "../input/excerpt.js";
import type { TraceEvent } from "./format.js";

export type PhaseKind = "divergent" | "convergent" | "idle";
export const PHASE_KINDS: readonly PhaseKind[] = ["divergent", "convergent", "idle"];

export interface Phase {
  kind: PhaseKind;
  seconds: number;
}

/** Miscompares per second in each phase. */
export const MISCOMPARE_RATE: Record<PhaseKind, number> = {
  divergent: 6,
  convergent: 0.05,
  idle: 0,
};

/** How long QEMU takes to start the checkpoint that a period change asks for, ms. */
const REQUEST_DELAY = 0.5;

export interface SynthOptions {
  seed: number;
  phases: readonly Phase[];
  /** x-checkpoint-delay of the recorded pair, ms. */
  coloPeriod: number;
  pauseMin: number;
  pauseMax: number;
}

export const DEFAULT_PHASES: readonly Phase[] = [
  { kind: "idle", seconds: 60 },
  { kind: "divergent", seconds: 120 },
  { kind: "convergent", seconds: 120 },
  { kind: "divergent", seconds: 60 },
  { kind: "idle", seconds: 60 },
];

export const DEFAULT_SYNTH: SynthOptions = {
  seed: 1,
  phases: DEFAULT_PHASES,
  coloPeriod: 20_000,
  pauseMin: 65,
  pauseMax: 100,
};

/** "divergent:120,idle:60" → phases; throws with a readable message. */
export function parsePhases(text: string): Phase[] {
  return text.split(",").map((part) => {
    const [kind, seconds] = part.trim().split(":");
    const s = parseDecimal(seconds ?? "");
    if (!PHASE_KINDS.includes(kind as PhaseKind) || s === undefined || s <= 0) {
      throw new Error(
        `bad phase ${excerpt(part)}: expected KIND:SECONDS with KIND one of ${PHASE_KINDS.join(", ")}`,
      );
    }
    return { kind: kind as PhaseKind, seconds: s };
  });
}

/** mulberry32: small, fast, and the same sequence on every platform for a given seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A pair under load, as a trace. With `params` the policy runs in the loop as the agent runs it
 * on a live pair: its set-period actions change the period and, as QEMU does, cause one
 * checkpoint at once (trigger "request"); while the secondary is held nothing miscompares.
 * Without `params` the pair stays in COLO, as upstream QEMU alone would.
 */
export function* synthesize(
  options: Partial<SynthOptions> = {},
  params?: Params,
): Generator<TraceEvent> {
  const o = { ...DEFAULT_SYNTH, ...options };
  const random = prng(o.seed);
  const core = params ? new HybridCore(params) : undefined;
  const ends: number[] = [];
  let acc = 0;
  for (const p of o.phases) {
    acc += p.seconds * 1000;
    ends.push(acc);
  }
  const total = acc;
  // Index of the phase in force at t (binary search: bench traces have many phases).
  const phaseAt = (t: number): number | undefined => {
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((ends[mid] as number) <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo < ends.length ? lo : undefined;
  };
  let period = params?.coloPeriod ?? o.coloPeriod;
  let held = false;
  let requested = false;

  const emit = (event: PolicyEvent): PolicyEvent => {
    for (const action of core?.handle(event) ?? []) {
      if (action.type === "set-period") {
        period = action.ms;
        requested = true;
      } else if (action.type === "hold-secondary") held = true;
      else if (action.type === "release-secondary") held = false;
    }
    return event;
  };

  yield emit({ type: "colo-start", t: 0 });
  yield { type: "mark", t: 0, label: o.phases[0]?.kind ?? "idle" };
  let marked = 0;
  let lastEnd = 0;
  while (lastEnd < total) {
    let start = lastEnd + REQUEST_DELAY;
    let trigger: Trigger = "request";
    if (!requested) {
      [start, trigger] = nextCheckpoint(lastEnd, lastEnd + period);
    }
    requested = false;
    if (start >= total) break;
    // A boundary that fell during the last pause is marked when the pause ended.
    for (const upTo = phaseAt(start) ?? 0; marked < upTo; marked++) {
      const t = Math.max(ends[marked] as number, lastEnd);
      yield { type: "mark", t, label: o.phases[marked + 1]?.kind ?? "idle" };
    }
    yield emit({ type: "checkpoint-start", t: start, trigger });
    lastEnd = start + o.pauseMin + (o.pauseMax - o.pauseMin) * random();
    yield emit({ type: "checkpoint-end", t: lastEnd });
  }

  // The first miscompare before the deadline, walking phase by phase since the rate changes
  // at phase boundaries; none while the secondary is held.
  function nextCheckpoint(from: number, deadline: number): [number, Trigger] {
    let cursor = from;
    for (;;) {
      const i = phaseAt(cursor);
      const kind = i === undefined ? "idle" : (o.phases[i]?.kind ?? "idle");
      const phaseEnd = i === undefined ? Number.POSITIVE_INFINITY : (ends[i] as number);
      const rate = held ? 0 : MISCOMPARE_RATE[kind] / 1000;
      const arrival = rate > 0 ? cursor - Math.log(1 - random()) / rate : Number.POSITIVE_INFINITY;
      if (arrival < Math.min(deadline, phaseEnd)) return [arrival, "miscompare"];
      if (deadline <= phaseEnd) return [deadline, "timer"];
      cursor = phaseEnd;
    }
  }
}
