// Records a pair's checkpoints as a trace (src/trace/format.ts): the primary's QEMU events read
// by the product's CheckpointReader, plus marks (load phases) from the caller.
import type { DomainRef, Libvirt, Subscription } from "../../src/libvirt/api.js";
import { CheckpointReader } from "../../src/pair/checkpoints.js";
import { formatEvent, type TraceEvent, traceHeader } from "../../src/trace/format.js";

export class TraceRecorder {
  readonly events: TraceEvent[] = [];
  private readonly reader = new CheckpointReader();
  private sub: Subscription | undefined;

  /** Follows `dom`'s events; `inColo` says whether COLO is already running (no MIGRATION colo to come). */
  async start(lv: Libvirt, dom: DomainRef, inColo: boolean): Promise<void> {
    if (inColo) this.reader.joined(Date.now());
    this.sub = await lv.onQemuMonitorEvent(dom, undefined, (e) => {
      const event = this.reader.read(e);
      if (event) this.events.push(event);
    });
  }

  mark(label: string): void {
    this.events.push({ type: "mark", t: Date.now(), label });
  }

  checkpoints(from = 0): number {
    return this.events.filter((e) => e.type === "checkpoint-start" && e.t >= from).length;
  }

  async stop(): Promise<void> {
    await this.sub?.close();
  }

  /** The trace as JSON lines, header first, in time order (marks are stamped on arrival). */
  text(source: string): string {
    const sorted = [...this.events].sort((a, b) => a.t - b.t);
    return `${[traceHeader(source), ...sorted].map(formatEvent).join("\n")}\n`;
  }
}
