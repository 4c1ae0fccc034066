// The COLO state read from what QEMU answered, for the cases seen on the lab's QEMU 7.2.
import { describe, expect, it } from "vitest";
import { coloReasonOf, coloStateOf } from "../../src/pair/colo-state.js";
import type { SideState } from "../../src/pair/pair-state.js";

const side = (s: Partial<SideState>): SideState => ({
  migration: "none",
  coloMode: "none",
  lastColoMode: "none",
  coloReason: "none",
  run: "running",
  ...s,
});

describe("coloStateOf", () => {
  it.each([
    ["a primary before protect", side({ run: "paused" }), "unprotected", ""],
    ["a secondary waiting for the stream", side({ run: "inmigrate" }), "starting", ""],
    ["a migration under way", side({ migration: "active" }), "starting", "migration active"],
    ["both in COLO", side({ migration: "colo", coloMode: "primary" }), "colo", ""],
    ["a primary left paused by COLO_EXIT", side({ migration: "colo", run: "colo" }), "colo", ""],
    [
      "a primary after COLO ended, still paused",
      side({ migration: "completed", lastColoMode: "primary", coloReason: "error", run: "paused" }),
      "exited",
      "COLO ended as primary, reason error",
    ],
    [
      "a primary failed over",
      side({ migration: "completed", lastColoMode: "primary", coloReason: "request" }),
      "failed-over",
      "COLO ended as primary, reason request",
    ],
    [
      "a failed protect",
      side({ migration: "failed", run: "paused" }),
      "unprotected",
      "migration failed",
    ],
  ])("%s", (_, s, state, reason) => {
    expect(coloStateOf(s)).toBe(state);
    expect(coloReasonOf(s)).toBe(reason);
  });
});
