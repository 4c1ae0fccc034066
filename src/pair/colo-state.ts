// The pair's COLO state as one side's QEMU reports it (see ColoState in status.ts).

import type { ColoState } from "../agent/status.js";
import type { SideState } from "./pair-state.js";

// query-migrate statuses of a replication being set up.
const SETTING_UP = new Set(["setup", "active", "pre-switchover", "device", "wait-unplug"]);

export function coloStateOf(s: SideState): ColoState {
  if (s.migration === "colo") return "colo";
  if (s.coloMode === "none" && s.lastColoMode !== "none") {
    return s.run === "running" ? "failed-over" : "exited";
  }
  if (SETTING_UP.has(s.migration) || s.run === "inmigrate") return "starting";
  return "unprotected";
}

/** "COLO ended (reason error)" and the like, for ColoReason. */
export function coloReasonOf(s: SideState): string {
  if (s.coloMode === "none" && s.lastColoMode !== "none") {
    return `COLO ended as ${s.lastColoMode}, reason ${s.coloReason}`;
  }
  return s.migration === "none" || s.migration === "colo" ? "" : `migration ${s.migration}`;
}
