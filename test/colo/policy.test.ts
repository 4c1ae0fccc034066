import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Action, Trigger } from "../../src/colo/events.js";
import { initialState, meanOf, modeOf, step } from "../../src/colo/policy.js";
import { drive, eventsOf, params, type Run } from "../support/drive.js";
import { rfcReplay } from "../support/rfc-reference.js";

const types = (actions: readonly Action[]) => actions.map((a) => a.type);

describe("policy: the RFC's rule", () => {
  it("decides nothing before warm-up, however short the checkpoints", () => {
    const { states } = drive(params(), eventsOf([1, 1, 1, 1]));
    expect(states.map(modeOf)).toEqual(["colo", "colo", "colo", "colo"]);
  });

  it("goes passive at the warm-up-th short checkpoint, with the actions the agent needs", () => {
    const p = params({ "passive-time": 300 });
    const { states, actions } = drive(p, eventsOf([100, 100, 100, 100, 100]));
    expect(modeOf(states[4]!)).toBe("passive");
    expect(actions[4]).toEqual([
      { type: "set-period", ms: 300 },
      { type: "hold-secondary" },
      {
        type: "transition",
        transition: { t: 500, from: "colo", to: "passive", reason: "mean-below-limit", mean: 100 },
      },
    ]);
  });

  it("stays passive for exactly passive-count checkpoints, then resets the mean and releases", () => {
    const p = params({ "passive-count": 3, "colo-period": 5000 });
    const { states, actions } = drive(p, eventsOf(Array(9).fill(100)));
    expect(states.map(modeOf)).toEqual([
      "colo",
      "colo",
      "colo",
      "colo",
      "passive",
      "passive",
      "passive",
      "colo",
      "colo",
    ]);
    expect(types(actions[7]!)).toEqual(["set-period", "release-secondary", "transition"]);
    expect(actions[7]![0]).toEqual({ type: "set-period", ms: 5000 });
    expect(states[7]!.mean.samples).toBe(0);
    expect(meanOf(states[7]!)).toBe(0);
  });

  it("stays in COLO while the mean is at or above the limit", () => {
    const { states } = drive(params(), eventsOf(Array(50).fill(400)));
    expect(states.every((s) => modeOf(s) === "colo")).toBe(true);
  });

  it("never goes passive when disabled, but keeps the mean", () => {
    const { states } = drive(params({ enabled: false }), eventsOf(Array(20).fill(10)));
    expect(states.every((s) => modeOf(s) === "colo")).toBe(true);
    expect(meanOf(states[19]!)).toBeCloseTo(10);
  });
});

describe("policy: seed and corrected variants (docs/policy.md, worked example)", () => {
  const runs = Array(5).fill(450);

  it("seed starts the mean at zero and goes passive on checkpoints all above the limit", () => {
    const { states } = drive(params({ variant: "seed" }), eventsOf(runs));
    expect(states.map((s) => Number(meanOf(s).toFixed(4)))).toEqual([
      135, 229.5, 295.65, 341.955, 374.3685,
    ]);
    expect(modeOf(states[4]!)).toBe("passive");
  });

  it("corrected reports the unbiased mean and stays in COLO", () => {
    const { states } = drive(params({ variant: "corrected" }), eventsOf(runs));
    for (const s of states) expect(meanOf(s)).toBeCloseTo(450, 9);
    expect(modeOf(states[4]!)).toBe("colo");
  });

  it("corrected ignores passive runs and requested checkpoints; seed counts them", () => {
    const lengths: Run[] = [
      ...Array(5).fill({ length: 100 }),
      { length: 250, trigger: "timer" },
      { length: 0.5, trigger: "request" },
    ];
    const seed = drive(params({ variant: "seed" }), eventsOf(lengths));
    const corrected = drive(params({ variant: "corrected" }), eventsOf(lengths));
    expect(seed.states[5]!.mean.samples).toBe(6);
    expect(seed.states[6]!.mean.samples).toBe(7);
    expect(corrected.states[5]!.mean.samples).toBe(5);
    expect(corrected.states[6]!.mean.samples).toBe(5);
  });

  it("example 2: after a spell, seed counts our own requested checkpoint and goes passive again", () => {
    const runs: Run[] = [
      ...Array(5).fill({ length: 100, trigger: "miscompare" }),
      { length: 0.5, trigger: "request" },
      { length: 250, trigger: "timer" },
      { length: 250, trigger: "timer" },
      { length: 0.5, trigger: "request" },
      ...Array(5).fill({ length: 420, trigger: "miscompare" }),
    ];
    const show = (variant: string) =>
      drive(params({ variant, "passive-count": 3 }), eventsOf(runs)).states.map(
        (s) => `${modeOf(s)} ${meanOf(s).toFixed(1)}`,
      );
    expect(show("seed").slice(7)).toEqual([
      "colo 0.0",
      "colo 0.1",
      "colo 126.1",
      "colo 214.3",
      "colo 276.0",
      "passive 319.2",
      "passive 349.4",
    ]);
    expect(show("corrected").slice(7)).toEqual([
      "colo 0.0",
      "colo 0.0",
      "colo 420.0",
      "colo 420.0",
      "colo 420.0",
      "colo 420.0",
      "colo 420.0",
    ]);
  });

  it("corrected does not count the run that ends a passive spell, nor the request after it", () => {
    const p = params({ "passive-count": 1 });
    const { states } = drive(
      p,
      eventsOf([100, 100, 100, 100, 100, 250, { length: 1, trigger: "request" }, 900]),
    );
    expect(modeOf(states[4]!)).toBe("passive");
    expect(modeOf(states[5]!)).toBe("colo");
    expect(states[6]!.mean.samples).toBe(0);
    expect(meanOf(states[7]!)).toBeCloseTo(900, 9);
  });
});

describe("policy: events out of the ordinary", () => {
  it("does not measure a run whose previous end was lost", () => {
    let s = initialState(params());
    s = step(s, { type: "colo-start", t: 0 }).state;
    s = step(s, { type: "checkpoint-start", t: 100 }).state;
    s = step(s, { type: "checkpoint-start", t: 300 }).state;
    expect(s.lastLength).toBeUndefined();
    expect(s.mean.samples).toBe(1);
  });

  it("does not measure the first checkpoint when COLO's start was not seen", () => {
    const s = step(initialState(params()), { type: "checkpoint-start", t: 100 }).state;
    expect(s.lastLength).toBeUndefined();
    expect(s.mean.samples).toBe(0);
  });

  it("does not measure a run that would be negative", () => {
    let s = initialState(params());
    s = step(s, { type: "checkpoint-end", t: 1000 }).state;
    s = step(s, { type: "checkpoint-start", t: 900 }).state;
    expect(s.mean.samples).toBe(0);
  });
});

describe("policy: parameter changes", () => {
  const passiveState = () => {
    const { states } = drive(params(), eventsOf(Array(5).fill(100)));
    return states[4]!;
  };

  it("rejects a bad update whole, naming every bad field, and changes nothing", () => {
    const s = passiveState();
    const r = step(s, {
      type: "set-params",
      t: 1,
      patch: { "passive-time": 0, "passive-count": -1, "passive-limit": 300, bogus: 1 },
    });
    expect(r.state).toBe(s);
    expect(r.actions).toHaveLength(1);
    const rejected = r.actions[0];
    if (rejected?.type !== "params-rejected") throw new Error("expected a rejection");
    expect(rejected.errors.map((e) => e.name).sort()).toEqual([
      "bogus",
      "passive-count",
      "passive-time",
    ]);
  });

  it("leaves passive at once when disabled", () => {
    const r = step(passiveState(), { type: "set-params", t: 9, patch: { enabled: false } });
    expect(modeOf(r.state)).toBe("colo");
    expect(types(r.actions)).toEqual([
      "params-changed",
      "set-period",
      "release-secondary",
      "transition",
    ]);
  });

  it("applies a new passive-time while passive and a new colo-period while in COLO", () => {
    const passive = step(passiveState(), {
      type: "set-params",
      t: 9,
      patch: { "passive-time": 500 },
    });
    expect(passive.actions[1]).toEqual({ type: "set-period", ms: 500 });
    const colo = step(initialState(params()), {
      type: "set-params",
      t: 9,
      patch: { "colo-period": "3000" },
    });
    expect(colo.actions[1]).toEqual({ type: "set-period", ms: 3000 });
    const quiet = step(initialState(params()), {
      type: "set-params",
      t: 9,
      patch: { "passive-time": 500 },
    });
    expect(types(quiet.actions)).toEqual(["params-changed"]);
  });
});

// ---- properties -------------------------------------------------------------------------

const runArb = fc.record(
  {
    length: fc.integer({ min: 0, max: 1500 }),
    trigger: fc.constantFrom<Trigger>("timer", "miscompare", "request"),
  },
  { requiredKeys: ["length"] },
);
const paramsArb = fc.record({
  "passive-count": fc.integer({ min: 1, max: 12 }),
  "passive-limit": fc.integer({ min: 1, max: 900 }),
  warmup: fc.integer({ min: 1, max: 8 }),
  weight: fc.double({ min: 0.01, max: 1, noNaN: true }),
  variant: fc.constantFrom("seed", "corrected"),
});

/** Maximal runs of passive checkpoints, as [first index, length]. */
function spells(modes: readonly string[]): [number, number][] {
  const out: [number, number][] = [];
  modes.forEach((m, i) => {
    if (m !== "passive") return;
    const last = out.at(-1);
    if (last && last[0] + last[1] === i) last[1]++;
    else out.push([i, 1]);
  });
  return out;
}

describe("policy: properties", () => {
  it("is never passive before warm-up COLO samples since the last reset", () => {
    fc.assert(
      fc.property(paramsArb, fc.array(runArb, { maxLength: 200 }), (patch, runs) => {
        const p = params({ ...patch, "colo-period": 1_000_000 });
        const { states, actions } = drive(p, eventsOf(runs));
        states.forEach((s, i) => {
          const entered = actions[i]!.some(
            (a) => a.type === "transition" && a.transition.to === "passive",
          );
          if (entered) expect(s.mean.samples).toBeGreaterThanOrEqual(p.warmup);
        });
      }),
      { numRuns: 500 },
    );
  });

  it("makes every passive spell exactly passive-count checkpoints and resets the mean after", () => {
    fc.assert(
      fc.property(paramsArb, fc.array(runArb, { maxLength: 300 }), (patch, runs) => {
        const p = params({ ...patch, "colo-period": 1_000_000 });
        const { states } = drive(p, eventsOf(runs));
        const modes = states.map(modeOf);
        for (const [first, n] of spells(modes)) {
          // A spell still running when the trace ends may be shorter.
          if (first + n < modes.length) {
            expect(n).toBe(p.passiveCount);
            expect(states[first + n]!.mean.samples).toBe(0);
          } else expect(n).toBeLessThanOrEqual(p.passiveCount);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("seed matches the RFC transcription, decision for decision, on thousands of traces", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 400 }),
        (count, limit, lengths) => {
          const p = params({
            variant: "seed",
            "passive-count": count,
            "passive-limit": limit,
            "colo-period": 1_000_000,
          });
          const { states } = drive(p, eventsOf(lengths));
          const oracle = rfcReplay(lengths, limit, count);
          expect(states.map((s) => modeOf(s) === "passive")).toEqual(oracle.map((c) => c.passive));
          states.forEach((s, i) => {
            expect(meanOf(s)).toBeCloseTo(oracle[i]!.mean, 9);
          });
        },
      ),
      { numRuns: 3000 },
    );
  });
});
