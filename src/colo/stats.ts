// Checkpoint statistics: counts, length and pause summaries (overall and over a recent time
// window), time share per mode, recent checkpoints for charts, last transitions.
// Fed with data only; "now" is always the caller's (the latest event time), never a clock.
import type { Mode, Transition, Trigger } from "./events.js";

export interface Summary {
  count: number;
  /** 0 when count is 0. */
  min: number;
  avg: number;
  max: number;
}

export interface CheckpointRecord {
  t: number;
  mode: Mode;
  /** Run length before the checkpoint, ms; undefined when it could not be measured. */
  length: number | undefined;
  /** Pause (STOP to RESUME), ms; undefined until the checkpoint has ended. */
  pause: number | undefined;
  mean: number;
}

export type TriggerCount = Record<Trigger | "unknown", number>;

export interface StatsSnapshot {
  checkpoints: { total: number; byMode: Record<Mode, number>; byTrigger: TriggerCount };
  length: { all: Summary; recent: Summary };
  pause: { all: Summary; recent: Summary };
  /** Milliseconds spent in each mode, counted from checkpoint start to checkpoint start. */
  timeInMode: Record<Mode, number>;
  windowMs: number;
  transitions: Transition[];
}

export interface StatsOptions {
  /** Width of the "recent" window, ms (QEMU's own checkpoint stats use 60 s). */
  windowMs: number;
  /** Checkpoints kept for the window and for charts; older ones fall out first. */
  capacity: number;
  transitionsKept: number;
}

export const DEFAULT_STATS_OPTIONS: StatsOptions = {
  windowMs: 60_000,
  capacity: 4096,
  transitionsKept: 50,
};

const at = (a: Float64Array, i: number) => a[i] as number;

class Accumulator {
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  add(x: number): void {
    this.count++;
    this.sum += x;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }

  summary(): Summary {
    return this.count === 0
      ? { count: 0, min: 0, avg: 0, max: 0 }
      : { count: this.count, min: this.min, avg: this.sum / this.count, max: this.max };
  }
}

// Counters live in typed arrays indexed by these codes: keyed updates of small records were
// the largest cost of a checkpoint in the replay benchmark.
const MODES: readonly Mode[] = ["colo", "passive"];
const MODE_CODE: Record<Mode, number> = { colo: 0, passive: 1 };
const TRIGGER_CODE: Record<Trigger, number> = { timer: 0, miscompare: 1, request: 2 };
const UNKNOWN_TRIGGER = 3;

export class CheckpointStats {
  private readonly opts: StatsOptions;
  // A ring of recent checkpoints in parallel typed arrays: no allocation per checkpoint.
  private readonly ringT: Float64Array;
  private readonly ringLength: Float64Array;
  private readonly ringPause: Float64Array;
  private readonly ringMean: Float64Array;
  private readonly ringMode: Uint8Array;
  private head = 0;
  private size = 0;

  private length = new Accumulator();
  private pause = new Accumulator();
  private readonly byMode = new Float64Array(2);
  private readonly byTrigger = new Float64Array(4);
  private readonly timeInMode = new Float64Array(2);
  private lastStart: number | undefined;
  private lastMode = 0;
  private transitions: Transition[] = [];

  constructor(options: Partial<StatsOptions> = {}) {
    this.opts = { ...DEFAULT_STATS_OPTIONS, ...options };
    const n = this.opts.capacity;
    this.ringT = new Float64Array(n);
    this.ringLength = new Float64Array(n);
    this.ringPause = new Float64Array(n);
    this.ringMean = new Float64Array(n);
    this.ringMode = new Uint8Array(n);
  }

  reset(): void {
    this.head = 0;
    this.size = 0;
    this.length = new Accumulator();
    this.pause = new Accumulator();
    this.byMode.fill(0);
    this.byTrigger.fill(0);
    this.timeInMode.fill(0);
    this.lastStart = undefined;
    this.transitions = [];
  }

  /** A checkpoint started; `mode` is the one it was decided to run in. */
  onCheckpoint(
    t: number,
    mode: Mode,
    trigger: Trigger | undefined,
    length: number | undefined,
    mean: number,
  ): void {
    const code = MODE_CODE[mode];
    if (this.lastStart !== undefined && t >= this.lastStart) {
      (this.timeInMode[this.lastMode] as number) += t - this.lastStart;
    }
    this.lastStart = t;
    this.lastMode = code;
    (this.byMode[code] as number)++;
    (this.byTrigger[trigger === undefined ? UNKNOWN_TRIGGER : TRIGGER_CODE[trigger]] as number)++;
    if (length !== undefined) this.length.add(length);

    const i = this.head;
    this.ringT[i] = t;
    this.ringLength[i] = length ?? Number.NaN;
    this.ringPause[i] = Number.NaN;
    this.ringMean[i] = mean;
    this.ringMode[i] = code;
    this.head = (i + 1) % this.opts.capacity;
    if (this.size < this.opts.capacity) this.size++;
  }

  /** The latest checkpoint ended after `pause` ms. */
  onPause(pause: number): void {
    this.pause.add(pause);
    if (this.size > 0) this.ringPause[this.newest()] = pause;
  }

  onTransition(transition: Transition): void {
    this.transitions.push(transition);
    if (this.transitions.length > this.opts.transitionsKept) this.transitions.shift();
  }

  private newest(): number {
    return (this.head - 1 + this.opts.capacity) % this.opts.capacity;
  }

  /** Recent checkpoints, oldest first (at most `capacity`). */
  /** The checkpoints of the recent window ending at `now`, oldest first (for charts). */
  inWindow(now: number): CheckpointRecord[] {
    return this.recent().filter((c) => c.t >= now - this.opts.windowMs);
  }

  /** The newest checkpoint, if any. */
  latest(): CheckpointRecord | undefined {
    return this.size === 0
      ? undefined
      : this.record((this.head - 1 + this.opts.capacity) % this.opts.capacity);
  }

  recent(): CheckpointRecord[] {
    const out: CheckpointRecord[] = [];
    const n = this.opts.capacity;
    for (let k = this.size - 1; k >= 0; k--) {
      out.push(this.record((this.head - 1 - k + 2 * n) % n));
    }
    return out;
  }

  private record(i: number): CheckpointRecord {
    const length = this.ringLength[i] as number;
    const pause = this.ringPause[i] as number;
    return {
      t: this.ringT[i] as number,
      mode: MODES[this.ringMode[i] as number] as Mode,
      length: Number.isNaN(length) ? undefined : length,
      pause: Number.isNaN(pause) ? undefined : pause,
      mean: this.ringMean[i] as number,
    };
  }

  snapshot(now: number): StatsSnapshot {
    const recentLength = new Accumulator();
    const recentPause = new Accumulator();
    const from = now - this.opts.windowMs;
    const n = this.opts.capacity;
    for (let k = 0; k < this.size; k++) {
      const i = (this.head - 1 - k + n) % n;
      if ((this.ringT[i] as number) < from) break;
      const length = this.ringLength[i] as number;
      const pause = this.ringPause[i] as number;
      if (!Number.isNaN(length)) recentLength.add(length);
      if (!Number.isNaN(pause)) recentPause.add(pause);
    }
    const open = this.lastStart !== undefined && now > this.lastStart ? now - this.lastStart : 0;
    const time = (code: number) => at(this.timeInMode, code) + (code === this.lastMode ? open : 0);
    const byTrigger = (code: number) => at(this.byTrigger, code);
    return {
      checkpoints: {
        total: at(this.byMode, 0) + at(this.byMode, 1),
        byMode: { colo: at(this.byMode, 0), passive: at(this.byMode, 1) },
        byTrigger: {
          timer: byTrigger(TRIGGER_CODE.timer),
          miscompare: byTrigger(TRIGGER_CODE.miscompare),
          request: byTrigger(TRIGGER_CODE.request),
          unknown: byTrigger(UNKNOWN_TRIGGER),
        },
      },
      length: { all: this.length.summary(), recent: recentLength.summary() },
      pause: { all: this.pause.summary(), recent: recentPause.summary() },
      timeInMode: { colo: time(0), passive: time(1) },
      windowMs: this.opts.windowMs,
      transitions: [...this.transitions],
    };
  }
}
