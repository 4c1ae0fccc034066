import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Action, Trigger } from "../../src/colo/events.js";
import { specByName } from "../../src/colo/params.js";
import { initialState, meanOf, modeOf, type PolicyState, step } from "../../src/colo/policy.js";
import { drive, eventsOf, params, type Run } from "../support/drive.js";
import { rfcReplay } from "../support/rfc-reference.js";

const types = (actions: readonly Action[]) => actions.map((a) => a.type);

/** The states after `n` further checkpoints, `gap` ms apart, each with no pause. */
function more(from: PolicyState, n: number, gap = 250): PolicyState[] {
  const out: PolicyState[] = [];
  let s = from;
  let t = s.openStart ?? s.lastEnd ?? 0;
  for (let i = 0; i < n; i++) {
    s = step(s, { type: "checkpoint-end", t }).state;
    t += gap;
    s = step(s, { type: "checkpoint-start", t }).state;
    out.push(s);
  }
  return out;
}

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
      drive(params({ variant, "passive-count": 2 }), eventsOf(runs)).states.map(
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

  it("refuses a start before the previous end, changing nothing", () => {
    const s = step(initialState(params()), { type: "checkpoint-end", t: 1000 }).state;
    const r = step(s, { type: "checkpoint-start", t: 900 });
    expect(r.state).toBe(s);
    expect(r.actions).toEqual([
      {
        type: "event-rejected",
        reason: "time-backwards",
        message: "checkpoint-start at t=900 is before the latest checkpoint event, at t=1000",
      },
    ]);
  });

  it("refuses an end before its start", () => {
    let s = step(initialState(params()), { type: "colo-start", t: 0 }).state;
    s = step(s, { type: "checkpoint-start", t: 100 }).state;
    const r = step(s, { type: "checkpoint-end", t: 99 });
    expect(r.state).toBe(s);
    expect(r.actions).toMatchObject([{ type: "event-rejected", reason: "time-backwards" }]);
  });

  it("refuses an infinite start instead of folding an infinite length into the mean", () => {
    const { states } = drive(params(), eventsOf([100, 100]));
    const s = states[1]!;
    const r = step(step(s, { type: "checkpoint-end", t: 200 }).state, {
      type: "checkpoint-start",
      t: Number.POSITIVE_INFINITY,
    });
    expect(r.actions).toMatchObject([{ type: "event-rejected", reason: "non-finite-time" }]);
    expect(r.state.mean).toEqual(s.mean);
    expect(meanOf(r.state)).toBe(100);
  });

  it("refuses non-finite and out-of-range times on every event type", () => {
    const s = initialState(params());
    const bad = [Number.NaN, Number.NEGATIVE_INFINITY, 2 ** 53, -(2 ** 53)];
    for (const t of bad) {
      for (const e of [
        { type: "colo-start", t },
        { type: "checkpoint-start", t },
        { type: "checkpoint-end", t },
        { type: "set-params", t, patch: { enabled: false } },
      ] as const) {
        const r = step(s, e);
        expect(r.state).toBe(s);
        expect(r.actions).toMatchObject([{ type: "event-rejected", reason: "non-finite-time" }]);
      }
    }
  });

  it("accepts a colo-start earlier than the last checkpoint: a new session's clock", () => {
    const { states } = drive(params(), eventsOf([100, 100]));
    const r = step(states[1]!, { type: "colo-start", t: 5 });
    expect(r.actions).toEqual([]);
    expect(r.state.lastEnd).toBe(5);
  });
});

describe("policy: requested checkpoints in a spell", () => {
  const spell = (count: number, tail: Run[]) =>
    drive(
      params({ "passive-count": count }),
      eventsOf([...Array(5).fill(100), { length: 0.5, trigger: "request" }, ...tail]),
    ).states.map(modeOf);

  it("does not count our own requested checkpoint: passive-count=1 is one passive period", () => {
    expect(spell(1, [{ length: 250, trigger: "timer" }]).slice(4)).toEqual([
      "passive",
      "passive",
      "colo",
    ]);
  });

  it("does not count a requested checkpoint later in the spell either", () => {
    const timer: Run = { length: 250, trigger: "timer" };
    const modes = spell(2, [timer, { length: 0.5, trigger: "request" }, timer]);
    expect(modes.slice(4)).toEqual(["passive", "passive", "passive", "passive", "colo"]);
  });

  it("counts a checkpoint of unknown trigger, as a plain trace of lengths has", () => {
    expect(spell(1, [{ length: 250 }]).slice(4)).toEqual(["passive", "passive", "colo"]);
    const plain = drive(params({ "passive-count": 1 }), eventsOf([100, 100, 100, 100, 100, 0.5]));
    expect(modeOf(plain.states[5]!)).toBe("colo");
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

  it("leaves passive at once when disabled, starting a fresh mean as every return to COLO does", () => {
    const r = step(passiveState(), { type: "set-params", t: 9, patch: { enabled: false } });
    expect(modeOf(r.state)).toBe("colo");
    expect(types(r.actions)).toEqual([
      "params-changed",
      "set-period",
      "release-secondary",
      "transition",
    ]);
    expect(r.state.mean.samples).toBe(0);
  });

  it("keeps the mean when disabled in COLO, and decides on it as soon as re-enabled", () => {
    const { states } = drive(params({ "passive-limit": 50 }), eventsOf(Array(5).fill(100)));
    const off = step(states[4]!, { type: "set-params", t: 9, patch: { enabled: false } }).state;
    expect(off.mean).toBe(states[4]!.mean);
    const on = step(off, {
      type: "set-params",
      t: 9,
      patch: { enabled: true, "passive-limit": 200 },
    }).state;
    expect(more(on, 1, 100).map(modeOf)).toEqual(["passive"]);
  });

  it("says in the schema what enabled=false does to the mean", () => {
    expect(specByName("enabled")?.summary).toMatch(
      /keeping the mean \(off while passive resets it\)/,
    );
  });

  it("caps a running spell at a lower passive-count, counted from the latest checkpoint", () => {
    // Entered with 100 left; 10 checkpoints later 90 are.
    const s = more(passiveState(), 10).at(-1)!;
    expect(s.passiveLeft).toBe(90);
    const higher = step(s, { type: "set-params", t: 3000, patch: { "passive-count": 200 } });
    expect(higher.state.passiveLeft).toBe(90);
    const lower = step(s, { type: "set-params", t: 3000, patch: { "passive-count": 2 } });
    expect(lower.state.passiveLeft).toBe(2);
    expect(types(lower.actions)).toEqual(["params-changed"]);
    expect(more(lower.state, 2).map(modeOf)).toEqual(["passive", "colo"]);
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

  it("ends every spell at the passive-count-th unrequested checkpoint and resets the mean", () => {
    fc.assert(
      fc.property(paramsArb, fc.array(runArb, { maxLength: 300 }), (patch, runs) => {
        const p = params({ ...patch, "colo-period": 1_000_000 });
        const { states } = drive(p, eventsOf(runs));
        const modes = states.map(modeOf);
        // Checkpoints that count the spell down, among indices from..to.
        const counted = (from: number, to: number) =>
          runs.slice(from, to + 1).filter((r) => r.trigger !== "request").length;
        for (const [first, n] of spells(modes)) {
          // A spell still running when the trace ends may be shorter.
          if (first + n < modes.length) {
            expect(counted(first + 1, first + n)).toBe(p.passiveCount);
            expect(runs[first + n]!.trigger).not.toBe("request");
            expect(states[first + n]!.mean.samples).toBe(0);
          } else expect(counted(first + 1, first + n - 1)).toBeLessThan(p.passiveCount);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("caps a running spell at a lower passive-count: it ends at the min(left, count)-th counted checkpoint", () => {
    const p = params({
      "passive-count": 8,
      warmup: 1,
      "passive-limit": 900,
      "colo-period": 1_000_000,
    });
    fc.assert(
      fc.property(
        fc.array(runArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(runArb, { maxLength: 30 }),
        (before, count, after) => {
          const events = eventsOf([...before, ...after]);
          const at = 2 * before.length + 1;
          const t = events[at - 1]!.t;
          events.splice(at, 0, { type: "set-params", t, patch: { "passive-count": count } });
          const { states } = drive(p, events);
          let due = Math.min(states[before.length - 1]!.passiveLeft, count);
          for (const [i, run] of after.entries()) {
            if (due === 0) break;
            if (run.trigger !== "request") due--;
            expect(modeOf(states[before.length + i]!)).toBe(due === 0 ? "colo" : "passive");
          }
        },
      ),
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
