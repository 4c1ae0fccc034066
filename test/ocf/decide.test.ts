// The resource agent's decisions (src/ocf/decide.ts) for each state a side can be in, and its
// parameters: which OCF code, which promotion score, what it does.
import { describe, expect, it } from "vitest";
import type { ColoState } from "../../src/agent/status.js";
import {
  demote,
  type Epochs,
  IDLE_PRIMARY_SCORE,
  IN_SYNC_SCORE,
  monitor,
  needsEpochs,
  notify,
  type Observed,
  OCF,
  PROMOTED_SCORE,
  promote,
  type Role,
  start,
  stop,
} from "../../src/ocf/decide.js";
import { readParams } from "../../src/ocf/meta-data.js";

const NONE: Epochs = { mine: undefined, newestOther: undefined };
/** The peer was promoted after this side: it took over. */
const STALE: Epochs = { mine: 1000, newestOther: { node: "b", at: 2000 } };
const nameOf = (role: Role) => (role === "primary" ? "web" : "web-secondary");

/** Paused here means paused by a user (the cluster's demote) unless said otherwise. */
const up = (
  role: Role,
  colo: ColoState,
  run = "running",
  epochs = NONE,
  pausedByUser = run === "paused",
): Observed => ({
  kind: "running",
  name: nameOf(role),
  role,
  colo,
  run,
  pausedByUser,
  epochs,
});
const off = (role: Role, epochs = NONE): Observed => ({
  kind: "shut-off",
  name: nameOf(role),
  role,
  epochs,
});

describe("monitor", () => {
  it.each([
    [up("primary", "colo"), OCF.RUNNING_PROMOTED, PROMOTED_SCORE],
    // A checkpoint's pause is still COLO.
    [up("primary", "colo", "paused"), OCF.RUNNING_PROMOTED, PROMOTED_SCORE],
    [up("primary", "failed-over"), OCF.RUNNING_PROMOTED, PROMOTED_SCORE],
    [up("primary", "unprotected"), OCF.RUNNING_PROMOTED, PROMOTED_SCORE],
    // COLO ended, failing over left to the cluster: still the side that serves.
    [up("primary", "exited", "paused"), OCF.RUNNING_PROMOTED, PROMOTED_SCORE],
    [up("secondary", "failed-over"), OCF.RUNNING_PROMOTED, PROMOTED_SCORE],
    // Stopped by QEMU for a moment (re-protection's copy ending, its first checkpoint): serving.
    [up("secondary", "failed-over", "paused", NONE, false), OCF.RUNNING_PROMOTED, PROMOTED_SCORE],
    [up("primary", "failed-over", "finish-migrate"), OCF.RUNNING_PROMOTED, PROMOTED_SCORE],
    // Started paused, or demoted: up, not serving.
    [up("primary", "unprotected", "prelaunch"), OCF.SUCCESS, IDLE_PRIMARY_SCORE],
    [up("primary", "failed-over", "paused"), OCF.SUCCESS, IDLE_PRIMARY_SCORE],
    [up("primary", "unprotected", "paused", STALE), OCF.SUCCESS, "delete"],
    [up("secondary", "colo", "paused"), OCF.SUCCESS, IN_SYNC_SCORE],
    // The primary lost: the secondary holds the last checkpoint, and may take over.
    [up("secondary", "exited", "colo"), OCF.SUCCESS, IN_SYNC_SCORE],
    // Waiting for the stream: it holds nothing of the guest.
    [up("secondary", "starting", "inmigrate"), OCF.SUCCESS, "delete"],
    [off("primary"), OCF.NOT_RUNNING, "delete"],
    [{ kind: "absent" }, OCF.NOT_RUNNING, "delete"],
  ] as const)("%j: rc %i, score %s", (o, rc, score) => {
    expect(monitor(o)).toMatchObject({ rc, score });
  });
});

describe("actions", () => {
  it("start: a shut-off side starts paused; one a later promotion made stale becomes a secondary", () => {
    expect(start(off("secondary"))).toEqual({ do: "start-paused", name: "web-secondary" });
    expect(start(off("primary"))).toEqual({ do: "start-paused", name: "web" });
    expect(start(off("primary", STALE))).toEqual({ do: "become-secondary", name: "web" });
    // A stale secondary is one still: its images are copied over when COLO starts again.
    expect(start(off("secondary", STALE))).toEqual({ do: "start-paused", name: "web-secondary" });
    expect(start({ kind: "absent" })).toMatchObject({ outcome: { rc: OCF.ERR_INSTALLED } });
    expect(start(up("secondary", "colo"))).toMatchObject({ outcome: { rc: OCF.SUCCESS } });
  });

  it("promote: a secondary in sync fails over; an idle primary resumes unless stale", () => {
    expect(promote(up("secondary", "exited", "colo"))).toEqual({
      do: "failover",
      name: "web-secondary",
    });
    expect(promote(up("secondary", "colo"))).toEqual({ do: "failover", name: "web-secondary" });
    expect(promote(up("secondary", "starting", "inmigrate"))).toMatchObject({
      outcome: { rc: OCF.ERR_GENERIC, reason: expect.stringContaining("no checkpoint yet") },
    });
    expect(promote(up("primary", "unprotected", "prelaunch"))).toEqual({
      do: "resume",
      name: "web",
    });
    expect(promote(up("primary", "unprotected", "paused", STALE))).toMatchObject({
      outcome: { rc: OCF.ERR_GENERIC },
    });
    expect(promote(up("primary", "colo"))).toMatchObject({ outcome: { rc: OCF.SUCCESS } });
    expect(promote(up("primary", "exited", "paused"))).toEqual({ do: "failover", name: "web" });
    expect(promote(off("primary"))).toMatchObject({ outcome: { rc: OCF.ERR_GENERIC } });
  });

  it("demote pauses a side serving alone, ends one in COLO; stop ends a running side", () => {
    expect(demote(up("primary", "unprotected"))).toEqual({ do: "pause", name: "web" });
    expect(demote(up("secondary", "failed-over"))).toEqual({ do: "pause", name: "web-secondary" });
    // Paused in COLO, the next checkpoint would run it again.
    expect(demote(up("primary", "colo"))).toEqual({ do: "destroy", name: "web" });
    expect(demote(up("secondary", "colo"))).toMatchObject({ outcome: { rc: OCF.SUCCESS } });
    expect(stop(up("secondary", "colo"))).toEqual({ do: "destroy", name: "web-secondary" });
    expect(stop({ kind: "absent" })).toMatchObject({ outcome: { rc: OCF.SUCCESS } });
  });
});

describe("notify", () => {
  const postStop = { type: "post", operation: "stop", peerStopped: true, peerStarted: false };
  const postStart = { type: "post", operation: "start", peerStopped: false, peerStarted: true };
  it("after the secondary's instance stopped (fenced), a primary left without it runs alone", () => {
    expect(notify(up("primary", "exited", "paused"), postStop)).toEqual({
      do: "failover",
      name: "web",
    });
    // Hung, COLO not ended yet.
    expect(notify(up("primary", "colo"), postStop)).toEqual({ do: "failover", name: "web" });
  });

  it("after the peer's instance started, a side that runs alone is protected again", () => {
    expect(notify(up("secondary", "failed-over"), postStart)).toEqual({
      do: "resync",
      name: "web-secondary",
    });
    expect(notify(up("primary", "failed-over"), postStart)).toEqual({ do: "resync", name: "web" });
    // A primary whose secondary never came.
    expect(notify(up("primary", "unprotected"), postStart)).toEqual({ do: "resync", name: "web" });
  });

  it("needs nothing otherwise", () => {
    for (const [o, n] of [
      [up("primary", "failed-over"), postStop],
      [up("secondary", "exited", "colo"), postStop],
      [up("primary", "exited", "paused"), { ...postStop, peerStopped: false }],
      [up("primary", "exited", "paused"), { ...postStop, type: "pre" }],
      [up("primary", "colo"), postStart],
      [up("primary", "failed-over", "paused"), postStart],
      [up("secondary", "colo"), postStart],
      [up("secondary", "failed-over"), { ...postStart, peerStarted: false }],
      [up("secondary", "failed-over"), { ...postStart, type: "pre" }],
    ] as const)
      expect(notify(o, n)).toMatchObject({ do: "nothing", outcome: { rc: OCF.SUCCESS } });
  });
});

describe("epochs", () => {
  it("are read only for a side that may serve and does not: they decide nothing elsewhere", () => {
    expect(needsEpochs(off("primary"))).toBe(true);
    expect(needsEpochs(up("primary", "unprotected", "prelaunch"))).toBe(true);
    expect(needsEpochs(up("secondary", "failed-over", "paused"))).toBe(true);
    for (const o of [
      off("secondary"),
      up("primary", "colo"),
      up("secondary", "colo"),
      up("secondary", "failed-over"),
      { kind: "absent" } as const,
    ])
      expect(needsEpochs(o)).toBe(false);
  });
});

describe("parameters", () => {
  it("need a domain; the secondary is DOMAIN-secondary unless given", () => {
    expect(readParams({ OCF_RESKEY_domain: "web" })).toEqual({
      ok: true,
      params: { domain: "web", secondary: "web-secondary" },
    });
    expect(readParams({})).toEqual({ ok: false, reason: "the parameter 'domain' is required" });
    expect(readParams({ OCF_RESKEY_domain: "a/b" })).toMatchObject({ ok: false });
    expect(readParams({ OCF_RESKEY_domain: "web", OCF_RESKEY_secondary: "web" })).toMatchObject({
      ok: false,
      reason: "secondary and domain are both 'web'",
    });
  });
});
