// What the resource agent ocf:colo-hybrid:colo does, decided from what this node's libvirt and
// QEMU say and from the cluster's record of who served last, with no I/O of its own
// (src/cli/ocf.ts observes and carries the decisions out).
//
// The pair is one promotable clone. Promoted is the side that runs the guest for clients: the
// primary, or a secondary that took over. Unpromoted is a side whose QEMU is up but does not
// serve: a secondary (in COLO it can take over), or a primary whose guest is not running
// (started paused, or demoted while alone). Pacemaker promotes one side, and only after fencing
// the node it lost, so a secondary takes over only once its peer is known dead.
//
// Every promotion stamps this node's "epoch" (a node attribute that outlives reboots). A side
// whose peer was promoted after it is stale: its disk misses what the guest wrote since, so it
// is never promoted again. Re-protection makes it a secondary: its start defines the survivor's
// new secondary in its place, and the survivor, told that the instance started (notify), copies
// its disks there and starts COLO (src/pair/reprotect.ts).
import type { ColoState } from "../agent/status.js";

/** OCF return codes (Pacemaker Explained, "OCF Return Codes"). */
export const OCF = {
  SUCCESS: 0,
  ERR_GENERIC: 1,
  ERR_ARGS: 2,
  ERR_UNIMPLEMENTED: 3,
  ERR_PERM: 4,
  ERR_INSTALLED: 5,
  ERR_CONFIGURED: 6,
  NOT_RUNNING: 7,
  RUNNING_PROMOTED: 8,
  FAILED_PROMOTED: 9,
} as const;

export type OcfCode = (typeof OCF)[keyof typeof OCF];

/** The side that serves: Pacemaker keeps it promoted. */
export const PROMOTED_SCORE = 100;
/** A secondary with the primary's state as of a checkpoint: it may take over. */
export const IN_SYNC_SCORE = 50;
/** A primary whose guest is not running, and which no later promotion made stale. */
export const IDLE_PRIMARY_SCORE = 10;

export type Role = "primary" | "secondary";

/** When each node's side was last promoted (ms since the epoch), from the cluster. */
export interface Epochs {
  mine: number | undefined;
  /** The newest of the other nodes', with the node's name. */
  newestOther: { node: string; at: number } | undefined;
}

/** This node's side of the pair, as its libvirt and QEMU say. */
export type Observed =
  /** Neither of the pair's domains is defined here. */
  | { kind: "absent" }
  | { kind: "shut-off"; name: string; role: Role; epochs: Epochs }
  | {
      kind: "running";
      name: string;
      role: Role;
      /** As the agent derives it from QEMU (pair/colo-state.ts). */
      colo: ColoState;
      /** query-status: "running", "paused", "prelaunch" (started paused), "inmigrate"... */
      run: string;
      /**
       * Paused by a user (libvirt's reason): the cluster's demote, or an admin. Other pauses are
       * QEMU's own and brief: a checkpoint, the stop that ends re-protection's disk copy.
       */
      pausedByUser: boolean;
      epochs: Epochs;
    };

type Running = Observed & { kind: "running" };

/** The promotion score to set (`crm_attribute --promotion`), or "delete": never promote here. */
export type Score = number | "delete";

export interface Outcome {
  rc: OcfCode;
  /** Said in the log and, for errors, to Pacemaker (crm_mon shows it with failed actions). */
  reason: string;
  score?: Score;
}

/** In COLO, or on the way there: the pair's own machinery runs the guest. */
const replicating = (o: Running) => o.colo === "colo" || o.colo === "starting";

/** A side that runs (or may run) the guest alone: a primary, or a secondary that took over. */
const mayServe = (o: Running) => o.role === "primary" || o.colo === "failed-over";

/** Its guest runs, or would but for one of QEMU's own brief stops. */
const runsGuest = (o: Running) =>
  o.run === "running" || (BRIEF_STOPS.has(o.run) && !o.pausedByUser);
const BRIEF_STOPS = new Set(["paused", "finish-migrate", "colo"]);

/**
 * Runs the guest for clients. A primary whose COLO ended still does: its agent leaves failing
 * over to the cluster (CLUSTER_AGENT_PARAMS), which asks once it has fenced the secondary.
 */
function serves(o: Running): boolean {
  if (!mayServe(o)) return false;
  return (o.role === "primary" && (replicating(o) || o.colo === "exited")) || runsGuest(o);
}

/**
 * A secondary holds the guest's state as of the last checkpoint once COLO ran: in COLO, or
 * after COLO ended (the primary lost). Before the first checkpoint it holds nothing.
 */
const inSync = (o: Running) => o.role === "secondary" && (o.colo === "colo" || o.colo === "exited");

/** Why this side may not serve again, if another node's was promoted after it. */
function staleness(epochs: Epochs): string | undefined {
  const other = epochs.newestOther;
  if (other === undefined || other.at <= (epochs.mine ?? 0)) return undefined;
  return `the guest ran on ${other.node} since (promoted ${new Date(other.at).toISOString()}): this side's disk is stale; re-protect it as a secondary`;
}

export function monitor(o: Observed): Outcome {
  if (o.kind === "absent")
    return {
      rc: OCF.NOT_RUNNING,
      reason: "neither domain of the pair is defined here",
      score: "delete",
    };
  if (o.kind === "shut-off")
    return { rc: OCF.NOT_RUNNING, reason: `'${o.name}' is shut off`, score: "delete" };
  const what = `'${o.name}' (${o.role}, COLO ${o.colo}, ${o.run})`;
  if (serves(o))
    return { rc: OCF.RUNNING_PROMOTED, reason: `${what} runs the guest`, score: PROMOTED_SCORE };
  if (inSync(o)) return { rc: OCF.SUCCESS, reason: `${what} can take over`, score: IN_SYNC_SCORE };
  if (mayServe(o)) {
    const stale = staleness(o.epochs);
    return stale
      ? { rc: OCF.SUCCESS, reason: `${what}: ${stale}`, score: "delete" }
      : { rc: OCF.SUCCESS, reason: `${what} does not run the guest`, score: IDLE_PRIMARY_SCORE };
  }
  return {
    rc: OCF.SUCCESS,
    reason: `${what}: no checkpoint yet, it cannot take over`,
    score: "delete",
  };
}

/**
 * The agents' parameters under a cluster: no side runs alone by itself, since a lost link and a
 * lost peer look the same from one side. A primary runs on alone when the cluster has fenced
 * its secondary (notify), a secondary takes over when promoted.
 */
export const CLUSTER_AGENT_PARAMS = { "auto-failover": false } as const;

/** A notification, from OCF_RESKEY_CRM_meta_notify_*. */
export interface Notification {
  type: string;
  operation: string;
  /** Another node's instance of the pair stopped (fenced, or stopped by the cluster). */
  peerStopped: boolean;
  /** Another node's instance of the pair started (its node back, or a new one). */
  peerStarted: boolean;
}

export type Plan =
  | { do: "nothing"; outcome: Outcome }
  /** Start the domain's QEMU with its guest paused. */
  | { do: "start-paused"; name: string }
  /** Run the paused guest (QMP cont), alone. */
  | { do: "resume"; name: string }
  | { do: "pause"; name: string }
  | { do: "failover"; name: string }
  | { do: "destroy"; name: string }
  /** A stale side: defined anew as the secondary of the side that ran on, started paused. */
  | { do: "become-secondary"; name: string }
  /** This side runs alone: protect it again with its peer's new secondary. */
  | { do: "resync"; name: string };

const done = (outcome: Outcome): Plan => ({ do: "nothing", outcome });
const refuse = (rc: OcfCode, reason: string): Plan => done({ rc, reason });

/**
 * start brings this side up unpromoted: its QEMU started paused (a secondary then waits for the
 * replication stream). A stale primary is not started as it is: it becomes the secondary of the
 * side that ran on.
 */
export function start(o: Observed): Plan {
  if (o.kind === "absent") return refuse(OCF.ERR_INSTALLED, monitor(o).reason);
  if (o.kind === "running") return done({ rc: OCF.SUCCESS, reason: monitor(o).reason });
  const stale = o.role === "primary" ? staleness(o.epochs) : undefined;
  if (stale) return { do: "become-secondary", name: o.name };
  return { do: "start-paused", name: o.name };
}

/** stop: the side's QEMU ends, as `virsh destroy` (a COLO guest has no clean shutdown to wait for). */
export function stop(o: Observed): Plan {
  if (o.kind !== "running") return done({ rc: OCF.SUCCESS, reason: monitor(o).reason });
  return { do: "destroy", name: o.name };
}

/** A primary left in (or at the end of) COLO without its secondary. */
const orphaned = (o: Running) => o.role === "primary" && (o.colo === "colo" || o.colo === "exited");

/** promote: a secondary in sync takes over; a primary's paused guest runs, unless stale. */
export function promote(o: Observed): Plan {
  if (o.kind !== "running") return refuse(OCF.ERR_GENERIC, `cannot promote: ${monitor(o).reason}`);
  if (o.role === "primary" && o.colo === "exited") return { do: "failover", name: o.name };
  if (serves(o)) return done({ rc: OCF.SUCCESS, reason: monitor(o).reason });
  if (inSync(o)) return { do: "failover", name: o.name };
  if (mayServe(o)) {
    const stale = staleness(o.epochs);
    return stale
      ? refuse(OCF.ERR_GENERIC, `cannot promote: ${stale}`)
      : { do: "resume", name: o.name };
  }
  return refuse(OCF.ERR_GENERIC, `cannot promote: ${monitor(o).reason}`);
}

/**
 * The notifications that may need something: after another node's instance stopped, or started.
 * packaging/ocf/colo.in answers all others itself.
 */
export const notifyConcerns = (n: Notification) =>
  n.type === "post" &&
  ((n.operation === "stop" && n.peerStopped) || (n.operation === "start" && n.peerStarted));

/** Runs the guest with nobody to replicate to: failed over, or a primary whose secondary never came. */
const alone = (o: Running) =>
  o.run === "running" &&
  (o.colo === "failed-over" || (o.role === "primary" && o.colo === "unprotected"));

/** Whether the epochs decide anything for this side: a primary (or taken-over side) not serving. */
export function needsEpochs(o: Observed): boolean {
  if (o.kind === "absent") return false;
  if (o.kind === "shut-off") return o.role === "primary";
  return mayServe(o) && !serves(o);
}

/**
 * notify: after the secondary's instance stopped (its node fenced), the primary runs on alone;
 * after the peer's instance started (a secondary waiting for the stream there), a side that runs
 * alone is protected again. Every other notification needs nothing.
 */
export function notify(o: Observed, n: Notification): Plan {
  if (o.kind === "running" && notifyConcerns(n)) {
    if (n.operation === "stop" && orphaned(o)) return { do: "failover", name: o.name };
    if (n.operation === "start" && alone(o)) return { do: "resync", name: o.name };
  }
  return done({ rc: OCF.SUCCESS, reason: `${n.type}-${n.operation}: nothing to do` });
}

/**
 * demote: the side stops serving. Alone, its guest is paused. In COLO it cannot be paused (the
 * next checkpoint would run it again) nor become a secondary in place, so its QEMU ends; the
 * secondary, in sync, takes over when promoted.
 */
export function demote(o: Observed): Plan {
  if (o.kind !== "running" || !serves(o))
    return done({ rc: OCF.SUCCESS, reason: monitor(o).reason });
  return replicating(o) ? { do: "destroy", name: o.name } : { do: "pause", name: o.name };
}
