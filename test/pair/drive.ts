// Drives a PairController with plain data: a virtual clock, the timers it asked for, and the
// work it issued, completed (or failed) when and in the order a test says.
import { DEFAULT_PARAMS, type Params } from "../../src/colo/params.js";
import type { HybridMetadata, Role } from "../../src/libvirt/xml/metadata.js";
import { PairController } from "../../src/pair/controller.js";
import type { PrimaryState, SideState } from "../../src/pair/pair-state.js";
import type {
  Answer,
  Occurrence,
  Output,
  Request,
  TimerName,
  Work,
} from "../../src/pair/protocol.js";

export const IN_COLO: PrimaryState = {
  migration: "colo",
  coloMode: "primary",
  lastColoMode: "none",
  coloReason: "none",
  run: "running",
  checkpointDelay: DEFAULT_PARAMS.coloPeriod,
  nativeHybrid: false,
};

export const UNPROTECTED: PrimaryState = {
  ...IN_COLO,
  migration: "none",
  coloMode: "none",
};

export const SECONDARY_IN_COLO: SideState = {
  migration: "colo",
  coloMode: "secondary",
  lastColoMode: "none",
  coloReason: "none",
  run: "running",
};

export function metadata(
  role: Role,
  params: Partial<Params> = {},
  protect = false,
): HybridMetadata {
  return {
    role,
    peer: { uri: "qemu:///system", domain: role === "primary" ? "web1-secondary" : "web1" },
    protect,
    ports: { migration: 9005 },
    params: { ...DEFAULT_PARAMS, ...params },
  };
}

/** What the pair's plumbing has: replicated disks (their replicas are watched) and NICs. */
export interface Plumbing {
  disks?: number;
  nics?: number;
}

export class Drive {
  readonly c: PairController;
  now = 1_000_000;
  /** Every output so far, in order. */
  readonly log: Output[] = [];
  readonly timers = new Map<TimerName, number>();
  readonly work = new Map<number, Work>();
  readonly answers = new Map<number, Answer>();
  private nextRequest = 1;

  constructor(meta: HybridMetadata, plumbing: Plumbing = {}) {
    this.c = new PairController({
      domain: meta.role === "primary" ? "web1" : "web1-secondary",
      uuid: "u",
      meta,
      ...plumbing,
    });
  }

  feed(o: Occurrence): Output[] {
    const out = this.c.handle({ ...o, now: this.now } as Parameters<PairController["handle"]>[0]);
    for (const x of out) {
      this.log.push(x);
      if (x.type === "set-timer") this.timers.set(x.name, this.now + x.ms);
      if (x.type === "clear-timer") this.timers.delete(x.name);
      if (x.type === "work") this.work.set(x.id, x.work);
      if (x.type === "answer") this.answers.set(x.id, x.answer);
    }
    return out;
  }

  /** Work in flight matching `pred`, oldest first. */
  pending(pred: (w: Work) => boolean = () => true): [number, Work][] {
    return [...this.work].filter(([, w]) => pred(w));
  }

  one(pred: (w: Work) => boolean): number {
    const found = this.pending(pred);
    if (found.length !== 1)
      throw new Error(
        `expected one such work in flight, found ${found.length}: ${JSON.stringify(found)}`,
      );
    return (found[0] as [number, Work])[0];
  }

  done(id: number, result: unknown = {}): Output[] {
    this.work.delete(id);
    return this.feed({ type: "done", id, result });
  }

  fail(id: number, error = "boom"): Output[] {
    this.work.delete(id);
    return this.feed({ type: "failed", id, error });
  }

  event(event: string, details?: unknown, side: "own" | "peer" = "own"): Output[] {
    return this.feed({ type: "qemu-event", side, event, t: this.now, details });
  }

  request(request: Request): number {
    const id = this.nextRequest++;
    this.feed({ type: "request", id, request });
    return id;
  }

  /** Moves the clock on, firing the timers that fall due, in order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.timers].filter(([, at]) => at <= end).sort((a, b) => a[1] - b[1])[0];
      if (due === undefined) break;
      this.now = due[1];
      this.timers.delete(due[0]);
      this.feed({ type: "timer", name: due[0] });
    }
    this.now = end;
  }

  /** Completes every work in flight that is a QMP command or store, as QEMU answers it. */
  settle(): void {
    for (let round = 0; round < 20; round++) {
      const ws = this.pending((w) => w.kind === "qmp" || w.kind === "store-metadata");
      if (ws.length === 0) return;
      for (const [id, w] of ws)
        this.done(
          id,
          w.kind === "qmp" && w.command === "query-status" ? { status: "running" } : {},
        );
    }
  }

  /** A primary's agent that found its pair in COLO and reached the secondary. */
  static primaryInColo(params: Partial<Params> = {}, plumbing: Plumbing = {}): Drive {
    const d = Drive.primaryFound(IN_COLO, metadata("primary", params), undefined, plumbing);
    d.settle();
    return d;
  }

  /**
   * A primary's agent that found its pair as `state` said and reached the secondary; `before`
   * runs between the first read and the secondary's connection.
   */
  static primaryFound(
    state: PrimaryState,
    meta: HybridMetadata,
    before: (d: Drive) => void = () => undefined,
    plumbing: Plumbing = {},
  ): Drive {
    const d = new Drive(meta, plumbing);
    d.feed({ type: "start", qemu: "7.2.22" });
    d.done(
      d.one((w) => w.kind === "read-state"),
      state,
    );
    before(d);
    d.done(
      d.one((w) => w.kind === "connect-peer"),
      "7.2.22",
    );
    d.done(
      d.one((w) => w.kind === "read-state"),
      state,
    );
    return d;
  }

  /** A checkpoint as QEMU reports it on the primary. */
  checkpoint(pauseMs = 50): void {
    this.event("STOP");
    this.now += pauseMs;
    this.event("RESUME");
  }

  qmp(command: string, side: "own" | "peer" = "own"): [number, Work][] {
    return this.pending((w) => w.kind === "qmp" && w.command === command && w.side === side);
  }

  count(pred: (o: Output) => boolean): number {
    return this.log.filter(pred).length;
  }
}
