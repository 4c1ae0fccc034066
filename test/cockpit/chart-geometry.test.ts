// Where the checkpoint chart puts things: log scale, the limit, passive spells, the mean's steps.
import { describe, expect, it } from "vitest";
import { chartGeometry } from "../../cockpit/src/domain/chart-geometry.js";
import type { Checkpoint } from "../../cockpit/src/model.js";

const NOW = 1_000_000;
const base = { now: NOW, spanMs: 300_000, width: 676, height: 236, mode: "colo" as const };
// Plot area with the chart's margins: x 64..664, y 10..210.
const cp = (
  t: number,
  length: number | undefined,
  mean: number,
  mode: "colo" | "passive",
): Checkpoint => ({
  t,
  length,
  pause: 10,
  mean,
  mode,
});

describe("chartGeometry", () => {
  it("puts lengths on a log axis spanning whole decades, the limit among them", () => {
    const g = chartGeometry({
      ...base,
      checkpoints: [cp(NOW - 150_000, 20, 0, "colo"), cp(NOW, 2000, 0, "colo")],
      limit: 400,
    });
    expect(g.plot).toEqual({ left: 64, top: 10, right: 664, bottom: 210 });
    expect(g.yTicks.map((t) => t.value)).toEqual([10, 100, 1000, 10000]);
    expect(g.yTicks[0]?.y).toBe(210);
    expect(g.yTicks[3]?.y).toBe(10);
    // 20 ms is log10(2) of a decade above 10 ms; 2000 ms the same above 1000 ms.
    expect(g.lengths[0]?.x).toBe(364);
    expect(g.lengths[0]?.y).toBeCloseTo(210 - (Math.log10(2) * 200) / 3);
    expect(g.lengths[1]?.x).toBe(664);
    expect(g.lengths[1]?.y).toBeCloseTo(210 - ((2 + Math.log10(2)) * 200) / 3);
    expect(g.limitY).toBeCloseTo(210 - ((1 + Math.log10(4)) * 200) / 3);
    expect(g.xTicks.map((t) => t.secondsAgo)).toEqual([0, 60, 120, 180, 240, 300]);
  });

  it("labels the time axis at a round step that gives a handful of ticks", () => {
    const g = chartGeometry({ ...base, spanMs: 60_000, checkpoints: [], limit: 400 });
    expect(g.xTicks.map((t) => t.secondsAgo)).toEqual([0, 10, 20, 30, 40, 50, 60]);
    expect(g.xTicks[6]?.x).toBe(64);
  });

  it("leaves out unmeasured lengths and what is outside the window", () => {
    const g = chartGeometry({
      ...base,
      checkpoints: [cp(NOW - 400_000, 100, 0, "colo"), cp(NOW - 1000, undefined, 0, "colo")],
      limit: undefined,
    });
    expect(g.lengths).toEqual([]);
    expect(g.limitY).toBeUndefined();
  });

  it("shades passive spells from their first passive checkpoint to the next COLO one or now", () => {
    const g = chartGeometry({
      ...base,
      mode: "passive",
      limit: 400,
      checkpoints: [
        cp(NOW - 400_000, 250, 300, "passive"),
        cp(NOW - 240_000, 500, 300, "colo"),
        cp(NOW - 120_000, 250, 300, "passive"),
        cp(NOW - 60_000, 250, 300, "passive"),
      ],
    });
    // The first spell began before the window: it is cut at the left edge.
    expect(g.spells).toEqual([
      { x0: 64, x1: 184 },
      { x0: 424, x1: 664 },
    ]);
  });

  it("ends the last spell where its last checkpoint ended once the agent is in COLO mode", () => {
    const g = chartGeometry({
      ...base,
      limit: 400,
      checkpoints: [cp(NOW - 120_000, 250, 300, "passive"), cp(NOW - 60_000, 250, 300, "passive")],
    });
    // The pause of the last checkpoint is 10 ms: 2 px per second, so 0.02 px.
    expect(g.spells).toEqual([{ x0: 424, x1: 544.02 }]);
  });

  it("draws the mean as steps held until the next checkpoint", () => {
    const g = chartGeometry({
      ...base,
      limit: 100,
      checkpoints: [cp(NOW - 300_000, 100, 100, "colo"), cp(NOW - 150_000, 100, 1000, "colo")],
    });
    // 100..1000 ms is one decade: 100 ms at the bottom, 1000 ms at the top.
    expect(g.meanPath).toBe("M64.0 210.0 H364.0 V10.0 H664.0");
  });
});
