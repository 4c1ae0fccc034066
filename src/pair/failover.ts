// Failover of a COLO pair when one side is lost: the survivor leaves COLO, drops its COLO
// plumbing and runs on alone. Each side's failover is a plan (data, in order) and one runner
// carries any plan out. The primary must never be left paused.
import type { DomainRef, Libvirt } from "../libvirt/api.js";
import { QmpError } from "../libvirt/errors.js";
import { diskIds } from "./disks.js";
import { allNicIds, COMPARE_IOTHREAD } from "./ids.js";

export type FailoverStep =
  /** A QMP command whose "already gone / not in COLO" answer (a QMP error) is fine. */
  | { qmp: string; args?: Record<string, unknown> }
  /** Wait until the domain runs; `cont` it if it still does not after `ms`. */
  | { runWithin: number };

const RUN_WITHIN_MS = 10_000;
const POLL_MS = 100;

const objectDel = (id: string): FailoverStep => ({ qmp: "object-del", args: { id } });

/**
 * The survivor tells the network where the guest's MAC address now is (RARP, and a gratuitous
 * ARP from virtio guests that take the hint): a switch or bridge that learnt it on the lost
 * side's port forwards there no more. QEMU's own announce defaults: 5 rounds, 50 to 550 ms.
 */
const ANNOUNCE: FailoverStep = {
  qmp: "announce-self",
  args: { initial: 50, max: 550, rounds: 5, step: 100 },
};

/** Disk n's steps, for each of the pair's `disks` replicated disks. */
const eachDisk = (disks: number, steps: (ids: ReturnType<typeof diskIds>) => FailoverStep[]) =>
  Array.from({ length: disks }, (_, n) => steps(diskIds(n))).flat();

/**
 * The secondary is gone: the primary drops its disks' NBD children (a write to a lost NBD
 * server would hang), each NIC's colo-compare, mirror and redirectors, and runs alone. `nics`:
 * the NICs in the pair's plumbing (ids.ts, plumbedNics).
 */
export function primaryFailover(disks: number, nics = 1): FailoverStep[] {
  const objects = allNicIds(nics).map((ids) => ids.primaryObjects);
  return [
    ...eachDisk(disks, (ids) => [
      { qmp: "x-blockdev-change", args: { parent: ids.quorum, child: "children.1" } },
      { qmp: "blockdev-del", args: { "node-name": ids.nbd } },
    ]),
    // Every colo-compare holds the IOThread: they go first.
    ...[
      ...objects.map((o) => o.compare),
      COMPARE_IOTHREAD,
      ...objects.flatMap((o) => [o.mirror, o.redirectorIn, o.redirectorOut]),
    ].map(objectDel),
    { qmp: "x-colo-lost-heartbeat" },
    { runWithin: RUN_WITHIN_MS },
    ANNOUNCE,
  ];
}

/**
 * The primary is gone: the secondary stops serving its base images over NBD (so that nothing
 * writes them while replication commits its overlays into them), takes over, then serves
 * directly. `nics` as for primaryFailover.
 */
export function secondaryFailover(disks: number, nics = 1): FailoverStep[] {
  const ids = allNicIds(nics);
  return [
    ...(disks > 0 ? [{ qmp: "nbd-server-stop" }] : []),
    { qmp: "x-colo-lost-heartbeat" },
    { runWithin: RUN_WITHIN_MS },
    // Each NIC's redirectors, then the chardevs they held.
    ...ids.flatMap(({ secondaryObjects: o }) => [o.redirectorRx, o.redirectorTx]).map(objectDel),
    ...ids
      .flatMap(({ secondaryChardevs: c }) => [c.compare, c.mirror])
      .map((id): FailoverStep => ({ qmp: "chardev-remove", args: { id } })),
    ANNOUNCE,
  ];
}

export async function runFailover(
  lv: Libvirt,
  dom: DomainRef,
  plan: readonly FailoverStep[],
): Promise<void> {
  for (const step of plan) {
    if ("qmp" in step) {
      try {
        await lv.qmp(dom, step.qmp, step.args);
      } catch (e) {
        if (!(e instanceof QmpError)) throw e;
      }
    } else {
      await runWithin(lv, dom, step.runWithin);
    }
  }
}

async function runWithin(lv: Libvirt, dom: DomainRef, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  for (;;) {
    const state = ((await lv.qmp(dom, "query-status")) as { status: string }).status;
    if (state === "running") return;
    if (performance.now() > deadline) {
      // Still paused after leaving COLO: run it rather than leave the service down.
      await lv.qmp(dom, "cont");
      return;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
