// The page's one state: the agents found on the bus and what they publish, the cluster's view,
// plus whether this session may change things. agents.ts, cluster.ts and superuser.ts write it;
// components subscribe.
import { useSyncExternalStore } from "react";
import type { ColoResource } from "../../src/cluster/cib.js";
import type { CrmMon } from "../../src/cluster/crm-mon.js";
import { EMPTY_INFO } from "./decode.js";
import type { AgentInfo, AgentModel, Checkpoint } from "./model.js";

/** Checkpoints older than this are dropped: the longest span the chart shows. */
export const CHECKPOINTS_KEPT_MS = 10 * 60_000;
/** Bound on memory whatever the checkpoint rate (passive mode at 20 ms would be 15000). */
const CHECKPOINTS_KEPT = 4096;

export type Discovery =
  | { state: "starting" }
  | { state: "ready" }
  | { state: "failed"; message: string };

/** Pacemaker on this host, as crm_mon and cibadmin last told it. */
export type ClusterState =
  | { state: "reading" }
  /** No crm_mon here: a host outside any cluster. */
  | { state: "absent" }
  /** crm_mon cannot reach a cluster: Pacemaker does not run on this host. */
  | { state: "stopped" }
  | { state: "failed"; message: string }
  | { state: "running"; status: CrmMon; resources: readonly ColoResource[] };

export interface PageState {
  discovery: Discovery;
  /** By bus name, in the order found. */
  agents: ReadonlyMap<string, AgentModel>;
  /** Read only while a domain view is shown: "reading" otherwise. */
  cluster: ClusterState;
  /** Administrative access: null while Cockpit does not know yet. */
  admin: boolean | null;
}

export const INITIAL_STATE: PageState = {
  discovery: { state: "starting" },
  agents: new Map(),
  cluster: { state: "reading" },
  admin: null,
};

/** New checkpoints into the followed list: by start time, replacing what was known of each. */
export function mergeCheckpoints(
  known: readonly Checkpoint[],
  incoming: readonly Checkpoint[],
): Checkpoint[] {
  const byStart = new Map(known.map((c) => [c.t, c]));
  for (const c of incoming) byStart.set(c.t, c);
  const all = [...byStart.values()].sort((a, b) => a.t - b.t);
  const newest = all.at(-1)?.t ?? 0;
  return all.filter((c) => c.t >= newest - CHECKPOINTS_KEPT_MS).slice(-CHECKPOINTS_KEPT);
}

export class Store {
  private state: PageState;
  private readonly listeners = new Set<() => void>();

  constructor(initial: PageState = INITIAL_STATE) {
    this.state = initial;
  }

  get = (): PageState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  private set(next: PageState): void {
    this.state = next;
    for (const listener of this.listeners) listener();
  }

  private updateAgent(busName: string, change: (agent: AgentModel) => AgentModel): void {
    const agent = this.state.agents.get(busName);
    if (!agent) return;
    const agents = new Map(this.state.agents);
    agents.set(busName, change(agent));
    this.set({ ...this.state, agents });
  }

  setDiscovery(discovery: Discovery): void {
    this.set({ ...this.state, discovery });
  }

  setCluster(cluster: ClusterState): void {
    this.set({ ...this.state, cluster });
  }

  setAdmin(admin: boolean | null): void {
    if (admin !== this.state.admin) this.set({ ...this.state, admin });
  }

  /** The agent's bus name got an owner: new, or back after a restart. */
  agentRunning(busName: string, uuid: string): void {
    const agent = this.state.agents.get(busName);
    const agents = new Map(this.state.agents);
    agents.set(busName, {
      busName,
      uuid,
      running: true,
      info: agent?.info,
      failure: "",
      checkpoints: agent?.checkpoints,
    });
    this.set({ ...this.state, agents });
  }

  /** The agent's bus name lost its owner; what it last said stays on show, marked stopped. */
  agentStopped(busName: string): void {
    this.updateAgent(busName, (a) => ({ ...a, running: false }));
  }

  agentProperties(busName: string, change: Partial<AgentInfo>): void {
    this.updateAgent(busName, (a) => ({ ...a, info: { ...(a.info ?? EMPTY_INFO), ...change } }));
  }

  agentFailed(busName: string, failure: string): void {
    this.updateAgent(busName, (a) => ({ ...a, failure }));
  }

  /** Checkpoints of a followed agent (ignored when nobody follows it). */
  agentCheckpoints(busName: string, checkpoints: readonly Checkpoint[]): void {
    this.updateAgent(busName, (a) =>
      a.checkpoints ? { ...a, checkpoints: mergeCheckpoints(a.checkpoints, checkpoints) } : a,
    );
  }

  /** Start or stop keeping an agent's checkpoints (while a view shows them). */
  followCheckpoints(busName: string, follow: boolean): void {
    this.updateAgent(busName, (a) => ({
      ...a,
      checkpoints: follow ? (a.checkpoints ?? []) : undefined,
    }));
  }
}

export function usePageState(store: Store): PageState {
  return useSyncExternalStore(store.subscribe, store.get);
}
