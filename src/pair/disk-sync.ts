// Before COLO starts, each replicated disk's secondary base image is made equal to the
// primary's disk, and the primary's quorum gets its NBD child (QEMU's COLO-FT.txt). The copy is
// QEMU's own: the secondary serves its base images over NBD, and the primary mirrors each disk
// into them (blockdev-mirror), running or not; once all are in step, the primary stops, the
// mirrors end (in step: a ready mirror's cancel leaves the copy whole) and the NBD nodes become
// the quorums' second children, so that from then on every write goes to both. A guest that
// ran then runs again at once (a pause of milliseconds), unless `keepStopped`: then the
// migration that follows starts COLO, which runs it again.
import { diskIds } from "./disks.js";
import type { PairSide } from "./protect.js";

export interface DiskReplication {
  count: number;
  /** Where the secondary's NBD server listens and the primary connects. */
  host: string;
  port: number;
}

interface Job {
  id: string;
  status: string;
  "current-progress": number;
  "total-progress": number;
  error?: string;
}

/** What was done, so that a failure later can undo it. */
export interface DiskSync {
  undo(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Copies the disks and adds the NBD children; throws (having undone its own steps) when it
 * cannot. `stalledMs`: how long the copy may make no progress before it is given up.
 */
export async function syncDisks(
  primary: PairSide,
  secondary: PairSide,
  disks: DiskReplication,
  opts: {
    pollMs: number;
    stalledMs: number;
    onProgress: (done: number, total: number) => void;
    keepStopped: boolean;
  },
): Promise<DiskSync> {
  const p = (cmd: string, args?: Record<string, unknown>) => primary.lv.qmp(primary.dom, cmd, args);
  const s = (cmd: string, args?: Record<string, unknown>) =>
    secondary.lv.qmp(secondary.dom, cmd, args);
  const all = Array.from({ length: disks.count }, (_, n) => diskIds(n));
  const server = { type: "inet", host: disks.host, port: String(disks.port) };
  let stopped = false;
  const ignore = () => undefined;
  const undo = async () => {
    for (const ids of all) {
      await p("block-job-cancel", { device: ids.sync, force: true }).catch(ignore);
      await p("job-dismiss", { id: ids.sync }).catch(ignore);
      await p("x-blockdev-change", { parent: ids.quorum, child: "children.1" }).catch(ignore);
      await p("blockdev-del", { "node-name": ids.nbd }).catch(ignore);
    }
    await s("nbd-server-stop").catch(ignore);
    if (stopped) await p("cont").catch(ignore);
  };
  const ours = async () => {
    const jobs = (await p("query-jobs")) as Job[];
    return all.map((ids) => jobs.find((j) => j.id === ids.sync));
  };
  try {
    await s("nbd-server-start", {
      addr: { type: "inet", data: { host: server.host, port: server.port } },
    });
    for (const ids of all) await s("nbd-server-add", { device: ids.parent, writable: true });
    for (const ids of all) {
      await p("blockdev-add", {
        driver: "nbd",
        "node-name": ids.nbd,
        server,
        export: ids.parent,
        "detect-zeroes": "on",
      });
      // Not dismissed by itself, so that a failed copy's error can be read back.
      await p("blockdev-mirror", {
        "job-id": ids.sync,
        device: ids.quorum,
        target: ids.nbd,
        sync: "full",
        "auto-dismiss": false,
      });
    }
    let last = { done: -1, at: performance.now() };
    for (;;) {
      const jobs = await ours();
      const failed = jobs.find((j) => j === undefined || j.status === "concluded");
      if (failed !== undefined) {
        const which = all[jobs.indexOf(failed)]?.quorum;
        throw new Error(
          `copying ${which} to the secondary failed${failed?.error ? `: ${failed.error}` : ""}`,
        );
      }
      const done = jobs.reduce((sum, j) => sum + (j?.["current-progress"] ?? 0), 0);
      const total = jobs.reduce((sum, j) => sum + (j?.["total-progress"] ?? 0), 0);
      opts.onProgress(done, total);
      if (jobs.every((j) => j?.status === "ready")) break;
      if (done !== last.done) last = { done, at: performance.now() };
      else if (performance.now() - last.at > opts.stalledMs) {
        throw new Error(
          `copying the disks to the secondary made no progress for ${opts.stalledMs} ms (${done} of ${total} bytes)`,
        );
      }
      await sleep(opts.pollMs);
    }
    // Stopped, nothing writes between the mirrors' end and the NBD children's start.
    const running = ((await p("query-status")) as { status: string }).status === "running";
    if (running) {
      await p("stop");
      stopped = true;
    }
    for (const ids of all) await p("block-job-cancel", { device: ids.sync });
    while ((await ours()).some((j) => j?.status !== "concluded")) await sleep(opts.pollMs);
    for (const ids of all) {
      await p("job-dismiss", { id: ids.sync });
      await p("x-blockdev-change", { parent: ids.quorum, node: ids.nbd });
    }
    if (stopped && !opts.keepStopped) {
      await p("cont");
      stopped = false;
    }
  } catch (e) {
    await undo();
    throw e;
  }
  return { undo };
}
