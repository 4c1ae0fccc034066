import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HybridCore } from "../../src/colo/core.js";
import type { PolicyEvent } from "../../src/colo/events.js";
import { DEFAULT_PARAMS } from "../../src/colo/params.js";
import { replay } from "../../src/sim/replay.js";
import { formatEvent, parseTrace, traceHeader } from "../../src/trace/format.js";
import { synthesize } from "../../src/trace/synthetic.js";

const DEMO = "test/fixtures/traces/demo-phases.jsonl";

const checkpointsPerSecond = (
  events: readonly { type: string; t: number }[],
  from: number,
  to: number,
) =>
  events.filter((e) => e.type === "checkpoint-start" && e.t >= from && e.t < to).length /
  ((to - from) / 1000);

describe("synthetic traces", () => {
  it("are the same for the same seed and differ for another", () => {
    const a = [...synthesize({ seed: 7 })];
    expect([...synthesize({ seed: 7 })]).toEqual(a);
    expect([...synthesize({ seed: 8 })]).not.toEqual(a);
  });

  it("checkpoint at the measured divergent rate and at colo-period when idle", () => {
    const events = [
      ...synthesize({
        phases: [
          { kind: "idle", seconds: 100 },
          { kind: "divergent", seconds: 100 },
        ],
        coloPeriod: 5000,
      }),
    ];
    expect(checkpointsPerSecond(events, 0, 100_000)).toBeCloseTo(0.2, 1);
    const divergent = checkpointsPerSecond(events, 100_000, 200_000);
    expect(divergent).toBeGreaterThan(3.6);
    expect(divergent).toBeLessThan(4.4);
    expect(events.filter((e) => e.type === "mark").map((e) => e.t)).toEqual([0, 100_000]);
  });

  it("with the policy in the loop, replay takes the same decisions as the loop did", () => {
    const transitions: unknown[] = [];
    const events = [...synthesize({ seed: 3 }, DEFAULT_PARAMS)];
    const core = new HybridCore(DEFAULT_PARAMS);
    for (const e of events) {
      if (e.type === "mark") continue;
      for (const a of core.handle(e as PolicyEvent)) {
        if (a.type === "transition") transitions.push(a.transition);
      }
    }
    expect(transitions.length).toBeGreaterThan(4);
    expect(replay(events, DEFAULT_PARAMS).transitions).toEqual(transitions);
  });

  it("puts passive spells at passive-time, each started by a requested checkpoint", () => {
    const events = [...synthesize({ seed: 3 }, DEFAULT_PARAMS)];
    const r = replay(events, DEFAULT_PARAMS);
    const [enter, leave] = r.transitions;
    expect(enter?.to).toBe("passive");
    // 100 checkpoints: the one that entered, a requested one at once, then 98 at 250 ms + pause.
    const spell = (leave?.t ?? 0) - (enter?.t ?? 0);
    expect(spell).toBeGreaterThan(98 * 250);
    expect(spell).toBeLessThan(99 * (250 + 100) + 100);
    const starts = events.filter((e) => e.type === "checkpoint-start");
    const afterEnter = starts.find((e) => e.t > (enter?.t ?? 0));
    expect(afterEnter).toMatchObject({ trigger: "request" });
  });

  it("bundled demo trace is what `trace synth --hybrid` makes today", () => {
    const expected = [traceHeader("synthetic-hybrid"), ...synthesize({}, DEFAULT_PARAMS)]
      .map(formatEvent)
      .join("\n");
    expect(readFileSync(DEMO, "utf8")).toBe(`${expected}\n`);
    expect(parseTrace(expected).length).toBeGreaterThan(1000);
  });
});
