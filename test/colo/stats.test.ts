import { describe, expect, it } from "vitest";
import { HybridCore } from "../../src/colo/core.js";
import { CheckpointStats } from "../../src/colo/stats.js";
import { eventsOf, params } from "../support/drive.js";

describe("checkpoint statistics", () => {
  it("counts checkpoints per mode and trigger, and times each mode", () => {
    const core = new HybridCore(params({ "passive-count": 2 }));
    const runs = [
      ...Array(5).fill({ length: 100, trigger: "miscompare" }),
      { length: 250, trigger: "timer" },
      { length: 250, trigger: "timer" },
    ];
    for (const e of eventsOf(runs, 10)) core.handle(e);
    const s = core.stats.snapshot(1070);
    expect(s.checkpoints).toEqual({
      total: 7,
      byMode: { colo: 5, passive: 2 },
      byTrigger: { timer: 2, miscompare: 5, request: 0, unknown: 0 },
    });
    // Starts at 100, 210, 320, 430, 540 (passive from here), 800, 1060 (COLO again); now 1070.
    expect(s.timeInMode).toEqual({ colo: 440 + 10, passive: 520 });
    expect(s.length.all).toEqual({ count: 7, min: 100, avg: 1000 / 7, max: 250 });
    expect(s.pause.all).toEqual({ count: 7, min: 10, avg: 10, max: 10 });
    expect(s.transitions.map((t) => `${t.from}->${t.to}@${t.t}`)).toEqual([
      "colo->passive@540",
      "passive->colo@1060",
    ]);
  });

  it("is published with the policy's view by HybridCore.status", () => {
    const core = new HybridCore(params({ "passive-count": 2 }));
    for (const e of eventsOf(Array(6).fill(100), 10)) core.handle(e);
    expect(core.status(700)).toMatchObject({
      mode: "passive",
      passiveLeft: 1,
      mean: 100,
      samples: 5,
      params: { passiveCount: 2 },
      stats: { checkpoints: { total: 6 } },
    });
  });

  it("summarises only the recent window, by the caller's notion of now", () => {
    const stats = new CheckpointStats({ windowMs: 1000 });
    stats.onCheckpoint(0, "colo", undefined, 500, 0);
    stats.onPause(50);
    stats.onCheckpoint(1500, "colo", undefined, 5, 0);
    stats.onPause(70);
    const s = stats.snapshot(2000);
    expect(s.length.recent).toEqual({ count: 1, min: 5, avg: 5, max: 5 });
    expect(s.pause.recent).toEqual({ count: 1, min: 70, avg: 70, max: 70 });
    expect(s.length.all.count).toBe(2);
  });

  it("keeps the newest checkpoints when the ring is full, oldest first", () => {
    const stats = new CheckpointStats({ capacity: 3 });
    for (let i = 1; i <= 5; i++) stats.onCheckpoint(i * 100, "colo", undefined, i, i);
    expect(stats.recent().map((r) => r.length)).toEqual([3, 4, 5]);
    expect(stats.recent()[2]?.pause).toBeUndefined();
  });

  it("starts over on reset", () => {
    const stats = new CheckpointStats();
    stats.onCheckpoint(10, "passive", "timer", 1, 0);
    stats.reset();
    expect(stats.snapshot(20).checkpoints.total).toBe(0);
    expect(stats.recent()).toEqual([]);
  });
});
