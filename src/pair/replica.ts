// Whether the secondary's replicated disks keep up. In COLO the secondary runs the same guest on
// the same inputs, so when the primary's guest writes, so does the secondary's. A secondary
// whose disk stopped completing requests (seen once in 17 lab pairs under TCG: its quorum's
// counters stayed at 0 while COLO looked healthy; after failover its reads hung) writes nothing
// at all while the primary writes on: that is the sign. Pure: the controller feeds it both
// sides' query-blockstats and resets it while the secondary is held (passive mode: it runs
// nothing then).
import { diskIds } from "./disks.js";

/** The primary wrote at least this many times since the last look while the secondary wrote none. */
export const STALL_WRITES = 8;

/** Completed writes by replicated disk (its quorum's id), from a query-blockstats answer. */
export function writesByDisk(blockstats: unknown, disks: number): Map<string, number> {
  const wanted = new Set<string>(Array.from({ length: disks }, (_, n) => diskIds(n).quorum));
  const found = new Map<string, number>();
  if (!Array.isArray(blockstats)) return found;
  for (const entry of blockstats as { device?: unknown; stats?: { wr_operations?: unknown } }[]) {
    const writes = entry?.stats?.wr_operations;
    if (typeof entry?.device === "string" && wanted.has(entry.device) && typeof writes === "number")
      found.set(entry.device, writes);
  }
  return found;
}

export interface ReplicaChange {
  /** Disks whose replica has stopped completing writes, newly found. */
  stalled: string[];
  /** Disks found stalled before whose replica writes again. */
  recovered: string[];
}

export class ReplicaWatch {
  private last: { primary: Map<string, number>; secondary: Map<string, number> } | undefined;
  private readonly stalled = new Set<string>();

  /** Forget the counts: the next look only sets the baseline. */
  reset(): void {
    this.last = undefined;
  }

  get anyStalled(): boolean {
    return this.stalled.size > 0;
  }

  observe(primary: Map<string, number>, secondary: Map<string, number>): ReplicaChange {
    const change: ReplicaChange = { stalled: [], recovered: [] };
    const last = this.last;
    this.last = { primary, secondary };
    if (last === undefined) return change;
    for (const [disk, writes] of primary) {
      const before = last.primary.get(disk);
      const mine = secondary.get(disk);
      const mineBefore = last.secondary.get(disk);
      if (before === undefined || mine === undefined || mineBefore === undefined) continue;
      // A counter that went back is a QEMU started anew: no sign either way.
      if (writes < before || mine < mineBefore) continue;
      const secondaryWrote = mine > mineBefore;
      if (this.stalled.has(disk) && secondaryWrote) {
        this.stalled.delete(disk);
        change.recovered.push(disk);
      } else if (!this.stalled.has(disk) && !secondaryWrote && writes - before >= STALL_WRITES) {
        this.stalled.add(disk);
        change.stalled.push(disk);
      }
    }
    return change;
  }
}
