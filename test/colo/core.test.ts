import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HybridCore } from "../../src/colo/core.js";
import { type PolicyEvent, TRIGGERS } from "../../src/colo/events.js";
import { meanOf, rejection } from "../../src/colo/policy.js";
import { params } from "../support/drive.js";

const rejected = (reason: string) => [
  { type: "event-rejected", reason, message: expect.any(String) },
];

/** A core after COLO started at 0 and a checkpoint started at 100. */
function midCheckpoint(): HybridCore {
  const core = new HybridCore(params());
  core.handle({ type: "colo-start", t: 0 });
  core.handle({ type: "checkpoint-start", t: 100, trigger: "timer" });
  return core;
}

describe("HybridCore: refused times never reach the statistics", () => {
  it("refuses a NaN end, which used to make pause.avg NaN for good", () => {
    const core = midCheckpoint();
    expect(core.handle({ type: "checkpoint-end", t: Number.NaN })).toEqual(
      rejected("non-finite-time"),
    );
    core.handle({ type: "checkpoint-end", t: 110 });
    expect(core.status(110).stats.pause.all).toEqual({ count: 1, min: 10, avg: 10, max: 10 });
  });

  it("refuses an end before its start instead of recording a negative pause", () => {
    const core = midCheckpoint();
    const before = core.state;
    expect(core.handle({ type: "checkpoint-end", t: 40 })).toEqual(rejected("time-backwards"));
    expect(core.state).toBe(before);
    expect(core.status(100).stats.pause.all.count).toBe(0);
  });

  it("refuses an infinite start: no checkpoint counted, no infinite length or mean", () => {
    const core = midCheckpoint();
    core.handle({ type: "checkpoint-end", t: 110 });
    const actions = core.handle({ type: "checkpoint-start", t: Number.POSITIVE_INFINITY });
    expect(actions).toEqual(rejected("non-finite-time"));
    const { stats, mean, samples } = core.status(110);
    expect(stats.checkpoints.total).toBe(1);
    expect(stats.length.all).toEqual({ count: 1, min: 100, avg: 100, max: 100 });
    expect([mean, samples]).toEqual([100, 1]);
  });
});

// ---- properties -------------------------------------------------------------------------

/** A time either moves on from the previous one (maybe backwards) or is any double at all. */
type Time = { delta: number } | { at: number };
const timeArb: fc.Arbitrary<Time> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ delta: fc.integer({ min: -100, max: 1000 }) }) },
  { weight: 1, arbitrary: fc.record({ at: fc.double() }) },
);
const patchArb = fc.oneof(
  fc.record({ "passive-count": fc.integer({ min: 1, max: 4 }) }),
  fc.record({ enabled: fc.boolean() }),
  fc.record({ variant: fc.constantFrom("seed", "corrected") }),
  fc.record({ weight: fc.double({ min: 0.01, max: 1, noNaN: true }) }),
);
type Shape =
  | { type: "colo-start" | "checkpoint-end" }
  | { type: "checkpoint-start"; trigger: (typeof TRIGGERS)[number] | undefined }
  | { type: "set-params"; patch: Record<string, unknown> };
const shapeArb: fc.Arbitrary<Shape> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ type: "colo-start" as const }) },
  {
    weight: 6,
    arbitrary: fc.record({
      type: fc.constant("checkpoint-start" as const),
      trigger: fc.constantFrom(...TRIGGERS, undefined),
    }),
  },
  { weight: 6, arbitrary: fc.constant({ type: "checkpoint-end" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constant("set-params" as const), patch: patchArb }),
  },
);

function eventsFrom(steps: readonly [Shape, Time][]): PolicyEvent[] {
  let t = 0;
  return steps.map(([shape, time]) => {
    const at = "at" in time ? time.at : t + time.delta;
    // After a wild time carry on from 0, so that later deltas give usable times again.
    t = Math.abs(at) <= 1e9 ? at : 0;
    return { ...shape, t: at } as PolicyEvent;
  });
}

/** Every number anywhere in `value`. */
function numbers(value: unknown): number[] {
  if (typeof value === "number") return [value];
  if (value === null || typeof value !== "object") return [];
  return Object.values(value).flatMap(numbers);
}

describe("HybridCore: properties", () => {
  it("keeps stats and mean finite, and leaves everything as it was on a refusal", () => {
    const p = params({ "passive-count": 2, warmup: 1, "passive-limit": 300 });
    fc.assert(
      fc.property(fc.array(fc.tuple(shapeArb, timeArb), { maxLength: 80 }), (steps) => {
        const core = new HybridCore(p);
        let now = 0;
        for (const event of eventsFrom(steps)) {
          const before = core.state;
          const shown = JSON.stringify(core.status(now));
          const expected = rejection(before, event);
          const actions = core.handle(event);
          if (expected) {
            expect(actions).toEqual([expected]);
            expect(core.state).toBe(before);
            expect(JSON.stringify(core.status(now))).toBe(shown);
          } else {
            expect(actions.some((a) => a.type === "event-rejected")).toBe(false);
            now = Math.max(now, event.t);
          }
          const all = [
            ...numbers(core.status(now)),
            ...numbers(core.stats.recent()),
            ...numbers(core.state.mean),
            meanOf(core.state),
          ];
          expect(all.every(Number.isFinite)).toBe(true);
          expect(core.status(now).stats.pause.all.min).toBeGreaterThanOrEqual(0);
          expect(core.status(now).stats.length.all.min).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 400 },
    );
  });

  it("refuses exactly the non-finite times and the checkpoint events that go back", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(shapeArb, timeArb), { maxLength: 60 }), (steps) => {
        const core = new HybridCore(params());
        let latest: number | undefined;
        for (const event of eventsFrom(steps)) {
          const usable = Number.isFinite(event.t) && Math.abs(event.t) <= Number.MAX_SAFE_INTEGER;
          const checkpoint = event.type === "checkpoint-start" || event.type === "checkpoint-end";
          const back = checkpoint && latest !== undefined && event.t < latest;
          const [first] = core.handle(event);
          const reason = !usable ? "non-finite-time" : back ? "time-backwards" : undefined;
          expect(first?.type === "event-rejected" ? first.reason : undefined).toBe(reason);
          if (reason) continue;
          if (checkpoint || event.type === "colo-start") latest = event.t;
        }
      }),
      { numRuns: 400 },
    );
  });
});
