// Where everything of the checkpoint chart goes, in pixels: pure, so that it can be tested
// without a browser. Lengths span 1 ms to minutes (a passive period to an idle COLO period),
// hence a logarithmic y axis.
import type { Mode } from "../../../src/colo/events.js";
import type { Checkpoint } from "../model.js";

export interface ChartInput {
  checkpoints: readonly Checkpoint[];
  /** passive-limit, ms; undefined when not known yet. */
  limit: number | undefined;
  /** The agent's mode now: a spell still open at the last checkpoint lasts until now if passive. */
  mode: Mode;
  /** The right edge, ms since the epoch. */
  now: number;
  spanMs: number;
  width: number;
  height: number;
}

export interface LengthMark {
  /** The checkpoint's start, which identifies it. */
  t: number;
  x: number;
  y: number;
}

export interface ChartGeometry {
  plot: { left: number; top: number; right: number; bottom: number };
  /** Checkpoint lengths (those measured). */
  lengths: LengthMark[];
  /** The EWMA after each checkpoint, as a step line (SVG path data, "" when none). */
  meanPath: string;
  limitY: number | undefined;
  /**
   * Passive spells: from their first passive checkpoint to the next COLO one; the last one to
   * now while passive, else to the end of its last checkpoint (the mode changed since).
   */
  spells: { x0: number; x1: number }[];
  /** ms values at powers of ten. */
  yTicks: { y: number; value: number }[];
  /** Seconds before now (0 = now), at a round step that gives a handful of them. */
  xTicks: { x: number; secondsAgo: number }[];
}

const MARGIN = { left: 64, right: 12, top: 10, bottom: 26 };
const TICK_STEPS_S = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800];
const MAX_X_TICKS = 8;

export function chartGeometry(input: ChartInput): ChartGeometry {
  const { now, spanMs, width, height } = input;
  const from = now - spanMs;
  const plot = {
    left: MARGIN.left,
    top: MARGIN.top,
    right: Math.max(MARGIN.left + 1, width - MARGIN.right),
    bottom: Math.max(MARGIN.top + 1, height - MARGIN.bottom),
  };
  const shown = input.checkpoints.filter((c) => c.t >= from && c.t <= now);

  const values = shown.flatMap((c) => [c.length ?? 0, c.mean]).filter((v) => v > 0);
  if (input.limit !== undefined && input.limit > 0) values.push(input.limit);
  const lo = 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...values, 100))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values, lo * 10)));
  const y = (v: number) => {
    const f = (Math.log10(Math.min(Math.max(v, lo), hi)) - Math.log10(lo)) / Math.log10(hi / lo);
    return plot.bottom - f * (plot.bottom - plot.top);
  };
  const x = (t: number) => plot.left + ((t - from) / spanMs) * (plot.right - plot.left);

  const lengths = shown.flatMap((c) =>
    c.length === undefined ? [] : [{ t: c.t, x: x(c.t), y: y(c.length) }],
  );

  const means = shown.filter((c) => c.mean > 0);
  // The mean holds from one checkpoint to the next: a step line.
  const meanPath = means
    .map((c, i) => {
      const next = x(means[i + 1]?.t ?? now).toFixed(1);
      const level = y(c.mean).toFixed(1);
      return `${i === 0 ? `M${x(c.t).toFixed(1)} ${level}` : `V${level}`} H${next}`;
    })
    .join(" ");

  const spells: { x0: number; x1: number }[] = [];
  let start: number | undefined;
  for (const c of input.checkpoints) {
    if (c.mode === "passive" && start === undefined) start = c.t;
    if (c.mode === "colo" && start !== undefined) {
      spells.push({ x0: start, x1: c.t });
      start = undefined;
    }
  }
  const last = input.checkpoints.at(-1);
  if (start !== undefined && last !== undefined) {
    spells.push({ x0: start, x1: input.mode === "passive" ? now : last.t + (last.pause ?? 0) });
  }

  const yTicks: { y: number; value: number }[] = [];
  for (let v = lo; v <= hi; v *= 10) yTicks.push({ y: y(v), value: v });
  const step = TICK_STEPS_S.find((st) => spanMs / 1000 / st <= MAX_X_TICKS) ?? 3600;
  const xTicks = Array.from({ length: Math.floor(spanMs / 1000 / step) + 1 }, (_, i) => ({
    x: x(now - i * step * 1000),
    secondsAgo: i * step,
  }));

  return {
    plot,
    lengths,
    meanPath,
    limitY: input.limit !== undefined && input.limit > 0 ? y(input.limit) : undefined,
    spells: spells
      .filter((s) => s.x1 > from)
      .map((s) => ({ x0: x(Math.max(s.x0, from)), x1: x(Math.min(s.x1, now)) })),
    yTicks,
    xTicks,
  };
}
