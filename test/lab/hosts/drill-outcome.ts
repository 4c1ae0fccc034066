// The network fault drills on a pair across the lab hosts, as data: which faults, what a drill
// records, the figures read from a recording and the invariants it is judged by. No I/O here:
// drill.ts makes the fault and records; host-faults.test.ts and bench/host-faults.ts judge and
// print.
import type { ColoState, HistoryEntry } from "../../../src/agent/status.js";
import { DEFAULT_PARAMS } from "../../../src/colo/params.js";
import { livenessOf } from "../../../src/pair/liveness.js";

export type FaultSpec =
  /** The anchor: the same watch with nothing broken. */
  | { kind: "none" }
  | { kind: "loss"; p: number }
  | { kind: "delay"; ms: number }
  /** Link down; healed by itself after `seconds`, or at the drill's undo. */
  | { kind: "partition"; seconds?: number }
  | { kind: "libvirtd-unreachable" };

export interface Drill {
  name: string;
  fault: FaultSpec;
  /** How long the fault stays (or, healing by itself, how long the drill watches), ms. */
  watchMs: number;
}

/** The issue's six faults, each made on the secondary's host. */
export const DRILLS: readonly Drill[] = [
  { name: "loss 1%", fault: { kind: "loss", p: 0.01 }, watchMs: 20_000 },
  { name: "loss 10%", fault: { kind: "loss", p: 0.1 }, watchMs: 20_000 },
  { name: "delay 100 ms", fault: { kind: "delay", ms: 100 }, watchMs: 20_000 },
  { name: "partition 5 s", fault: { kind: "partition", seconds: 5 }, watchMs: 15_000 },
  { name: "partition (link down)", fault: { kind: "partition" }, watchMs: 15_000 },
  { name: "libvirtd unreachable", fault: { kind: "libvirtd-unreachable" }, watchMs: 15_000 },
];

/** The same load and watch with no fault, to set the figures under a fault against. */
export const ANCHOR: Drill = { name: "no fault", fault: { kind: "none" }, watchMs: 20_000 };

/** One side after the drill: its agent's word and its QEMU's, side by side. */
export interface SideAfter {
  agent: string;
  /** Its ColoReason: the evidence it gives. */
  agentReason: string;
  /** coloStateOf what its QEMU answered; undefined when it did not answer. */
  qemu: ColoState | undefined;
  /** query-status. */
  run: string | undefined;
  /** What its QEMU answered, for people: "migration colo, COLO none (last secondary, error)". */
  seen: string;
}

export interface Recording {
  /** Epoch ms: the fault made, undone (healed), the watch over (undo plus settling). */
  start: number;
  end: number;
  stop: number;
  /** The primary QEMU's STOP, RESUME and COLO_EXIT (with its reason), by QEMU's timestamps. */
  primaryEvents: { event: string; t: number; reason?: string }[];
  /** The guest LAN client's GETs. */
  requests: { sent: number; done: number; ok: boolean; error?: string }[];
  /** The primary's agent's history. */
  history: HistoryEntry[];
  /** The primary agent's Mode at the end ("passive" holds the secondary). */
  mode: string;
  primary: SideAfter;
  secondary: SideAfter;
}

export interface Outcome {
  /** Checkpoints that ended while the fault was on, and their pauses (STOP → RESUME), ms. */
  checkpoints: number;
  pauses: number[];
  /** The primary's longest time paused, any cause (an open STOP counts up to the stop), ms. */
  longestPause: number;
  /** The primary QEMU's COLO_EXIT, from the fault's start, ms. */
  coloEnded: { after: number; reason: string } | undefined;
  /** What the primary's agent first said about it (a hang found, COLO ended). */
  agentSaw: string | undefined;
  failedOverAfter: number | undefined;
  /** The longest time with no answer completing, from the fault's start to the watch's end. */
  longestGap: number;
  /** From the failover (or the fault's end, without one) to the next answer, ms. */
  answeredAfter: number | undefined;
  requests: number;
  failed: number;
}

export function outcomeOf(r: Recording): Outcome {
  const pauses: { from: number; to: number }[] = [];
  let stopAt: number | undefined;
  for (const e of r.primaryEvents) {
    if (e.event === "STOP") stopAt ??= e.t;
    else if (e.event === "RESUME" && stopAt !== undefined) {
      pauses.push({ from: stopAt, to: e.t });
      stopAt = undefined;
    }
  }
  if (stopAt !== undefined) pauses.push({ from: stopAt, to: r.stop });
  const during = pauses.filter((p) => p.to >= r.start && p.to <= r.end);
  const after = (t: number | undefined) => (t === undefined ? undefined : t - r.start);
  const ended = r.primaryEvents.find((e) => e.event === "COLO_EXIT" && e.t >= r.start);
  const saw = r.history.find((h) => h.t >= r.start && (h.kind === "error" || h.kind === "colo"));
  const failover = r.history.find((h) => h.t >= r.start && h.kind === "failover");
  const answers = r.requests
    .filter((q) => q.ok && q.done >= r.start)
    .map((q) => q.done)
    .sort((x, y) => x - y);
  let longestGap = 0;
  let last = r.start;
  for (const t of [...answers, r.stop]) {
    longestGap = Math.max(longestGap, t - last);
    last = t;
  }
  const serviceDue = failover?.t ?? r.end;
  const next = answers.find((t) => t >= serviceDue);
  return {
    checkpoints: during.length,
    pauses: during.map((p) => p.to - p.from),
    longestPause: Math.max(0, ...pauses.map((p) => p.to - p.from)),
    coloEnded:
      ended === undefined ? undefined : { after: ended.t - r.start, reason: ended.reason ?? "?" },
    agentSaw: saw?.message,
    failedOverAfter: after(failover?.t),
    longestGap,
    answeredAfter: next === undefined ? undefined : next - serviceDue,
    requests: r.requests.length,
    failed: r.requests.filter((q) => !q.ok).length,
  };
}

export interface Bounds {
  /** The longest the primary may stay paused, ms. */
  pauseMs: number;
  /** The longest a client may go unanswered, and how soon after the failover or the fault's end the next answer must come, ms. */
  answerMs: number;
}

/** Yank and the failover's QMP commands: 0.3–0.9 s measured (colo-lab.md, lab-hosts.md). */
const FAILOVER_MS = 2000;
/** A request's own round trip and the client's 200 ms cadence. */
const CLIENT_MS = 1000;

/**
 * From the controller's liveness (liveness.ts): a checkpoint longer than checkpointMs (4 ×
 * peer-timeout) is a hang, which the agent yanks and fails over; a stall outside a checkpoint
 * is found sooner, within peer-timeout. So the primary is paused at most checkpointMs plus the
 * failover, and a client waits at most that plus its own round trip.
 */
export function boundsOf(peerTimeoutMs: number): Bounds {
  const { checkpointMs } = livenessOf({ ...DEFAULT_PARAMS, peerTimeout: peerTimeoutMs });
  return { pauseMs: checkpointMs + FAILOVER_MS, answerMs: checkpointMs + FAILOVER_MS + CLIENT_MS };
}

/**
 * QEMU 7.2's secondary, after its COLO_EXIT (error), still answers query-migrate "colo" and
 * query-colo-status "secondary": its incoming thread waits for a failover. Only the event tells,
 * so an agent that says exited, giving that event as its evidence, says what its QEMU saw.
 */
const exitSeenByEvent = (s: SideAfter) =>
  s.agent === "exited" && s.qemu === "colo" && s.agentReason.includes("COLO_EXIT as secondary");

/** What is wrong with a drill's outcome: empty when every invariant holds. */
export function violations(r: Recording, o: Outcome, b: Bounds): string[] {
  const wrong: string[] = [];
  if (o.longestPause > b.pauseMs)
    wrong.push(`the primary was paused ${o.longestPause} ms (bound ${b.pauseMs} ms)`);
  if (o.answeredAfter === undefined) wrong.push("the primary never answered again");
  else if (o.answeredAfter > b.answerMs)
    wrong.push(`the primary answered again only after ${o.answeredAfter} ms (bound ${b.answerMs})`);
  if (o.longestGap > b.answerMs)
    wrong.push(`clients went ${o.longestGap} ms unanswered (bound ${b.answerMs} ms)`);
  for (const [side, s] of [
    ["primary", r.primary],
    ["secondary", r.secondary],
  ] as const)
    if (s.qemu !== undefined && s.agent !== s.qemu && !exitSeenByEvent(s))
      wrong.push(`the ${side}'s agent says ${s.agent}, its QEMU ${s.qemu}`);
  if (r.primary.run !== "running") wrong.push(`the primary is ${r.primary.run}, not running`);
  if (o.coloEnded === undefined) {
    if (r.primary.agent !== "colo")
      wrong.push(`COLO did not end, yet the primary's agent says ${r.primary.agent}`);
    return wrong;
  }
  if (r.primary.agent !== "failed-over")
    wrong.push(`COLO ended, the primary's agent says ${r.primary.agent}, not failed-over`);
  if (r.mode === "passive") wrong.push("COLO ended with the secondary held (passive)");
  // "paused" is what a stop leaves (ours: passive mode's hold); QEMU's own stop for loading a
  // checkpoint leaves "colo", which a link cut mid-checkpoint keeps until a failover.
  const secondaryOut = r.secondary.qemu !== "colo" || exitSeenByEvent(r.secondary);
  if (r.secondary.run === "paused" && secondaryOut)
    wrong.push(`COLO ended, the secondary is paused (${r.secondary.qemu ?? "no answer"})`);
  return wrong;
}

const s = (ms: number | undefined) => (ms === undefined ? "-" : `${(ms / 1000).toFixed(2)} s`);
const median = (xs: readonly number[]) =>
  xs.length === 0 ? undefined : [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

/** The figures of one drill, one line. */
export function describeOutcome(d: Drill, r: Recording, o: Outcome): string {
  const firstError = r.requests.find((q) => !q.ok)?.error;
  const colo =
    o.coloEnded === undefined
      ? "COLO kept"
      : `COLO ended after ${s(o.coloEnded.after)} (${o.coloEnded.reason})`;
  return [
    `${d.name}: ${o.checkpoints} checkpoints, pause median ${s(median(o.pauses))}`,
    `longest primary pause ${s(o.longestPause)}`,
    colo,
    `failed over after ${s(o.failedOverAfter)}`,
    `longest gap ${s(o.longestGap)}, answered ${s(o.answeredAfter)} after ${o.failedOverAfter === undefined ? "the fault's end" : "the failover"}`,
    `${o.failed}/${o.requests} GETs failed${firstError === undefined ? "" : ` (${firstError})`}`,
    `agent saw: ${o.agentSaw ?? "-"}`,
    `after: primary agent ${r.primary.agent}, QEMU ${r.primary.seen}; secondary agent ${r.secondary.agent}, QEMU ${r.secondary.seen}`,
  ].join("; ");
}
