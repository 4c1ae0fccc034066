// The pair controller, driven with plain data (drive.ts). Each "finding" test is one of the
// races or gaps issue 12 found in the agent before it was a state machine.
import { describe, expect, it } from "vitest";
import { DEFAULT_PARAMS } from "../../src/colo/params.js";
import { livenessOf } from "../../src/pair/liveness.js";
import type { SideState } from "../../src/pair/pair-state.js";
import type { PairConfig } from "../../src/pair/protocol.js";
import { Drive, IN_COLO, metadata, SECONDARY_IN_COLO, UNPROTECTED } from "./drive.js";

const isFailover = (w: { kind: string }) => w.kind === "failover";

/** Checkpoints 100 ms apart until the policy goes passive. */
function goPassive(d: Drive): void {
  for (let i = 0; i < 50 && d.c.status(d.now).mode !== "passive"; i++) {
    d.now += 100;
    d.checkpoint();
    d.settle();
  }
  expect(d.c.status(d.now).mode).toBe("passive");
}

describe("the pair controller", () => {
  it("derives COLO on start and follows the secondary", () => {
    const d = Drive.primaryInColo();
    const s = d.c.status(d.now);
    expect(s.colo).toBe("colo");
    expect(s.lastError).toBe("");
    expect(d.timers.has("heartbeat")).toBe(true);
  });

  it("finding 1: two parameter changes at once are checked one on top of the other", () => {
    const d = Drive.primaryInColo();
    const a = d.request({ kind: "set-params", patch: { "passive-limit": 500 } });
    const b = d.request({ kind: "set-params", patch: { "colo-period": 450 } });
    // One store at a time: the second waits for the first.
    expect(d.pending((w) => w.kind === "store-metadata")).toHaveLength(1);
    d.settle();
    expect(d.answers.get(a)).toEqual({ ok: true });
    // colo-period must exceed passive-limit: 450 was fine against 400, not against 500.
    expect(d.answers.get(b)).toMatchObject({ ok: false, errors: [{ name: "colo-period" }] });
    const { live, stored } = d.c.parameters();
    expect(live).toEqual(stored);
    expect([live.passiveLimit, live.coloPeriod]).toEqual([500, DEFAULT_PARAMS.coloPeriod]);
    const c = d.request({ kind: "set-params", patch: { "colo-period": 4500 } });
    d.settle();
    expect(d.answers.get(c)).toEqual({ ok: true });
    expect(d.c.parameters().live.coloPeriod).toBe(4500);
  });

  it("finding 1: a store that fails changes nothing and the next request still runs", () => {
    const d = Drive.primaryInColo();
    const a = d.request({ kind: "set-params", patch: { "passive-limit": 500 } });
    const b = d.request({ kind: "set-params", patch: { "passive-limit": 600 } });
    d.fail(
      d.one((w) => w.kind === "store-metadata"),
      "metadata: permission denied",
    );
    expect(d.answers.get(a)).toMatchObject({ ok: false });
    d.settle();
    expect(d.answers.get(b)).toEqual({ ok: true });
    expect(d.c.parameters().live.passiveLimit).toBe(600);
    expect(d.c.parameters().stored.passiveLimit).toBe(600);
  });

  it("finding 2: the COLO_EXIT an admin failover causes starts no second failover", () => {
    const d = Drive.primaryInColo();
    const r = d.request({ kind: "failover" });
    const id = d.one(isFailover);
    d.event("COLO_EXIT", { mode: "primary", reason: "request" });
    expect(d.pending(isFailover)).toHaveLength(1);
    d.done(id);
    expect(d.answers.get(r)).toEqual({ ok: true });
    expect(d.count((o) => o.type === "work" && o.work.kind === "failover")).toBe(1);
    expect(d.c.status(d.now).colo).toBe("failed-over");
  });

  it("finding 2: a second failover request while one runs waits for the same one", () => {
    const d = Drive.primaryInColo();
    const r1 = d.request({ kind: "failover" });
    const r2 = d.request({ kind: "failover" });
    d.done(d.one(isFailover));
    expect([d.answers.get(r1), d.answers.get(r2)]).toEqual([{ ok: true }, { ok: true }]);
    expect(d.count((o) => o.type === "work" && o.work.kind === "failover")).toBe(1);
  });

  it("finding 3: a secondary's agent started during COLO sees COLO end", () => {
    const d = new Drive(metadata("secondary"));
    d.feed({ type: "start", qemu: "7.2.22" });
    d.done(
      d.one((w) => w.kind === "read-state"),
      SECONDARY_IN_COLO,
    );
    expect(d.c.status(d.now).colo).toBe("colo");
    d.event("COLO_EXIT", { mode: "secondary", reason: "error" });
    const s = d.c.status(d.now);
    expect(s.colo).toBe("exited");
    expect(s.history.at(-1)?.message).toMatch(/COLO ended/);
  });

  it("finding 4: a RESUME of the secondary during a stop in flight is stopped again", () => {
    const d = Drive.primaryInColo({ warmup: 1 });
    goPassive(d);
    d.event("RESUME", undefined, "peer");
    const stop = d.qmp("stop", "peer");
    expect(stop).toHaveLength(1);
    d.event("RESUME", undefined, "peer"); // a checkpoint resumed it while our stop ran
    expect(d.qmp("stop", "peer")).toHaveLength(1);
    d.done((stop[0] as [number, unknown])[0]);
    expect(d.qmp("stop", "peer")).toHaveLength(1); // and once more, after the first
  });

  /** The one period change out sets colo-period, whose checkpoint releases the secondary. */
  function expectColoPeriodSet(d: Drive): number {
    const set = d.one((w) => w.kind === "qmp" && w.command === "migrate-set-parameters");
    expect(d.work.get(set)).toMatchObject({
      args: { "x-checkpoint-delay": DEFAULT_PARAMS.coloPeriod },
    });
    return set;
  }

  /** Passive, then disabled while a stop of the secondary is on its way; it lands last. */
  function stopLandsLate(): Drive {
    // Found by the property test (seed -1524527724): the release came before the stop.
    const d = Drive.primaryInColo({ warmup: 1 });
    goPassive(d);
    d.event("RESUME", undefined, "peer");
    const [[stop]] = d.qmp("stop", "peer") as [[number, unknown]];
    d.request({ kind: "set-params", patch: { enabled: false } });
    d.done(d.one((w) => w.kind === "store-metadata"));
    d.done(d.one((w) => w.kind === "qmp" && w.command === "migrate-set-parameters"));
    d.event("RESUME", undefined, "peer"); // the period's checkpoint: COLO resumes it
    expect(d.qmp("query-status", "peer")).toHaveLength(0);
    d.done(stop); // and then our stop lands
    return d;
  }

  it("closing while a late stop is being checked releases the secondary", () => {
    const d = stopLandsLate();
    d.request({ kind: "close" });
    expectColoPeriodSet(d);
  });

  it("closing after a late stop whose check failed releases the secondary", () => {
    const d = stopLandsLate();
    d.fail(d.one((w) => w.kind === "qmp" && w.command === "query-status"));
    d.request({ kind: "close" });
    expectColoPeriodSet(d);
  });

  it("closing after a failed period change sets colo-period again", () => {
    const d = Drive.primaryInColo({ warmup: 1 });
    goPassive(d);
    d.request({ kind: "set-params", patch: { enabled: false } });
    d.done(d.one((w) => w.kind === "store-metadata"));
    d.fail(d.one((w) => w.kind === "qmp" && w.command === "migrate-set-parameters"));
    d.request({ kind: "close" });
    expectColoPeriodSet(d);
  });

  it("a stop of the secondary that lands after passive mode ended is undone", () => {
    const d = stopLandsLate();
    d.done(
      d.one((w) => w.kind === "qmp" && w.command === "query-status"),
      { status: "paused" },
    );
    expectColoPeriodSet(d);
  });

  it("finding 7: reads disturbed by events are tried again until one is quiet, and said", () => {
    const d = new Drive(metadata("primary"));
    d.feed({ type: "start", qemu: "7.2.22" });
    d.done(
      d.one((w) => w.kind === "connect-peer"),
      "7.2.22",
    );
    for (let i = 0; i < 12; i++) {
      const read = d.pending((w) => w.kind === "read-state");
      if (read.length === 0) d.advance(200);
      const id = d.one((w) => w.kind === "read-state");
      d.event("STOP");
      d.done(id, IN_COLO);
    }
    expect(d.c.status(d.now).colo).toBe("connecting");
    expect(d.count((o) => o.type === "log" && /kept coming/.test(o.text))).toBe(1);
    d.advance(200);
    d.done(
      d.one((w) => w.kind === "read-state"),
      IN_COLO,
    );
    expect(d.c.status(d.now).colo).toBe("colo");
  });

  it("finding 9: a period change that fails does not tag the next natural checkpoint", () => {
    const d = Drive.primaryInColo({ warmup: 1 });
    d.request({ kind: "set-params", patch: { "colo-period": 5000 } });
    d.done(d.one((w) => w.kind === "store-metadata"));
    d.fail(d.one((w) => w.kind === "qmp" && w.command === "migrate-set-parameters"));
    d.now += 300;
    d.checkpoint();
    const { checkpoints } = d.c.status(d.now).stats;
    expect(checkpoints.total).toBeGreaterThan(0);
    expect(checkpoints.byTrigger.request).toBe(0);
  });

  it("finding 10: where QEMU runs hybrid mode itself, the agent sets its parameters and decides nothing", () => {
    const d = new Drive(metadata("primary", { warmup: 1 }));
    d.feed({ type: "start", qemu: "orbit" });
    d.done(
      d.one((w) => w.kind === "read-state"),
      { ...IN_COLO, nativeHybrid: true },
    );
    const set = d.qmp("migrate-set-parameters");
    expect(set).toHaveLength(1);
    expect((set[0] as [number, { args?: unknown }])[1].args).toHaveProperty("colo-passive-count");
    d.settle();
    for (let i = 0; i < 20; i++) {
      d.now += 100;
      d.checkpoint();
    }
    expect(d.qmp("migrate-set-parameters")).toHaveLength(0);
    expect(d.count((o) => o.type === "transition")).toBe(0);
  });

  it("finding 13: a secondary that stops answering is yanked and the primary failed over", () => {
    const d = Drive.primaryInColo();
    const { heartbeatMs, peerTimeoutMs } = livenessOf(DEFAULT_PARAMS);
    d.advance(heartbeatMs); // the heartbeat goes out and is never answered
    expect(d.qmp("query-status", "peer")).toHaveLength(1);
    // Found within peer-timeout of the last answer, however late in it the stall began.
    d.advance(peerTimeoutMs - heartbeatMs - 1);
    expect(d.qmp("yank")).toHaveLength(0);
    d.advance(1);
    const yank = d.one((w) => w.kind === "qmp" && w.command === "yank");
    let s = d.c.status(d.now);
    expect(s.lastError).toMatch(/web1-secondary' is hung/);
    expect(s.coloReason).toMatch(/hung/);
    d.event("COLO_EXIT", { mode: "primary", reason: "error" });
    d.done(yank);
    d.done(d.one(isFailover));
    s = d.c.status(d.now);
    expect(s.colo).toBe("failed-over");
    expect(s.history.map((h) => h.kind)).toContain("failover");
    expect(d.count((o) => o.type === "work" && o.work.kind === "failover")).toBe(1);
  });

  it("yanks every NIC's links to the secondary, and only those the pair has", () => {
    const yanked = (nics?: number) => {
      const d = Drive.primaryInColo({}, nics === undefined ? {} : { nics });
      d.event("STOP");
      d.advance(livenessOf(DEFAULT_PARAMS).checkpointMs + 1);
      const [[, yank] = []] = d.qmp("yank");
      return yank?.kind === "qmp" ? yank.args : undefined;
    };
    const links = (...ids: string[]) => ({
      instances: [{ type: "migration" }, ...ids.map((id) => ({ type: "chardev", id }))],
    });
    expect(yanked()).toEqual(links("mirror0", "compare1"));
    expect(yanked(2)).toEqual(links("mirror0", "compare1", "mirror0-nic1", "compare1-nic1"));
  });

  it("finding 13: a checkpoint that does not end is a hang too", () => {
    const d = Drive.primaryInColo();
    d.event("STOP");
    d.advance(livenessOf(DEFAULT_PARAMS).checkpointMs + 1);
    expect(d.qmp("yank")).toHaveLength(1);
  });

  it("finding 13: slow answers within the bound are no hang", () => {
    const d = Drive.primaryInColo();
    const { heartbeatMs, peerTimeoutMs } = livenessOf(DEFAULT_PARAMS);
    for (let i = 0; i < 10; i++) {
      d.advance(heartbeatMs);
      // peer-timeout counts from the last answer, the ask went out a heartbeat after it.
      d.advance(peerTimeoutMs - heartbeatMs - 1);
      d.done(
        d.one((w) => w.kind === "qmp" && w.command === "query-status"),
        { status: "running" },
      );
    }
    expect(d.qmp("yank")).toHaveLength(0);
    expect(d.c.status(d.now).lastError).toBe("");
  });

  it("a checkpoint the secondary takes longer than peer-timeout to load is no hang", () => {
    const d = Drive.primaryInColo();
    const { heartbeatMs, peerTimeoutMs } = livenessOf(DEFAULT_PARAMS);
    d.advance(heartbeatMs);
    const ask = d.one((w) => w.kind === "qmp" && w.command === "query-status");
    d.event("STOP"); // the secondary answers nothing while it loads the checkpoint
    d.advance(2 * peerTimeoutMs);
    expect(d.qmp("yank")).toHaveLength(0);
    d.event("RESUME"); // it took the checkpoint: alive, the deadline counts from now
    d.advance(peerTimeoutMs - 1);
    expect(d.qmp("yank")).toHaveLength(0);
    d.advance(1); // and the ask still unanswered a whole peer-timeout later is a hang
    expect(d.qmp("yank")).toHaveLength(1);
    expect(d.work.has(ask)).toBe(true);
  });

  it("in passive mode the holds are the secondary's sign of life: no heartbeat goes out", () => {
    const d = Drive.primaryInColo({ warmup: 1 });
    goPassive(d);
    d.advance(0);
    d.settle();
    const asks = () =>
      d.count(
        (o) => o.type === "work" && o.work.kind === "qmp" && o.work.command === "query-status",
      );
    const before = asks();
    for (let i = 0; i < 20; i++) {
      d.advance(300); // passive-time and a checkpoint
      d.event("RESUME", undefined, "peer");
      d.done(d.one((w) => w.kind === "qmp" && w.command === "stop"));
    }
    expect(asks()).toBe(before);
    expect(d.qmp("yank")).toHaveLength(0);
  });

  it("watches the secondary again once its libvirt is back", () => {
    const d = Drive.primaryInColo();
    d.advance(livenessOf(DEFAULT_PARAMS).heartbeatMs);
    d.feed({ type: "libvirt-lost", side: "peer", error: "EPIPE" });
    d.fail(
      d.one((w) => w.kind === "qmp" && w.command === "query-status"),
      "reconnecting",
    );
    d.advance(10_000);
    expect(d.qmp("query-status", "peer")).toHaveLength(0);
    d.feed({ type: "libvirt-back", side: "peer" });
    expect(d.qmp("query-status", "peer")).toHaveLength(1);
    d.advance(livenessOf(DEFAULT_PARAMS).peerTimeoutMs);
    expect(d.qmp("yank")).toHaveLength(1);
  });

  it("a stop of the secondary that fails after COLO ended is no error", () => {
    const d = Drive.primaryInColo({ warmup: 1 });
    goPassive(d);
    d.event("RESUME", undefined, "peer");
    const stop = d.one((w) => w.kind === "qmp" && w.command === "stop");
    d.event("COLO_EXIT", { mode: "primary", reason: "error" });
    d.done(d.one(isFailover));
    d.fail(stop, "Unable to read from monitor: Connection reset by peer");
    expect(d.c.status(d.now).lastError).toBe("");
    expect(d.c.status(d.now).colo).toBe("failed-over");
  });

  it("finding 14: an error clears when its cause has", () => {
    const d = Drive.primaryInColo();
    d.feed({ type: "libvirt-lost", side: "own", error: "EPIPE" });
    expect(d.c.status(d.now).lastError).toMatch(/EPIPE/);
    d.feed({ type: "libvirt-back", side: "own" });
    expect(d.c.status(d.now).lastError).toBe("");
  });

  it("closing while passive gives QEMU the COLO period back, after a stop in flight", () => {
    const d = Drive.primaryInColo({ warmup: 1 });
    goPassive(d);
    d.event("RESUME", undefined, "peer");
    const stop = d.one((w) => w.kind === "qmp" && w.command === "stop");
    d.request({ kind: "close" });
    expect(d.qmp("migrate-set-parameters")).toHaveLength(0);
    d.done(stop);
    const set = expectColoPeriodSet(d);
    expect(d.count((o) => o.type === "closed")).toBe(0);
    d.done(set);
    expect(d.count((o) => o.type === "closed")).toBe(1);
  });

  it("starts replication when the metadata asks and the pair is unprotected", () => {
    const d = Drive.primaryFound(
      UNPROTECTED,
      metadata("primary", {}, true),
      (first) => expect(first.pending((w) => w.kind === "protect")).toHaveLength(0), // the secondary first
    );
    d.one((w) => w.kind === "protect");
    expect(d.c.status(d.now).colo).toBe("starting");
  });

  it("a replication start that failed is tried again after a pause, not at once", () => {
    const d = Drive.primaryFound(UNPROTECTED, metadata("primary", {}, true));
    d.fail(
      d.one((w) => w.kind === "protect"),
      "'web1-secondary' is not waiting for the incoming stream",
    );
    d.done(
      d.one((w) => w.kind === "read-state"),
      UNPROTECTED,
    );
    expect(d.pending((w) => w.kind === "protect")).toHaveLength(0);
    expect(d.c.status(d.now).lastError).toMatch(/trying again in 10 s/);
    d.advance(10_000);
    d.done(
      d.one((w) => w.kind === "read-state"),
      UNPROTECTED,
    );
    d.one((w) => w.kind === "protect");
  });
});

describe("the pair controller: re-protection", () => {
  const URI = "qemu+ssh://host2/system";
  const isResync = (w: { kind: string }) => w.kind === "resync";
  const resync = (d: Drive) => d.request({ kind: "resync", secondaryUri: URI });
  /** What QEMU says of a side that failed over: COLO ended, the guest runs. */
  const FAILED_OVER: SideState = {
    migration: "completed",
    coloMode: "none",
    lastColoMode: "primary",
    coloReason: "request",
    run: "running",
  };
  /** The side's configuration once re-protected: the primary of a secondary on host2. */
  const primaryOf = (domain: string, params = {}): PairConfig => ({
    meta: { ...metadata("primary", params), peer: { uri: URI, domain } },
    disks: 1,
    nics: 1,
  });

  /** Answers every state read in flight with `state`, and the reads they lead to. */
  function readAs(d: Drive, state: SideState): void {
    for (let reads = d.pending((w) => w.kind === "read-state"); reads.length > 0; ) {
      for (const [id] of reads) d.done(id, state);
      reads = d.pending((w) => w.kind === "read-state");
    }
  }

  function failedOverPrimary(): Drive {
    const d = Drive.primaryInColo();
    d.request({ kind: "failover" });
    d.done(d.one(isFailover));
    expect(d.c.status(d.now).colo).toBe("failed-over");
    return d;
  }

  /** A secondary's agent that found COLO, saw it end, and was told to take over. */
  function failedOverSecondary(): Drive {
    const d = new Drive(metadata("secondary"));
    d.feed({ type: "start", qemu: "7.2.22" });
    d.done(
      d.one((w) => w.kind === "read-state"),
      SECONDARY_IN_COLO,
    );
    d.event("COLO_EXIT", { mode: "secondary", reason: "error" });
    d.request({ kind: "failover" });
    d.done(d.one(isFailover));
    expect(d.c.status(d.now).colo).toBe("failed-over");
    return d;
  }

  it("is refused, with the reason, in COLO, while failing over, while under way, and for a side not alone", () => {
    const resyncs = (d: Drive) => d.count((o) => o.type === "work" && isResync(o.work));
    /** The answer to a resync request, which starts nothing. */
    const refused = (d: Drive) => {
      const before = resyncs(d);
      const answer = d.answers.get(resync(d));
      expect(resyncs(d)).toBe(before);
      return answer;
    };
    expect(refused(Drive.primaryInColo())).toEqual({
      ok: false,
      error: "'web1' is in COLO already (colo): there is nothing to resync",
    });

    const failing = Drive.primaryInColo();
    failing.event("COLO_EXIT", { mode: "primary", reason: "error" }); // auto-failover begins
    failing.one(isFailover);
    expect(refused(failing)).toEqual({
      ok: false,
      error: "'web1' is failing over: try again once it runs alone",
    });

    const twice = failedOverPrimary();
    expect(twice.answers.get(resync(twice))).toEqual({ ok: true });
    expect(refused(twice)).toEqual({
      ok: false,
      error: "'web1' is being protected again already",
    });
    expect(resyncs(twice)).toBe(1);

    const exited = new Drive(metadata("secondary"));
    exited.feed({ type: "start", qemu: "7.2.22" });
    exited.done(
      exited.one((w) => w.kind === "read-state"),
      SECONDARY_IN_COLO,
    );
    exited.event("COLO_EXIT", { mode: "secondary", reason: "error" });
    expect(refused(exited)).toMatchObject({
      ok: false,
      error: expect.stringMatching(
        /^'web1-secondary' does not run alone \(COLO state exited\): re-protection makes a side/,
      ),
    });
  });

  it("is answered at once for a side that failed over, and begins: ColoState starting, one resync", () => {
    const d = failedOverPrimary();
    const r = resync(d);
    expect(d.answers.get(r)).toEqual({ ok: true });
    const s = d.c.status(d.now);
    expect([s.colo, s.coloReason]).toEqual([
      "starting",
      `re-protecting with the secondary on ${URI}`,
    ]);
    expect(d.pending(isResync).map(([, w]) => w)).toEqual([{ kind: "resync", secondaryUri: URI }]);
  });

  it("once done, takes the new configuration, lets go of the old secondary, then follows the new one", () => {
    const d = failedOverPrimary();
    resync(d);
    const config = primaryOf("web1-secondary", { passiveLimit: 300 });
    const out = d.done(d.one(isResync), config);
    expect(out).toContainEqual({ type: "config", config });
    expect(d.c.status(d.now).history.at(-1)).toMatchObject({
      kind: "colo",
      message: `protected again: the primary of 'web1-secondary' at ${URI} (was the primary of 'web1-secondary')`,
    });
    // New parameters apply as a set does.
    expect(d.c.parameters().live).toEqual(config.meta.params);
    expect(d.c.parameters().stored).toEqual(config.meta.params);
    // The old secondary first, and only then the new one.
    d.one((w) => w.kind === "drop-peer");
    expect(d.pending((w) => w.kind === "connect-peer")).toHaveLength(0);
    d.done(d.one((w) => w.kind === "drop-peer"));
    d.done(
      d.one((w) => w.kind === "connect-peer"),
      "8.2.2",
    );
    readAs(d, IN_COLO);
    d.settle();
    const s = d.c.status(d.now);
    expect(s).toMatchObject({
      role: "primary",
      peer: { uri: URI, domain: "web1-secondary" },
      colo: "colo",
      lastError: "",
      qemu: { primary: "7.2.22", secondary: "8.2.2" },
    });
    expect(d.timers.has("heartbeat")).toBe(true);
    expect(d.timers.has("replica-check")).toBe(true); // the new configuration's disk
  });

  it("makes a secondary that took over a primary: it reaches its new secondary at once", () => {
    const d = failedOverSecondary();
    expect(d.answers.get(resync(d))).toEqual({ ok: true });
    d.done(d.one(isResync), primaryOf("web1"));
    // It never reached a peer: nothing to let go of.
    expect(d.pending((w) => w.kind === "drop-peer")).toHaveLength(0);
    d.done(
      d.one((w) => w.kind === "connect-peer"),
      "8.2.2",
    );
    readAs(d, IN_COLO);
    const s = d.c.status(d.now);
    expect(s).toMatchObject({ role: "primary", peer: { uri: URI, domain: "web1" }, colo: "colo" });
    expect(s.history.at(-1)?.message).toBe(
      `protected again: the primary of 'web1' at ${URI} (was the secondary of 'web1')`,
    );
    expect(s.qemu).toEqual({ primary: "7.2.22", secondary: "8.2.2" });
  });

  it("that fails says why in LastError and reads the state again: the side still runs alone", () => {
    const d = failedOverPrimary();
    resync(d);
    d.fail(d.one(isResync), "'web1-secondary' does not wait for the replication stream");
    const error = `re-protection with ${URI} failed: 'web1-secondary' does not wait for the replication stream`;
    expect(d.c.status(d.now).lastError).toBe(error);
    readAs(d, FAILED_OVER);
    const s = d.c.status(d.now);
    expect([s.colo, s.lastError, s.role, s.peer.uri]).toEqual([
      "failed-over",
      error,
      "primary",
      "qemu:///system",
    ]);
    expect(d.pending((w) => w.kind === "drop-peer" || w.kind === "connect-peer")).toEqual([]);
    // It may be tried again; once it works, the error is gone.
    expect(d.answers.get(resync(d))).toEqual({ ok: true });
    d.done(d.one(isResync), primaryOf("web1-secondary"));
    expect(d.c.status(d.now).lastError).toBe("");
  });

  it("lets a connection to the old secondary under way settle, then drops it, then reaches the new one", () => {
    // A primary whose secondary never came: it runs alone, and keeps trying to reach it.
    const d = new Drive(metadata("primary"));
    d.feed({ type: "start", qemu: "7.2.22" });
    readAs(d, UNPROTECTED);
    d.fail(
      d.one((w) => w.kind === "connect-peer"),
      "Connection refused",
    );
    expect(d.answers.get(resync(d))).toEqual({ ok: true });
    d.advance(5000); // peer-retry: a connection to the old one goes out
    const old = d.one((w) => w.kind === "connect-peer");
    d.done(d.one(isResync), primaryOf("web1-secondary"));
    expect(d.pending((w) => w.kind === "connect-peer" || w.kind === "drop-peer")).toHaveLength(1);
    d.done(old, "7.2.22");
    d.done(d.one((w) => w.kind === "drop-peer"));
    d.done(
      d.one((w) => w.kind === "connect-peer"),
      "8.2.2",
    );
    readAs(d, IN_COLO);
    expect(d.c.status(d.now)).toMatchObject({
      colo: "colo",
      peer: { uri: URI },
      qemu: { secondary: "8.2.2" },
      lastError: "",
    });
  });
});
