// The checkpoint reader on QEMU events recorded from a real COLO pair (QEMU 7.2, TCG, period
// 2000 ms): test/fixtures/qemu-events/, as `virsh qemu-monitor-event --loop` printed them.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HybridCore } from "../../src/colo/core.js";
import type { PolicyEvent } from "../../src/colo/events.js";
import { DEFAULT_PARAMS } from "../../src/colo/params.js";
import { parseQemuEventLine } from "../../src/libvirt/virsh.js";
import { CheckpointReader } from "../../src/pair/checkpoints.js";

const recorded = (name: string) =>
  readFileSync(`test/fixtures/qemu-events/${name}`, "utf8")
    .split("\n")
    .map(parseQemuEventLine)
    .filter((e) => e !== undefined);

describe("checkpoints from the primary's QEMU events", () => {
  it("starts at MIGRATION colo and reads STOP/RESUME as checkpoints at the period", () => {
    const reader = new CheckpointReader();
    const events = recorded("primary-colo-start.txt")
      .map((e) => reader.read(e))
      .filter((e): e is PolicyEvent => e !== undefined);
    expect(events[0]?.type).toBe("colo-start");
    expect(events.slice(1, 4).map((e) => e.type)).toEqual([
      "checkpoint-end",
      "checkpoint-start",
      "checkpoint-end",
    ]);
    const core = new HybridCore({ ...DEFAULT_PARAMS, coloPeriod: 2000, passiveLimit: 400 });
    for (const e of events) core.handle(e);
    const { length, pause } = core.stats.snapshot(events.at(-1)?.t ?? 0);
    // Timer checkpoints 2000 ms apart with pauses of 40-100 ms, so runs of 1.9-2.0 s.
    expect(length.all.min).toBeGreaterThan(1800);
    expect(length.all.max).toBeLessThan(2050);
    expect(pause.all.min).toBeGreaterThan(1);
    expect(pause.all.max).toBeLessThan(150);
    expect(core.status(events.at(-1)?.t ?? 0).mode).toBe("colo");
  });

  it("ignores STOP/RESUME once COLO has ended, and marks the checkpoint we asked for", () => {
    const reader = new CheckpointReader();
    reader.read({
      ...recorded("primary-colo-start.txt")[4]!,
      event: "MIGRATION",
      details: { status: "colo" },
    });
    reader.expectRequested();
    const stop = recorded("primary-colo-start.txt").find((e) => e.event === "STOP")!;
    expect(reader.read(stop)).toMatchObject({ type: "checkpoint-start", trigger: "request" });
    expect(reader.read(stop)).toMatchObject({ type: "checkpoint-start", trigger: undefined });
    const after = recorded("primary-failover.txt").map((e) => reader.read(e));
    expect(after).toEqual([undefined, undefined, undefined, undefined]);
    expect(reader.colo).toBe(false);
  });
});
