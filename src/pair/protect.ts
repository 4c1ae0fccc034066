// Starting COLO replication on a defined pair: the secondary waits for the incoming stream,
// the primary migrates to it with x-colo, and both must report "colo". On any failure both
// sides are put back as they were, as far as QEMU allows, and the error says why.
import type { DomainRef, Libvirt } from "../libvirt/api.js";
import { type DiskReplication, type DiskSync, syncDisks } from "./disk-sync.js";
import { type QemuInfo, qemuInfo } from "./qemu-info.js";
import { NEVER_ENTERS_COLO, secondaryNeedsXColo, tcgLosesDirtyPages } from "./qemu-versions.js";

export interface PairSide {
  lv: Libvirt;
  dom: DomainRef;
}

export interface ProtectProgress {
  phase: "checking" | "configuring" | "syncing" | "migrating" | "colo";
  elapsedMs: number;
  /** While syncing: bytes of the disks copied to the secondary so far, and in all. */
  synced?: { done: number; total: number };
  /** query-migrate's status on each side, once migrating. */
  primary?: string;
  secondary?: string;
  /** Something to know about this phase, said once. */
  note?: string;
}

export interface ProtectOptions {
  /** x-checkpoint-delay in COLO mode, ms. */
  period: number;
  /** Where the secondary listens for the stream, e.g. "tcp:127.0.0.1:9005". */
  migrationUri: string;
  /**
   * The pair's replicated disks (pair/disks.ts), and where the secondary serves their base
   * images over NBD: the host of migrationUri, the pair's NBD port.
   */
  disks?: DiskReplication;
  timeoutMs?: number;
  pollMs?: number;
  onProgress?: (p: ProtectProgress) => void;
  /**
   * Run just before `migrate`: re-protection adds the primary's filters and colo-compare there.
   * Added earlier, colo-compare would hold the running guest's every packet longer: until COLO
   * runs, it has no secondary's to compare them with. (QEMU's pause-before-switchover would be
   * the place, but 7.2 then ends the migration "completed" instead of entering COLO.)
   */
  beforeMigrate?: () => Promise<void>;
}

export interface ProtectResult {
  primary: QemuInfo;
  secondary: QemuInfo;
  /** The pair was in COLO already: nothing was changed. */
  already: boolean;
  elapsedMs: number;
}

/** Why COLO cannot run with the return-path capability on; pair create and protect say it. */
export const RETURN_PATH_CONFLICT =
  "COLO sends its checkpoint messages back over the migration stream itself, and the return-path thread would read them away";

export class ProtectError extends Error {
  override name = "ProtectError";
}

type Status = { status: string; "error-desc"?: string };

const IN_PROGRESS = new Set(["setup", "active", "pre-switchover", "device", "wait-unplug", "colo"]);

const migrateStatus = async (s: PairSide) => (await s.lv.qmp(s.dom, "query-migrate")) as Status;
const runState = async (s: PairSide) =>
  ((await s.lv.qmp(s.dom, "query-status")) as { status: string }).status;
const xColo = (state: boolean) => ({ capabilities: [{ capability: "x-colo", state }] });

export async function protect(
  primary: PairSide,
  secondary: PairSide,
  opts: ProtectOptions,
): Promise<ProtectResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const progress = (p: Omit<ProtectProgress, "elapsedMs">) =>
    opts.onProgress?.({ ...p, elapsedMs: elapsed() });
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const pollMs = opts.pollMs ?? 200;

  progress({ phase: "checking" });
  const [pInfo, sInfo] = await Promise.all([
    qemuInfo(primary.lv, primary.dom),
    qemuInfo(secondary.lv, secondary.dom),
  ]);
  const names = `'${primary.dom.name}' (QEMU ${pInfo.text}) and '${secondary.dom.name}' (QEMU ${sInfo.text})`;
  const [pMigrate, sState] = await Promise.all([migrateStatus(primary), runState(secondary)]);
  if (pMigrate.status === "colo") {
    return { primary: pInfo, secondary: sInfo, already: true, elapsedMs: elapsed() };
  }
  if (IN_PROGRESS.has(pMigrate.status)) {
    throw new ProtectError(`'${primary.dom.name}' is already migrating (${pMigrate.status})`);
  }
  if (sState !== "inmigrate") {
    throw new ProtectError(
      `'${secondary.dom.name}' is not waiting for the incoming stream (its state is ${sState}): ` +
        "start it paused with its -incoming plumbing first",
    );
  }
  const caps = (await primary.lv.qmp(primary.dom, "query-migrate-capabilities")) as {
    capability: string;
    state: boolean;
  }[];
  if (!caps.some((c) => c.capability === "x-colo")) {
    throw new ProtectError(
      `QEMU ${pInfo.text} on '${primary.dom.name}' has no x-colo capability: it was built without COLO`,
    );
  }
  if (caps.some((c) => c.capability === "return-path" && c.state)) {
    throw new ProtectError(
      `the return-path migration capability is on in '${primary.dom.name}': ${RETURN_PATH_CONFLICT}; turn it off (migrate-set-capabilities)`,
    );
  }
  const before = (await primary.lv.qmp(primary.dom, "query-migrate-parameters")) as {
    "x-checkpoint-delay": number;
  };

  // Whether our `migrate` was taken: only then is the migration in progress ours to cancel. A
  // `migrate` refused because another one runs (the agent's, racing `colo-hybrid protect`)
  // must leave the winner's replication alone.
  let migrating = false;
  let disks: DiskSync | undefined;
  /** Stopped here for the migration (keepStopped, without disks): run again on failure. */
  let pausedHere = false;

  // Puts the primary back as it was; the secondary can only be stopped, not rewound.
  const undo = async (why: string): Promise<never> => {
    if (!migrating) {
      const now = await migrateStatus(primary).catch(() => ({ status: "unknown" }));
      if (IN_PROGRESS.has(now.status))
        throw new ProtectError(
          `${why}. Another replication of '${primary.dom.name}' (${now.status}) started meanwhile and is left alone`,
        );
    }
    await disks?.undo();
    const steps: Promise<unknown>[] = [
      primary.lv.qmp(primary.dom, "migrate_cancel").catch(() => undefined),
      primary.lv.qmp(primary.dom, "migrate-set-capabilities", xColo(false)).catch(() => undefined),

      primary.lv
        .qmp(primary.dom, "migrate-set-parameters", {
          "x-checkpoint-delay": before["x-checkpoint-delay"],
        })
        .catch(() => undefined),
    ];
    await Promise.all(steps);
    const now = await runState(primary).catch(() => "");
    if (now === "postmigrate" || (pausedHere && now === "paused"))
      await primary.lv.qmp(primary.dom, "cont").catch(() => undefined);
    const sNow = await runState(secondary).catch(() => "gone");
    const sNote =
      sNow === "inmigrate"
        ? ""
        : ` '${secondary.dom.name}' took the stream and is left ${sNow === "running" ? "stopped" : sNow}: restart it to try again.`;
    if (sNow === "running") await secondary.lv.qmp(secondary.dom, "stop").catch(() => undefined);
    throw new ProtectError(`${why}.${sNote}`);
  };

  progress({ phase: "configuring" });
  try {
    // From QEMU 8.1 the secondary must be told too; before, it learns it from the stream.
    if (secondaryNeedsXColo(sInfo.version))
      await secondary.lv.qmp(secondary.dom, "migrate-set-capabilities", xColo(true));
    await primary.lv.qmp(primary.dom, "migrate-set-capabilities", xColo(true));
    await primary.lv.qmp(primary.dom, "migrate-set-parameters", {
      "x-checkpoint-delay": opts.period,
    });
    // The guest runs while its memory is copied, but where QEMU would lose what it writes.
    const keepStopped = pInfo.accelerator === "tcg" && tcgLosesDirtyPages(pInfo.version);
    if (keepStopped && (await runState(primary)) === "running")
      progress({
        phase: "configuring",
        note: `QEMU ${pInfo.text} under TCG loses pages a running guest writes while it migrates (fixed in 9.0): '${primary.dom.name}' is paused from the end of the disk copy until COLO runs`,
      });
    if (opts.disks !== undefined && opts.disks.count > 0) {
      disks = await syncDisks(primary, secondary, opts.disks, {
        pollMs,
        stalledMs: timeoutMs,
        onProgress: (done, total) => progress({ phase: "syncing", synced: { done, total } }),
        keepStopped,
      });
    }
    if (keepStopped && (await runState(primary)) === "running") {
      await primary.lv.qmp(primary.dom, "stop");
      pausedHere = true;
    }
    await opts.beforeMigrate?.();
    await primary.lv.qmp(primary.dom, "migrate", { uri: opts.migrationUri });
    migrating = true;
  } catch (e) {
    return undo(`could not start replication from ${names}: ${(e as Error).message}`);
  }

  for (;;) {
    const [p, s] = await Promise.all([
      migrateStatus(primary),
      migrateStatus(secondary).catch(() => ({ status: "unknown" })),
    ]);
    progress({
      phase: p.status === "colo" && s.status === "colo" ? "colo" : "migrating",
      primary: p.status,
      secondary: s.status,
    });
    if (p.status === "colo" && s.status === "colo") {
      return { primary: pInfo, secondary: sInfo, already: false, elapsedMs: elapsed() };
    }
    if (p.status === "completed") {
      return undo(
        `QEMU ${pInfo.text} on '${primary.dom.name}' ended the migration "completed" instead of entering COLO ` +
          `(${NEVER_ENTERS_COLO}); COLO needs a QEMU without it`,
      );
    }
    if (p.status === "failed" || p.status === "cancelled") {
      return undo(
        `replication from ${names} ${p.status}${p["error-desc"] ? `: ${p["error-desc"]}` : ""}`,
      );
    }
    if (elapsed() > timeoutMs) {
      return undo(
        `${names} did not reach COLO within ${timeoutMs} ms (primary ${p.status}, secondary ${s.status})`,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
