// Failover of a COLO pair when one side is lost: the survivor leaves COLO, drops its COLO
// plumbing and runs on alone. The primary must never be left paused.
import type { DomainRef, Libvirt } from "../libvirt/api.js";
import { QmpError } from "../libvirt/errors.js";
import { PRIMARY_OBJECTS, SECONDARY_CHARDEVS, SECONDARY_OBJECTS } from "./ids.js";

const runState = async (lv: Libvirt, dom: DomainRef) =>
  ((await lv.qmp(dom, "query-status")) as { status: string }).status;

/** Runs a QMP command whose "already gone / not in COLO" answer is fine. */
async function tolerant(
  lv: Libvirt,
  dom: DomainRef,
  command: string,
  args?: Record<string, unknown>,
): Promise<void> {
  try {
    await lv.qmp(dom, command, args);
  } catch (e) {
    if (!(e instanceof QmpError)) throw e;
  }
}

async function runOn(lv: Libvirt, dom: DomainRef, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const state = await runState(lv, dom);
    if (state === "running") return;
    if (performance.now() > deadline) {
      // Still paused after leaving COLO: run it rather than leave the service down.
      await lv.qmp(dom, "cont");
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The secondary is gone: the primary drops colo-compare and the mirror, and runs alone. */
export async function primaryFailover(
  lv: Libvirt,
  dom: DomainRef,
  timeoutMs = 10_000,
): Promise<void> {
  const o = PRIMARY_OBJECTS;
  for (const id of [o.compare, o.iothread, o.mirror, o.redirectorIn, o.redirectorOut]) {
    await tolerant(lv, dom, "object-del", { id });
  }
  await tolerant(lv, dom, "x-colo-lost-heartbeat");
  await runOn(lv, dom, timeoutMs);
}

/** The primary is gone: the secondary takes over and serves directly. */
export async function secondaryFailover(
  lv: Libvirt,
  dom: DomainRef,
  timeoutMs = 10_000,
): Promise<void> {
  await tolerant(lv, dom, "x-colo-lost-heartbeat");
  await runOn(lv, dom, timeoutMs);
  for (const id of [SECONDARY_OBJECTS.redirectorRx, SECONDARY_OBJECTS.redirectorTx]) {
    await tolerant(lv, dom, "object-del", { id });
  }
  for (const id of [SECONDARY_CHARDEVS.compare, SECONDARY_CHARDEVS.mirror]) {
    await tolerant(lv, dom, "chardev-remove", { id });
  }
}
