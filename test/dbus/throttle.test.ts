// The agent's signal rate limits (src/dbus/throttle.ts) on a fake clock: what the bus test
// (service.test.ts) cannot say without a wall-clock window. Pure: no bus.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  Batcher,
  PROPERTIES_INTERVAL_MS,
  Throttle,
  TICK_INTERVAL_MS,
} from "../../src/dbus/throttle.js";

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

/** The fake clock, as Throttle reads it. */
const now = () => Date.now();

describe("Throttle", () => {
  it("runs once, at once, for a burst of triggers", async () => {
    const runs: number[] = [];
    const t = new Throttle(250, () => runs.push(now()), now);
    const start = now();
    for (let i = 0; i < 50; i++) t.trigger();
    expect(runs).toEqual([]); // never inside trigger(): the run sees the whole burst
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toEqual([start]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toHaveLength(1);
  });

  it("under sustained triggers runs once per interval, never two within one", async () => {
    const runs: number[] = [];
    const t = new Throttle(250, () => runs.push(now()), now);
    const start = now();
    // A trigger every 10 ms for 1.5 s, as an agent says "changed" around its checkpoints.
    for (let ms = 0; ms < 1500; ms += 10) {
      t.trigger();
      await vi.advanceTimersByTimeAsync(10);
    }
    await vi.advanceTimersByTimeAsync(1000);
    expect(runs.map((r) => r - start)).toEqual([0, 250, 500, 750, 1000, 1250, 1500]);
  });

  it("after a quiet spell runs at once again; cancel() drops a pending run", async () => {
    const runs: number[] = [];
    const t = new Throttle(1000, () => runs.push(now()), now);
    const start = now();
    t.trigger();
    await vi.advanceTimersByTimeAsync(0);
    t.trigger(); // within the interval: waits for its end
    await vi.advanceTimersByTimeAsync(999);
    expect(runs).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs.map((r) => r - start)).toEqual([0, 1000]);
    await vi.advanceTimersByTimeAsync(5000);
    t.trigger();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs.map((r) => r - start)).toEqual([0, 1000, 6000]);
    t.trigger();
    t.cancel();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toHaveLength(3);
  });
});

describe("Batcher", () => {
  it("hands every item over in order, at most one batch per interval, never an empty one", async () => {
    const batches: { at: number; items: number[] }[] = [];
    const b = new Batcher<number>(1000, (items) => batches.push({ at: now(), items }), now);
    const start = now();
    // A checkpoint every 50 ms for 2.5 s.
    const sent: number[] = [];
    for (let i = 0; i * 50 < 2500; i++) {
      sent.push(i);
      b.add(i);
      await vi.advanceTimersByTimeAsync(50);
    }
    await vi.advanceTimersByTimeAsync(1000);
    expect(batches.map((x) => x.at - start)).toEqual([0, 1000, 2000, 3000]);
    expect(batches.flatMap((x) => x.items)).toEqual(sent);
    // None ended: no batch, however long.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(batches).toHaveLength(4);
  });

  it("cancel() drops what was not handed over yet", async () => {
    const batches: number[][] = [];
    const b = new Batcher<number>(1000, (items) => batches.push(items), now);
    b.add(1);
    await vi.advanceTimersByTimeAsync(0);
    b.add(2);
    b.cancel();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(batches).toEqual([[1]]);
  });
});

describe("the agent's limits (docs/dbus.md)", () => {
  it("PropertiesChanged at most 4 a second, Tick at most once a second", () => {
    expect(1000 / PROPERTIES_INTERVAL_MS).toBeLessThanOrEqual(4);
    expect(TICK_INTERVAL_MS).toBeGreaterThanOrEqual(1000);
  });
});
