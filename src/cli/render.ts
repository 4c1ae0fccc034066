// Text output of the simulator: the mode timeline, transitions and summary.
import type { Transition } from "../colo/events.js";
import type { Params } from "../colo/params.js";
import type { Summary } from "../colo/stats.js";
import type { Mark, ReplaySummary, Span } from "../sim/replay.js";

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const ms1 = (ms: number) => ms.toFixed(1);

/** Share of [a, b) each span's mode covers, for one timeline column. */
function passiveShare(spans: readonly Span[], a: number, b: number): number | undefined {
  let passive = 0;
  let covered = 0;
  for (const s of spans) {
    const overlap = Math.min(s.to, b) - Math.max(s.from, a);
    if (overlap <= 0) continue;
    covered += overlap;
    if (s.mode === "passive") passive += overlap;
  }
  return covered > 0 ? passive / covered : undefined;
}

function modeRow(spans: readonly Span[], t0: number, step: number, width: number): string {
  let row = "";
  for (let i = 0; i < width; i++) {
    const share = passiveShare(spans, t0 + i * step, t0 + (i + 1) * step);
    row += share === undefined ? " " : share === 0 ? "C" : share === 1 ? "P" : "~";
  }
  return row;
}

/** The label in force in the middle of each column, by its first letter. */
function markRow(marks: readonly Mark[], t0: number, step: number, width: number): string {
  let row = "";
  for (let i = 0; i < width; i++) {
    const mid = t0 + (i + 0.5) * step;
    const current = marks.findLast((m) => m.t <= mid);
    row += current ? (current.label[0] ?? " ") : " ";
  }
  return row;
}

export function describeTransition(tr: Transition, params: Params): string {
  switch (tr.reason) {
    case "mean-below-limit":
      return `mean ${ms1(tr.mean)} ms < passive-limit ${params.passiveLimit} ms`;
    case "spell-complete":
      return `passive spell of ${params.passiveCount} checkpoints complete`;
    case "disabled":
      return "hybrid mode disabled";
  }
}

const summaryLine = (s: Summary) =>
  s.count === 0 ? "none" : `min ${ms1(s.min)}  avg ${ms1(s.avg)}  max ${ms1(s.max)}`;

export function renderReport(
  name: string,
  r: ReplaySummary,
  params: Params,
  width: number,
): string {
  const out: string[] = [];
  const duration = r.end - r.start;
  const { checkpoints } = r.stats;
  out.push(
    `Replayed ${name}: ${checkpoints.total} checkpoints over ${seconds(duration)} (variant ${params.variant})`,
    "",
  );
  if (duration > 0) {
    const step = duration / width;
    out.push(
      `Mode timeline, one column = ${seconds(step)} (C COLO, P passive, ~ both)`,
      `  mode |${modeRow(r.spans, r.start, step, width)}|`,
    );
    if (r.marks.length > 0) {
      const labels = [...new Set(r.marks.map((m) => m.label))];
      out.push(`  load |${markRow(r.marks, r.start, step, width)}|  (${labels.join(", ")})`);
    }
    // Times from the trace's start: recorded traces carry QEMU's wall-clock stamps.
    const right = seconds(duration);
    out.push(`       ${seconds(0).padEnd(width + 2 - right.length)}${right}`, "");
  }
  out.push("Transitions");
  if (r.transitions.length === 0) out.push("  none");
  for (const tr of r.transitions) {
    const arrow = `${tr.from === "colo" ? "COLO" : "passive"} -> ${tr.to === "colo" ? "COLO" : "passive"}`;
    out.push(
      `  ${seconds(tr.t - r.start).padStart(10)}  ${arrow.padEnd(16)}  ${describeTransition(tr, params)}`,
    );
  }
  const triggers = Object.entries(checkpoints.byTrigger)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
  const passive = r.stats.timeInMode.passive;
  const share = duration > 0 ? ((100 * passive) / duration).toFixed(1) : "0.0";
  out.push(
    "",
    "Summary",
    `  checkpoints       ${checkpoints.total} (COLO ${checkpoints.byMode.colo}, passive ${checkpoints.byMode.passive})`,
    `  by trigger        ${triggers || "none"}`,
    `  time in passive   ${seconds(passive)} of ${seconds(duration)} (${share} %)`,
    `  SVM run saved     ${seconds(r.svmRunSaved)} (secondary idle instead of running)`,
    `  length (ms)       ${summaryLine(r.stats.length.all)}`,
    `  pause (ms)        ${summaryLine(r.stats.pause.all)}`,
    `  final mean        ${ms1(r.finalMean)} ms`,
  );
  for (const e of r.rejectedParams) out.push(`  rejected params   ${e}`);
  for (const e of r.rejectedEvents) out.push(`  rejected event    ${e}`);
  return `${out.join("\n")}\n`;
}
