// The primary's QEMU monitor events, read as checkpoints for the policy core. In COLO each
// checkpoint is STOP, MIGRATION_PASS {pass: n}, RESUME on the primary, stamped by QEMU; STOP
// and RESUME outside COLO (a user's pause) are not checkpoints.
import type { PolicyEvent } from "../colo/events.js";
import type { QemuMonitorEvent } from "../libvirt/api.js";

export class CheckpointReader {
  private inColo = false;
  private requested = false;

  get colo(): boolean {
    return this.inColo;
  }

  /** The next checkpoint is one we asked for (setting x-checkpoint-delay makes QEMU take one). */
  expectRequested(): void {
    this.requested = true;
  }

  /** The request failed: the next checkpoint is QEMU's own. */
  cancelRequested(): void {
    this.requested = false;
  }

  /** The pair was found in COLO (an agent starting or reconnecting mid-replication). */
  joined(t: number): PolicyEvent {
    this.inColo = true;
    this.requested = false;
    return { type: "colo-start", t };
  }

  /** COLO was found to have ended without our seeing its events. */
  left(): void {
    this.inColo = false;
  }

  /** The policy event `e` stands for, if any. */
  read(e: Pick<QemuMonitorEvent, "event" | "timestamp" | "details">): PolicyEvent | undefined {
    const t = e.timestamp;
    switch (e.event) {
      case "MIGRATION": {
        const status = (e.details as { status?: string } | undefined)?.status;
        if (status === "colo") {
          this.inColo = true;
          return { type: "colo-start", t };
        }
        if (status === "completed" || status === "failed" || status === "cancelled")
          this.inColo = false;
        return undefined;
      }
      case "COLO_EXIT":
        this.inColo = false;
        return undefined;
      case "STOP": {
        if (!this.inColo) return undefined;
        const trigger = this.requested ? "request" : undefined;
        this.requested = false;
        return { type: "checkpoint-start", t, trigger };
      }
      case "RESUME":
        return this.inColo ? { type: "checkpoint-end", t } : undefined;
      default:
        return undefined;
    }
  }
}
