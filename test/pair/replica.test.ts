// The watch on the secondary's disks (replica.ts), alone and in the pair controller.
import { describe, expect, it } from "vitest";
import { REPLICA_CHECK_MS } from "../../src/pair/controller.js";
import { ReplicaWatch, STALL_WRITES, writesByDisk } from "../../src/pair/replica.js";
import { Drive, IN_COLO, metadata } from "./drive.js";

/** query-blockstats as QEMU answers it: the quorum's counters, and others of no interest. */
const blockstats = (writes: number) => [
  { device: "colo-disk0", stats: { wr_operations: writes, rd_operations: 3 } },
  { device: "", "node-name": "colo-parent0", stats: { wr_operations: 999 } },
];
const counts = (w: number) => writesByDisk(blockstats(w), 1);

describe("ReplicaWatch", () => {
  it("reads the quorums' completed writes, nothing else", () => {
    expect(counts(7)).toEqual(new Map([["colo-disk0", 7]]));
    expect(writesByDisk({ error: "x" }, 1)).toEqual(new Map());
  });

  it("finds a secondary that wrote nothing while the primary wrote enough, and its recovery", () => {
    const w = new ReplicaWatch();
    expect(w.observe(counts(10), counts(9))).toEqual({ stalled: [], recovered: [] });
    // Few writes: not enough to tell.
    expect(w.observe(counts(10 + STALL_WRITES - 1), counts(9)).stalled).toEqual([]);
    expect(w.observe(counts(10 + 2 * STALL_WRITES), counts(9)).stalled).toEqual(["colo-disk0"]);
    expect(w.anyStalled).toBe(true);
    // Said once, not at every look.
    expect(w.observe(counts(10 + 4 * STALL_WRITES), counts(9)).stalled).toEqual([]);
    expect(w.observe(counts(10 + 5 * STALL_WRITES), counts(10))).toEqual({
      stalled: [],
      recovered: ["colo-disk0"],
    });
  });

  it("starts over after a reset, and reads counters that went back as a new QEMU", () => {
    const w = new ReplicaWatch();
    w.observe(counts(10), counts(9));
    w.reset();
    expect(w.observe(counts(100), counts(9)).stalled).toEqual([]);
    expect(w.observe(counts(5), counts(9)).stalled).toEqual([]);
  });
});

describe("the controller's watch on the replicas", () => {
  /** The time to the next look passes, the secondary answering its heartbeats; then the look. */
  const look = (d: Drive, own: number, peer: number) => {
    for (let t = 0; t < REPLICA_CHECK_MS; t += 100) {
      d.advance(100);
      for (const [id] of d.qmp("query-status", "peer")) d.done(id, { status: "running" });
    }
    const [[o], [p]] = [d.qmp("query-blockstats", "own"), d.qmp("query-blockstats", "peer")];
    d.done((o as [number, unknown])[0], blockstats(own));
    d.done((p as [number, unknown])[0], blockstats(peer));
  };

  it("says a stalled replica is an error while it lasts, in COLO with disks", () => {
    const d = Drive.primaryFound(IN_COLO, metadata("primary"), undefined, { disks: 1 });
    d.settle();
    look(d, 10, 9);
    look(d, 40, 9);
    expect(d.c.status(d.now).lastError).toMatch(
      /^the secondary's disk colo-disk0 completed no write in 10 s while the primary's completed 8 or more: its replica is stalled/,
    );
    look(d, 50, 12);
    expect(d.c.status(d.now).lastError).toBe("");
  });

  it("does not look without disks", () => {
    const d = Drive.primaryInColo();
    d.advance(3 * REPLICA_CHECK_MS);
    expect(d.qmp("query-blockstats", "own")).toEqual([]);
  });
});
