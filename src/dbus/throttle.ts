// How often an agent's signals may go out (docs/dbus.md): PropertiesChanged a few times a
// second at most, Tick at most once a second. Apart from the bus (src/dbus/service.ts) so that
// the limits are tested by the clock alone, with fake timers.

export const PROPERTIES_INTERVAL_MS = 250;
export const TICK_INTERVAL_MS = 1000;

/** Runs `fn` soon after trigger(), and never twice within `intervalMs`. */
export class Throttle {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private last = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly intervalMs: number,
    private readonly fn: () => void,
    /** A monotonic clock, ms. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Many triggers before the run are one run: the run sees what they all did. */
  trigger(): void {
    if (this.timer !== undefined) return;
    const wait = Math.max(0, this.last + this.intervalMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.last = this.now();
      this.fn();
    }, wait);
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Collects items and hands them over in batches through a Throttle; never an empty batch. */
export class Batcher<T> {
  private items: T[] = [];
  private readonly throttle: Throttle;

  constructor(intervalMs: number, flush: (items: T[]) => void, now?: () => number) {
    this.throttle = new Throttle(
      intervalMs,
      () => {
        const items = this.items;
        this.items = [];
        if (items.length > 0) flush(items);
      },
      now,
    );
  }

  add(item: T): void {
    this.items.push(item);
    this.throttle.trigger();
  }

  cancel(): void {
    this.throttle.cancel();
    this.items = [];
  }
}
