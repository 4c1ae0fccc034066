// Where one side of a COLO pair stands, asked of its QEMU: the agent derives its state from
// this on start and after a lost connection, never from what it last believed.
import type { DomainRef, Libvirt } from "../libvirt/api.js";

export interface SideState {
  /** query-migrate's status: "none", "active", "colo", "completed", "failed"… */
  migration: string;
  /** query-colo-status: "primary", "secondary" or "none", and the last mode before "none". */
  coloMode: string;
  lastColoMode: string;
  /** Why COLO last ended ("error", "request", "none"). */
  coloReason: string;
  /** query-status: "running", "paused", "inmigrate", "colo"… */
  run: string;
}

export interface PrimaryState extends SideState {
  /** The primary's x-checkpoint-delay, ms. */
  checkpointDelay: number | undefined;
  /** QEMU has the hybrid parameters itself (the ORBIT fork's colo-passive-*). */
  nativeHybrid: boolean;
}

/** The ORBIT fork's own hybrid-mode parameters, by our external names. */
export const NATIVE_HYBRID_PARAMS = {
  "passive-count": "colo-passive-count",
  "passive-limit": "colo-passive-limit",
  "passive-time": "colo-passive-time",
} as const;

interface ColoStatus {
  mode?: string;
  "last-mode"?: string;
  reason?: string;
}

export async function readSide(lv: Libvirt, dom: DomainRef): Promise<SideState> {
  const migrate = (await lv.qmp(dom, "query-migrate")) as { status?: string };
  const colo = (await lv.qmp(dom, "query-colo-status")) as ColoStatus;
  const status = (await lv.qmp(dom, "query-status")) as { status: string };
  return {
    migration: migrate.status ?? "none",
    coloMode: colo.mode ?? "none",
    lastColoMode: colo["last-mode"] ?? "none",
    coloReason: colo.reason ?? "none",
    run: status.status,
  };
}

export async function readPrimary(lv: Libvirt, dom: DomainRef): Promise<PrimaryState> {
  const side = await readSide(lv, dom);
  const params = (await lv.qmp(dom, "query-migrate-parameters")) as Record<string, unknown>;
  const delay = params["x-checkpoint-delay"];
  return {
    ...side,
    checkpointDelay: typeof delay === "number" ? delay : undefined,
    nativeHybrid: NATIVE_HYBRID_PARAMS["passive-count"] in params,
  };
}

/** Sets the primary's checkpoint period; QEMU takes one checkpoint at once when it changes. */
export async function setCheckpointDelay(lv: Libvirt, dom: DomainRef, ms: number): Promise<void> {
  await lv.qmp(dom, "migrate-set-parameters", { "x-checkpoint-delay": ms });
}
