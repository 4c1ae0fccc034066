// Traces recorded on the real one-host COLO lab (QEMU 7.2, TCG, x-checkpoint-delay 3000 ms,
// make demo-replay): fast tests of the policy on what a real pair does.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_PARAMS } from "../../src/colo/params.js";
import { replay } from "../../src/sim/replay.js";
import { parseTrace } from "../../src/trace/format.js";

const params = { ...DEFAULT_PARAMS, coloPeriod: 3000 };
const load = (name: string) => parseTrace(readFileSync(`test/fixtures/traces/${name}`, "utf8"));

describe("a trace recorded on the lab: idle 10 s, divergent 40 s, convergent 30 s, idle 10 s", () => {
  const events = load("lab-demo.jsonl");
  const marks = events.filter((e) => e.type === "mark");
  const phase = (label: string) => {
    const i = marks.findIndex((m) => m.label === label);
    return [marks[i]?.t ?? 0, marks[i + 1]?.t ?? Number.POSITIVE_INFINITY] as const;
  };
  const rate = ([from, to]: readonly [number, number]) =>
    events.filter((e) => e.type === "checkpoint-start" && e.t >= from && e.t < to).length /
    ((to - from) / 1000);

  it("checkpoints at the period when idle and several times a second under divergent load", () => {
    expect(rate(phase("idle"))).toBeLessThan(0.6);
    expect(rate(phase("divergent"))).toBeGreaterThan(2);
  });

  it("goes passive during the divergent phase, and no earlier", () => {
    const r = replay(events, params);
    const [from, to] = phase("divergent");
    const first = r.transitions[0];
    expect(first?.to).toBe("passive");
    expect(first?.t).toBeGreaterThanOrEqual(from - 1000);
    expect(first?.t).toBeLessThan(to);
    expect(r.stats.checkpoints.byMode.passive % DEFAULT_PARAMS.passiveCount).toBe(0);
    expect(r.svmRunSaved).toBeGreaterThan(10_000);
  });
});
