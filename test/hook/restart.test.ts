import { describe, expect, it } from "vitest";
import {
  FIRST_DELAY_MS,
  failed,
  MAX_DELAY_MS,
  restartDelay,
  STABLE_RUN_MS,
} from "../../src/hook/restart.js";

describe("restarting the agent", () => {
  it("happens on failure only, as Restart=on-failure", () => {
    expect(failed({ code: 0 })).toBe(false);
    expect(failed({ code: 1 })).toBe(true);
    for (const signal of ["SIGTERM", "SIGINT", "SIGHUP", "SIGPIPE"] as const) {
      expect(failed({ signal })).toBe(false);
    }
    expect(failed({ signal: "SIGKILL" })).toBe(true);
    expect(failed({ signal: "SIGSEGV" })).toBe(true);
    expect(failed({ error: "spawn ENOENT" })).toBe(true);
  });

  it("waits twice as long after each quick failure, up to a limit", () => {
    const delays: number[] = [];
    let delay: number | undefined;
    for (let i = 0; i < 10; i++) {
      delay = restartDelay(delay, 10);
      delays.push(delay);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
    expect(delays[0]).toBe(FIRST_DELAY_MS);
    expect(delays.at(-1)).toBe(MAX_DELAY_MS);
  });

  it("starts from the first delay again after a run that lasted", () => {
    expect(restartDelay(16_000, STABLE_RUN_MS)).toBe(FIRST_DELAY_MS);
    expect(restartDelay(16_000, STABLE_RUN_MS - 1)).toBe(MAX_DELAY_MS);
  });
});
