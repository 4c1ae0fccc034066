// What the page knows about an agent: its D-Bus properties (docs/dbus.md), decoded, plus
// what the page itself saw (whether the agent runs, its recent checkpoints).
import type { Mode } from "../../src/colo/events.js";

export interface HistoryEntry {
  /** ms since the epoch. */
  t: number;
  /** transition, colo, params, failover or error. */
  kind: string;
  message: string;
}

/** The `Statistics` property: "per-minute", "length-avg", "time-colo"... (ms for times). */
export type Statistics = Readonly<Record<string, number>>;

export type ParamValue = number | boolean | string;

export interface AgentInfo {
  domain: string;
  /** primary or secondary. */
  role: string;
  peerUri: string;
  peerDomain: string;
  /**
   * connecting, unprotected, starting, colo, exited, failed-over or stopped (docs/dbus.md), as
   * the agent reports it; "" while the page has not read it.
   */
  colo: string;
  coloReason: string;
  mode: Mode;
  passiveLeft: number;
  mean: number;
  samples: number;
  params: Readonly<Record<string, ParamValue>>;
  stats: Statistics;
  qemuPrimary: string;
  qemuSecondary: string;
  lastError: string;
  history: readonly HistoryEntry[];
}

export interface Checkpoint {
  /** Start, ms since the epoch. */
  t: number;
  /** Run length before it, ms; undefined when unknown. */
  length: number | undefined;
  /** Pause, ms; undefined while it runs. */
  pause: number | undefined;
  /** The mean after it, ms. */
  mean: number;
  mode: Mode;
}

export interface AgentModel {
  busName: string;
  uuid: string;
  /** The bus name has an owner: the agent runs. */
  running: boolean;
  /** Properties, once the agent answered; undefined before. */
  info: AgentInfo | undefined;
  /** Why the page cannot read this agent ("" when it can). */
  failure: string;
  /** Recent checkpoints, oldest first, while a view follows them; undefined otherwise. */
  checkpoints: readonly Checkpoint[] | undefined;
}

/** COLO has ended for this side (no replication to come back by itself). */
export function coloEnded(colo: string): boolean {
  return colo === "exited" || colo === "failed-over";
}
