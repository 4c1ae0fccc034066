// What an agent publishes and what it can be asked to do: the one contract between the agent
// loop (src/agent/) and its surfaces (D-Bus in src/dbus/, and through it the CLI and Cockpit).
import type { EventEmitter } from "node:events";
import type { Mode, Transition } from "../colo/events.js";
import type { ParamError, ParamPatch } from "../colo/params.js";
import type { CheckpointRecord, StatsSnapshot } from "../colo/stats.js";
import type { Role } from "../libvirt/xml/metadata.js";

/**
 * Where the pair stands, as QEMU says (never assumed):
 * - connecting: the agent has not read QEMU's state yet (or lost libvirt and is back on it);
 * - unprotected: the primary runs without replication (query-migrate none/completed);
 * - starting: replication is being set up (migration active or our protect running);
 * - colo: both sides in COLO;
 * - exited: COLO ended (COLO_EXIT) and the primary was not failed over (auto-failover off);
 * - failed-over: COLO ended and this side runs alone;
 * - stopped: the domain is not running.
 */
export type ColoState =
  | "connecting"
  | "unprotected"
  | "starting"
  | "colo"
  | "exited"
  | "failed-over"
  | "stopped";

export type HistoryKind = "transition" | "colo" | "params" | "failover" | "error";

export interface HistoryEntry {
  /** ms since the epoch. */
  t: number;
  kind: HistoryKind;
  /** One line for people: "passive: mean 212 ms < passive-limit 400 ms". */
  message: string;
}

export interface AgentStatus {
  domain: string;
  /** Canonical lowercase UUID with dashes. */
  uuid: string;
  role: Role;
  peer: { uri: string; domain: string };
  colo: ColoState;
  /** Why `colo` is what it is, when there is something to say ("COLO_EXIT reason=error"). */
  coloReason: string;
  /**
   * The policy's mode; "colo" whenever the policy is not running (secondary, not in COLO, or QEMU
   * running hybrid mode itself: its decisions are QEMU's, not ours to report).
   */
  mode: Mode;
  passiveLeft: number;
  /** ms; the mean the policy compares with passive-limit. */
  mean: number;
  samples: number;
  /** Every parameter by external name (src/colo/params.ts PARAMETERS). */
  params: Record<string, number | boolean | string>;
  stats: StatsSnapshot;
  /** "7.2.22"; "" when not known (peer unreachable). */
  qemu: { primary: string; secondary: string };
  /** The newest error whose cause still holds, one line; "" when none. */
  lastError: string;
  /** Newest last, at most HISTORY_KEPT. */
  history: HistoryEntry[];
}

export const HISTORY_KEPT = 100;

export type SetParamsResult = { ok: true } | { ok: false; errors: ParamError[] };

/**
 * An agent as its surfaces see it. Events:
 * - "changed" (): anything in status() may have changed (at most a few times a second);
 * - "transition" (Transition): the policy changed mode;
 * - "checkpoint" (CheckpointRecord): a checkpoint ended (its pause is known).
 */
export interface AgentControl extends EventEmitter {
  status(): AgentStatus;
  /** Checkpoints of the recent window, oldest first (for charts). */
  recent(): CheckpointRecord[];
  /** All or nothing: validated by the core, stored in the domain's metadata, then applied. */
  setParams(patch: ParamPatch): Promise<SetParamsResult>;
  /** This side leaves COLO and runs alone (primary: drops the secondary; secondary: takes over). */
  failover(): Promise<void>;
  resetStats(): void;
  /**
   * Begins re-protection: this side, running alone, becomes the primary of the secondary waiting
   * on `secondaryUri`'s host ("": its peer's). Rejects when it cannot begin.
   */
  resync(secondaryUri: string): Promise<void>;
}

export type { Transition };
