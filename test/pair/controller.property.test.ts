// The pair controller against a model of the pair, over random interleavings of QEMU's events,
// the outcomes of its commands (in any order, some failing), timers and admin requests.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_PARAMS, type ParamPatch, type Params } from "../../src/colo/params.js";
import { livenessOf } from "../../src/pair/liveness.js";
import type { Output, PairConfig, Work } from "../../src/pair/protocol.js";
import { Drive, IN_COLO, metadata } from "./drive.js";

type Step =
  | { kind: "complete"; pick: number; fail: boolean }
  | { kind: "checkpoint" }
  | { kind: "stop-only" }
  | { kind: "resume" }
  | { kind: "colo-exit" }
  | { kind: "advance"; ms: number }
  | { kind: "set-params"; patch: ParamPatch }
  | { kind: "failover" }
  | { kind: "resync" }
  | { kind: "libvirt-flap" };

/** Where re-protection's new secondary runs. */
const NEW_PEER = "qemu+ssh://host2/system";

const PATCHES: ParamPatch[] = [
  { "passive-limit": 500 },
  { "passive-limit": 300 },
  { "colo-period": 450 },
  { "colo-period": 5000 },
  { "passive-count": 2 },
  { enabled: false },
  { enabled: true },
  { "peer-timeout": 800 },
];

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("complete" as const),
      pick: fc.nat(),
      fail: fc.boolean(),
    }),
  },
  { weight: 5, arbitrary: fc.constant({ kind: "checkpoint" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "stop-only" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "resume" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "colo-exit" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.integer({ min: 1, max: 3000 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("set-params" as const),
      patch: fc.constantFrom(...PATCHES),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "failover" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "resync" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "libvirt-flap" as const }) },
);

/** The pair as QEMU would have it, driven by the work the controller issues. */
class World {
  inColo = true;
  session = 0;
  failovers = new Map<number, number>();
  secondaryStopped = false;
  /** When the primary stopped for a checkpoint that has not ended. */
  openSince: number | undefined;
  /** Yank or failover issued since the checkpoint opened. */
  unstuck = false;
  stopsAfterExit = 0;
  /** The secondary was resumed while passive and no stop of it has settled since. */
  needsStop = false;
  /** The newest work id when the secondary last resumed: only a later stop holds it again. */
  lastIdAtResume = 0;
  /**
   * A re-protection made a new session, which the controller has not read yet. QEMU's first
   * checkpoint comes a colo-period after COLO starts, long after that read: none comes before.
   */
  joining = false;
  /** Work up to this id went to the secondary before the last re-protection, not to its new one. */
  oldPeerWork = 0;
  /** The secondary's events reach the controller: it has a connection to this one. */
  followed = true;
  /** The parameters each re-protection in flight planned with: those stored when it began. */
  readonly resyncParams = new Map<number, Params>();

  constructor(
    readonly d: Drive,
    readonly disks: number,
  ) {}

  observe(outs: Output[]): void {
    for (const o of outs) {
      if (o.type !== "work") continue;
      const w = o.work;
      if (w.kind === "failover" || (w.kind === "qmp" && w.command === "yank")) this.unstuck = true;
      if (w.kind === "failover")
        this.failovers.set(this.session, (this.failovers.get(this.session) ?? 0) + 1);
      if (!this.inColo && w.kind === "qmp" && w.command === "stop") this.stopsAfterExit++;
      if (w.kind === "resync") this.resyncParams.set(o.id, this.d.c.parameters().stored);
    }
    if (this.joining && this.d.c.status(this.d.now).colo === "colo") this.joining = false;
  }

  feed(f: () => Output[]): void {
    this.observe(f());
  }

  checkpoint(): void {
    if (!this.inColo || this.joining) return;
    if (this.openSince === undefined) this.feed(() => this.d.event("STOP"));
    this.d.now += 40;
    this.openSince = undefined;
    this.feed(() => this.d.event("RESUME"));
    this.secondaryStopped = false;
    if (!this.followed) return;
    this.needsStop = this.d.c.status(this.d.now).mode === "passive";
    this.lastIdAtResume = Math.max(0, ...this.d.work.keys(), this.lastIdAtResume);
    this.feed(() => this.d.event("RESUME", undefined, "peer"));
  }

  exit(): void {
    if (!this.inColo) return;
    this.inColo = false;
    this.joining = false;
    this.openSince = undefined;
    this.needsStop = false;
    this.feed(() => this.d.event("COLO_EXIT", { mode: "primary", reason: "error" }));
  }

  result(id: number, w: Work): unknown {
    if (w.kind === "read-state")
      return this.inColo
        ? IN_COLO
        : { ...IN_COLO, migration: "completed", coloMode: "none", lastColoMode: "primary" };
    if (w.kind === "connect-peer") return "7.2.22";
    if (w.kind === "resync") {
      const params = this.resyncParams.get(id) ?? DEFAULT_PARAMS;
      const config: PairConfig = {
        meta: { ...metadata("primary"), peer: { uri: NEW_PEER, domain: "web1-secondary" }, params },
        disks: this.disks,
        nics: 1,
      };
      return config;
    }
    if (w.kind === "qmp" && w.command === "query-status")
      return { status: this.secondaryStopped ? "paused" : "running" };
    if (w.kind === "qmp" && w.command === "query-migrate-parameters")
      return { "x-checkpoint-delay": DEFAULT_PARAMS.coloPeriod };
    return {};
  }

  complete(id: number, w: Work, fail: boolean): void {
    const isStop = w.kind === "qmp" && w.side === "peer" && w.command === "stop";
    if (isStop && id > this.lastIdAtResume) this.needsStop = false;
    if (fail && w.kind !== "failover") {
      this.feed(() => this.d.fail(id));
      return;
    }
    const result = this.result(id, w);
    if (w.kind === "resync") {
      // COLO runs again, a new session with a new secondary, before the work is done.
      this.inColo = true;
      this.joining = true;
      this.session++;
      this.secondaryStopped = false;
      this.needsStop = false;
      this.followed = false;
      this.oldPeerWork = Math.max(0, ...this.d.work.keys(), this.oldPeerWork);
    }
    this.feed(() => this.d.done(id, result));
    if (isStop && id > this.oldPeerWork) this.secondaryStopped = true;
    if (w.kind === "connect-peer" && id > this.oldPeerWork) this.followed = true;
    // Setting the period in COLO takes a checkpoint at once.
    if (
      w.kind === "qmp" &&
      w.command === "migrate-set-parameters" &&
      w.args &&
      "x-checkpoint-delay" in w.args
    )
      this.checkpoint();
    if (w.kind === "qmp" && w.command === "yank") this.exit();
    if (w.kind === "failover") {
      this.inColo = false;
      this.openSince = undefined;
    }
  }

  run(s: Step): void {
    const d = this.d;
    switch (s.kind) {
      case "complete": {
        const all = d.pending();
        const chosen = all[s.pick % Math.max(1, all.length)];
        if (chosen !== undefined) this.complete(chosen[0], chosen[1], s.fail);
        return;
      }
      case "checkpoint":
        this.checkpoint();
        return;
      case "stop-only":
        if (!this.inColo || this.joining || this.openSince !== undefined) return;
        this.openSince = d.now;
        // A yank or failover already in flight unsticks this checkpoint too.
        this.unstuck =
          d.pending((w) => w.kind === "failover" || (w.kind === "qmp" && w.command === "yank"))
            .length > 0;
        this.feed(() => d.event("STOP"));
        return;
      case "resume":
        if (this.openSince !== undefined) this.checkpoint();
        return;
      case "colo-exit":
        this.exit();
        return;
      case "advance": {
        const before = d.log.length;
        d.advance(s.ms);
        this.observe(d.log.slice(before));
        return;
      }
      case "set-params":
        this.feed(() => {
          const before = d.log.length;
          d.request({ kind: "set-params", patch: s.patch });
          return d.log.slice(before);
        });
        return;
      case "failover":
        this.feed(() => {
          const before = d.log.length;
          d.request({ kind: "failover" });
          return d.log.slice(before);
        });
        return;
      case "resync":
        this.feed(() => {
          const before = d.log.length;
          d.request({ kind: "resync", secondaryUri: NEW_PEER });
          return d.log.slice(before);
        });
        return;
      case "libvirt-flap":
        this.feed(() => d.feed({ type: "libvirt-lost", side: "own", error: "EPIPE" }));
        this.feed(() => d.feed({ type: "libvirt-back", side: "own" }));
        return;
    }
  }

  /** Completes everything in flight, and what that brings, oldest first. */
  settle(): void {
    for (let next = this.d.pending()[0]; next !== undefined; next = this.d.pending()[0])
      this.complete(next[0], next[1], false);
  }

  /** Closes the agent and lets QEMU answer everything. */
  close(): void {
    const d = this.d;
    this.feed(() => {
      const before = d.log.length;
      d.request({ kind: "close" });
      return d.log.slice(before);
    });
    // QEMU carries out whatever was sent, also after the agent let go.
    for (let i = 0; i < 100; i++) {
      // Newest first: what was in flight when closing began answers last.
      const next = d.pending().at(-1);
      if (next === undefined) break;
      this.complete(next[0], next[1], false);
    }
  }
}

describe("the pair controller, over random interleavings", () => {
  it("keeps its promises", () => {
    fc.assert(
      // With a replicated disk or without: its watch must keep out of the rest's way. From COLO,
      // failed over (where re-protection begins), or in COLO again after a re-protection.
      fc.property(
        fc.array(step, { maxLength: 120 }),
        fc.constantFrom(0, 1),
        fc.constantFrom("colo", "failed-over", "protected-again"),
        (steps, disks, start) => {
          const d = Drive.primaryInColo({ warmup: 1 }, { disks });
          const w = new World(d, disks);
          if (start !== "colo") {
            w.run({ kind: "failover" });
            w.settle();
          }
          if (start === "protected-again") {
            w.run({ kind: "resync" });
            w.settle();
            expect(d.c.status(d.now).colo).toBe("colo");
          }
          for (const s of steps) {
            w.run(s);
            const { live, stored } = d.c.parameters();
            expect(live).toEqual(stored);
            // The primary is never left paused beyond the bound: by then it has been unstuck.
            if (w.openSince !== undefined && d.now - w.openSince > livenessOf(live).checkpointMs)
              expect(w.unstuck).toBe(true);
            // Passive holds the secondary: a RESUME of it is always followed by a stop.
            if (w.needsStop && w.inColo && d.c.status(d.now).mode === "passive")
              expect(d.qmp("stop", "peer").length).toBeGreaterThan(0);
          }
          // At most one failover per COLO session.
          for (const n of w.failovers.values()) expect(n).toBeLessThanOrEqual(1);
          // Once COLO ended, the secondary is never stopped again.
          expect(w.stopsAfterExit).toBe(0);
          w.close();
          expect(d.count((o) => o.type === "closed")).toBe(1);
          // Nor is it left held once the agent stopped.
          if (w.inColo) expect(w.secondaryStopped).toBe(false);
        },
      ),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 2000) },
    );
  });
});
