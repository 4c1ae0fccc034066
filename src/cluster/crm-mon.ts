// Pacemaker's view of its cluster, read from `crm_mon -1 --output-as=xml --fence-history=3`
// (Pacemaker 2.1): the partition's quorum and DC, whether it fences, the nodes, the resources,
// the fence events and the failed actions. No I/O: the Cockpit page bundles it, and the lab
// reads its hosts' cluster with it (test/lab/hosts/cluster.ts).
import { attrValue, parseXml, type XmlElement } from "../libvirt/xml/tree.js";

export interface NodeStatus {
  name: string;
  online: boolean;
  /** Lost without a clean leave, not yet fenced. */
  unclean: boolean;
}

export interface ResourceStatus {
  id: string;
  /** "stonith:fence_colo_lab", "ocf:colo-hybrid:colo", ... */
  agent: string;
  /** Started, Stopped, Promoted, Unpromoted, ... */
  role: string;
  failed: boolean;
  /** Known from the history only, not configured (a clone's instance beyond clone-max, say). */
  orphaned: boolean;
  /** Where it is active. */
  nodes: string[];
}

/** A fencing operation (crm_mon's fence_history, or `stonith_admin --history`). */
export interface FenceEvent {
  /** "off", "reboot", "on". */
  action: string;
  target: string;
  /** The node whose fencer ran the agent. */
  executioner: string | undefined;
  /** The node that asked for it. */
  origin: string | undefined;
  /** "success", "pending", "failed". */
  status: string;
  /** ms since the epoch; undefined while pending. */
  completed: number | undefined;
}

/** An operation whose result Pacemaker did not expect: crm_mon's "Failed Resource Actions". */
export interface FailedAction {
  /** The primitive's id (every instance of an anonymous clone has its primitive's). */
  resource: string;
  /** "start", "monitor", "promote", ... */
  task: string;
  node: string;
  /** The resource agent's result: "error", "not running", ... */
  result: string;
  /** The agent's own reason, "" when it gave none. */
  reason: string;
  /** ms since the epoch; undefined when unknown. */
  at: number | undefined;
}

/** One node's view of the cluster. */
export interface CrmMon {
  /** Whether its partition has quorum (as the DC says; false without a DC). */
  quorum: boolean;
  dc: string | undefined;
  /** The stonith-enabled cluster option. */
  stonithEnabled: boolean;
  nodes: NodeStatus[];
  /** Primitives, also those in groups, clones and bundles: one per clone instance. */
  resources: ResourceStatus[];
  /** Newest first, as crm_mon sorts them (pending ones before). */
  fenceHistory: FenceEvent[];
  failures: FailedAction[];
}

/** The first element named `name` among `el`'s children. */
const child = (el: XmlElement | undefined, name: string) =>
  el?.children.find((c) => c.name === name);

const children = (el: XmlElement | undefined, name: string) =>
  (el?.children ?? []).filter((c) => c.name === name);

/** Pacemaker's "2026-12-07 16:07:45Z" (or with an offset), as ms since the epoch. */
function time(text: string | undefined): number | undefined {
  const t = text === undefined ? Number.NaN : Date.parse(text.replace(" ", "T"));
  return Number.isNaN(t) ? undefined : t;
}

/** Every primitive under `el`, through groups, clones and bundles. */
function resources(el: XmlElement): ResourceStatus[] {
  return el.children.flatMap((c) =>
    c.name === "resource"
      ? [
          {
            id: attrValue(c, "id") ?? "",
            agent: attrValue(c, "resource_agent") ?? "",
            role: attrValue(c, "role") ?? "",
            failed: attrValue(c, "failed") === "true",
            orphaned: attrValue(c, "orphaned") === "true",
            nodes: children(c, "node").map((n) => attrValue(n, "name") ?? ""),
          },
        ]
      : resources(c),
  );
}

function fenceEvents(list: XmlElement | undefined): FenceEvent[] {
  return children(list, "fence_event").map((e) => ({
    action: attrValue(e, "action") ?? "",
    target: attrValue(e, "target") ?? "",
    executioner: attrValue(e, "delegate"),
    origin: attrValue(e, "origin"),
    status: attrValue(e, "status") ?? "",
    completed: time(attrValue(e, "completed")),
  }));
}

/**
 * The failure's primitive, from its operation key "ID_TASK_INTERVAL" (crm_mon 2.1 gives no
 * resource attribute). The task is known, so an id or a task with "_" in it reads right.
 */
function failedResource(opKey: string, task: string, interval: string): string {
  const suffix = `_${task}_${interval}`;
  return opKey.endsWith(suffix) ? opKey.slice(0, -suffix.length) : opKey.replace(/_[^_]+_\d+$/, "");
}

function failures(list: XmlElement | undefined): FailedAction[] {
  return children(list, "failure").map((f) => {
    const task = attrValue(f, "task") ?? "";
    return {
      resource: failedResource(attrValue(f, "op_key") ?? "", task, attrValue(f, "interval") ?? ""),
      task,
      node: attrValue(f, "node") ?? "",
      result: attrValue(f, "exitstatus") ?? "",
      reason: attrValue(f, "exitreason") ?? "",
      at: time(attrValue(f, "last-rc-change")),
    };
  });
}

/** `crm_mon --output-as=xml`: what CrmMon holds. */
export function parseCrmMon(xml: string): CrmMon {
  const root = parseXml(xml);
  const summary = child(root, "summary");
  const dc = child(summary, "current_dc");
  const present = dc !== undefined && attrValue(dc, "present") === "true";
  const options = child(summary, "cluster_options");
  const list = child(root, "resources");
  return {
    quorum: present && attrValue(dc, "with_quorum") === "true",
    dc: present ? attrValue(dc, "name") : undefined,
    stonithEnabled: options !== undefined && attrValue(options, "stonith-enabled") === "true",
    nodes: children(child(root, "nodes"), "node").map((n) => ({
      name: attrValue(n, "name") ?? "",
      online: attrValue(n, "online") === "true",
      unclean: attrValue(n, "unclean") === "true",
    })),
    resources: list ? resources(list) : [],
    fenceHistory: fenceEvents(child(root, "fence_history")),
    failures: failures(child(root, "failures")),
  };
}

/** `stonith_admin --history NODE --output-as=xml`: the same fence_event elements, in a list. */
export function parseFenceHistory(xml: string): FenceEvent[] {
  return fenceEvents(child(parseXml(xml), "list"));
}

/** The instances of primitive `id` (a clone's; a unique clone's are "ID:N"). */
export function instancesOf(status: CrmMon, id: string): ResourceStatus[] {
  return status.resources.filter((r) => r.id === id || r.id.startsWith(`${id}:`));
}
