// An agent without QEMU for the page's browser tests: an AgentControl (src/agent/status.ts)
// whose checkpoints come from the synthetic trace generator, with the real policy core in the
// loop, so that its modes, means and statistics are the ones a live pair under that load gets.
// Published on the system bus by the real D-Bus service, it is what the page sees of an agent.
import { EventEmitter } from "node:events";
import type {
  AgentControl,
  AgentStatus,
  ColoState,
  HistoryEntry,
  HistoryKind,
  SetParamsResult,
} from "../../src/agent/status.js";
import { HISTORY_KEPT } from "../../src/agent/status.js";
import { HybridCore } from "../../src/colo/core.js";
import type { PolicyEvent } from "../../src/colo/events.js";
import {
  applyPatch,
  DEFAULT_PARAMS,
  type ParamPatch,
  type Params,
  toExternal,
} from "../../src/colo/params.js";
import type { CheckpointRecord } from "../../src/colo/stats.js";
import { type Phase, synthesize } from "../../src/trace/synthetic.js";

export interface TestAgentIdentity {
  domain: string;
  uuid: string;
  role?: "primary" | "secondary";
  peer?: { uri: string; domain: string };
  qemu?: { primary: string; secondary: string };
}

export class TestAgent extends EventEmitter implements AgentControl {
  private core: HybridCore;
  private params: Params;
  private colo: ColoState = "colo";
  private coloReason = "";
  private lastError = "";
  private readonly history: HistoryEntry[] = [];
  /** The time of the last event fed, ms since the epoch: the agent's "now". */
  private clock = 0;
  /** Failover fails with this message while set. */
  failoverError: string | undefined;

  constructor(
    private readonly identity: TestAgentIdentity,
    params: Params = DEFAULT_PARAMS,
  ) {
    super();
    this.params = params;
    this.core = new HybridCore(params);
  }

  /**
   * The pair under these load phases, ending at `end` (ms since the epoch): the trace is
   * generated with the policy deciding, then fed to this agent's core shifted in time, and its
   * checkpoints announced as the real agent announces them. A later play continues the same
   * pair; the generator starts each play in COLO mode, so play a phase change from COLO.
   */
  play(phases: readonly Phase[], end = Date.now(), seed = 1): void {
    const total = phases.reduce((sum, p) => sum + p.seconds * 1000, 0);
    const offset = end - total;
    if (offset < this.clock) throw new Error("a play may not start before the last one ended");
    for (const event of synthesize({ seed, phases }, this.params)) {
      if (event.type === "mark") continue;
      if (event.type === "colo-start" && this.clock > 0) continue;
      this.feed({ ...event, t: event.t + offset });
    }
    this.emit("changed");
  }

  private feed(event: PolicyEvent): void {
    this.clock = event.t;
    for (const action of this.core.handle(event)) {
      if (action.type !== "transition") continue;
      const t = action.transition;
      this.record(
        t.t,
        "transition",
        `${t.from} → ${t.to}: ${t.reason} (mean ${t.mean.toFixed(0)} ms)`,
      );
      this.emit("transition", t);
    }
    if (event.type === "checkpoint-end") {
      const latest = this.core.stats.latest();
      if (latest) this.emit("checkpoint", latest);
    }
  }

  /** COLO ends as QEMU would report it. */
  endColo(state: ColoState, reason: string): void {
    this.colo = state;
    this.coloReason = reason;
    this.record(Date.now(), "colo", `COLO ended: ${reason}`);
    this.emit("changed");
  }

  fail(message: string): void {
    this.lastError = message;
    this.record(Date.now(), "error", message);
    this.emit("changed");
  }

  private record(t: number, kind: HistoryKind, message: string): void {
    this.history.push({ t, kind, message });
    if (this.history.length > HISTORY_KEPT) this.history.shift();
  }

  status(): AgentStatus {
    const core = this.core.status(Math.max(this.clock, Date.now()));
    const id = this.identity;
    return {
      domain: id.domain,
      uuid: id.uuid,
      role: id.role ?? "primary",
      peer: id.peer ?? { uri: "qemu:///system", domain: `${id.domain}-secondary` },
      colo: this.colo,
      coloReason: this.coloReason,
      mode: core.mode,
      passiveLeft: core.passiveLeft,
      mean: core.mean,
      samples: core.samples,
      params: toExternal(this.params),
      stats: core.stats,
      qemu: id.qemu ?? { primary: "7.2.22", secondary: "7.2.22" },
      lastError: this.lastError,
      history: [...this.history],
    };
  }

  recent(): CheckpointRecord[] {
    return this.core.stats.inWindow(Date.now());
  }

  async setParams(patch: ParamPatch): Promise<SetParamsResult> {
    const checked = applyPatch(this.params, patch);
    if (!checked.ok) return checked;
    this.params = checked.params;
    this.feed({ type: "set-params", t: Math.max(this.clock, Date.now()), patch });
    const shown = Object.entries(patch).map(([k, v]) => `${k}=${String(v)}`);
    this.record(Date.now(), "params", `parameters set: ${shown.join(" ")}`);
    this.emit("changed");
    return { ok: true };
  }

  async failover(): Promise<void> {
    if (this.failoverError !== undefined) throw new Error(this.failoverError);
    this.colo = "failed-over";
    this.coloReason = `${this.identity.role ?? "primary"} failed over`;
    this.record(Date.now(), "failover", this.coloReason);
    this.emit("changed");
  }

  resetStats(): void {
    this.core.stats.reset();
    this.emit("changed");
  }

  // The page never asks for it.
  async resync(): Promise<void> {}
}
