// An AgentControl without QEMU or libvirt: a status the test sets field by field, the policy
// core's own parameter checks, and events the test emits. Enough for the D-Bus surface; the real
// agent goes over the same path in the lab tests.
import { EventEmitter } from "node:events";
import type { AgentControl, AgentStatus, SetParamsResult } from "../../src/agent/status.js";
import type { Transition } from "../../src/colo/events.js";
import {
  applyPatch,
  DEFAULT_PARAMS,
  type ParamPatch,
  type Params,
  toExternal,
} from "../../src/colo/params.js";
import { type CheckpointRecord, CheckpointStats } from "../../src/colo/stats.js";

export class FakeAgent extends EventEmitter implements AgentControl {
  private params: Params = DEFAULT_PARAMS;
  private readonly state: AgentStatus;
  readonly checkpoints: CheckpointRecord[] = [];
  /** failover() fails with this while set. */
  failoverError: string | undefined;
  /** setParams() throws this while set, as when libvirt refuses the metadata. */
  storeError: string | undefined;

  constructor(domain: string, uuid: string) {
    super();
    this.state = {
      domain,
      uuid,
      role: "primary",
      peer: { uri: "qemu+ssh://peer/system", domain: `${domain}-secondary` },
      colo: "colo",
      coloReason: "",
      mode: "colo",
      passiveLeft: 0,
      mean: 512.25,
      samples: 7,
      params: toExternal(this.params),
      stats: new CheckpointStats().snapshot(0),
      qemu: { primary: "7.2.22", secondary: "7.2.22" },
      lastError: "",
      history: [{ t: 1_700_000_000_123, kind: "colo", message: "COLO started" }],
    };
  }

  status(): AgentStatus {
    return structuredClone(this.state);
  }

  recent(): CheckpointRecord[] {
    return [...this.checkpoints];
  }

  async setParams(patch: ParamPatch): Promise<SetParamsResult> {
    const result = applyPatch(this.params, patch);
    if (!result.ok) return result;
    if (this.storeError !== undefined) throw new Error(this.storeError);
    this.params = result.params;
    this.update({ params: toExternal(result.params) });
    return { ok: true };
  }

  async failover(): Promise<void> {
    if (this.failoverError !== undefined) throw new Error(this.failoverError);
    this.update({ colo: "failed-over", coloReason: "primary failed over" });
  }

  resetStats(): void {
    this.update({ stats: new CheckpointStats().snapshot(0), samples: 0 });
  }

  /** The secondary URIs Resync was called with. */
  resyncs: string[] = [];
  /** resync() fails with this while set, as when the side does not run alone. */
  resyncError: string | undefined;

  async resync(secondaryUri: string): Promise<void> {
    this.resyncs.push(secondaryUri);
    if (this.resyncError !== undefined) throw new Error(this.resyncError);
  }

  /** Changes the status as the agent loop would, and says so. */
  update(change: Partial<AgentStatus>): void {
    Object.assign(this.state, change);
    this.emit("changed");
  }

  transition(t: Transition): void {
    this.update({ mode: t.to, mean: t.mean });
    this.emit("transition", t);
  }

  checkpoint(c: CheckpointRecord): void {
    this.checkpoints.push(c);
    this.emit("checkpoint", c);
  }
}

/** A checkpoint as the agent records it, `i` ms after a fixed start. */
export const checkpointAt = (i: number, mode: "colo" | "passive" = "colo"): CheckpointRecord => ({
  t: 1_700_000_000_000 + i * 1000.5,
  mode,
  length: i === 0 ? undefined : 100 + i,
  pause: 10 + i,
  mean: 300 - i,
});
