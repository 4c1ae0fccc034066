// `colo-hybrid ocf ACTION`: the resource agent ocf:colo-hybrid:colo (packaging/ocf/colo is its
// front, which Pacemaker runs). It observes this node's side of the pair through its own
// libvirtd, lets src/ocf/decide.ts decide, carries the plan out, sets the promotion score, and
// exits with the OCF code. A failover goes through the side's agent when it runs (it knows
// whether it holds its QEMU), else straight to QEMU with the agent's own plan.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { type AgentClient, withAgentOf } from "../dbus/client.js";
import type { DomainRef, Libvirt } from "../libvirt/api.js";
import { connectLibvirt } from "../libvirt/connect.js";
import { ErrorCode, findDomain, LibvirtError } from "../libvirt/errors.js";
import { connectPeer } from "../libvirt/peer.js";
import { parseDomainXml } from "../libvirt/xml/domain.js";
import * as decide from "../ocf/decide.js";
import {
  CLUSTER_AGENT_PARAMS,
  type Epochs,
  type Notification,
  type Observed,
  OCF,
  type OcfCode,
  type Outcome,
  type Score,
} from "../ocf/decide.js";
import { META_DATA, type OcfParams, readParams } from "../ocf/meta-data.js";
import { coloStateOf } from "../pair/colo-state.js";
import { primaryFailover, runFailover, secondaryFailover } from "../pair/failover.js";
import { allNicIds, plumbedNics } from "../pair/ids.js";
import { readSide } from "../pair/pair-state.js";
import { replaceStaleSide, resyncWith } from "../pair/reprotect.js";

const URI = "qemu:///system";
/** How long start and promote wait for the side to be where they put it, ms. */
const SETTLE_MS = 30_000;

export const OCF_HELP = `usage: colo-hybrid ocf ACTION

The resource agent ocf:colo-hybrid:colo, as Pacemaker runs it (parameters in OCF_RESKEY_*):
start, stop, monitor, promote, demote, notify, validate-all, meta-data.
`;

interface Side {
  dom: DomainRef;
  role: "primary" | "secondary";
  disks: number;
  nics: number;
  /** The other side, from the domain's metadata. */
  peer: { uri: string; domain: string } | undefined;
}

class Refused extends Error {
  constructor(
    readonly rc: OcfCode,
    message: string,
  ) {
    super(message);
  }
}

/** This node's side of the pair: the one of its two domains defined here. */
async function findSide(lv: Libvirt, p: OcfParams): Promise<Side | undefined> {
  const found: Side[] = [];
  for (const name of [p.domain, p.secondary]) {
    const dom = await findDomain(lv, name);
    if (dom === undefined) continue;
    const { colo, metadata } = parseDomainXml(await lv.domainXml(dom));
    if (colo === undefined)
      throw new Refused(
        OCF.ERR_CONFIGURED,
        `'${name}' is no COLO domain: no plumbing of pair create`,
      );
    const nics = plumbedNics(colo.objects);
    const peer = metadata?.ok ? metadata.value.peer : undefined;
    // The metadata's role: a survivor protected again keeps its old plumbing in its live XML.
    const role = metadata?.ok ? metadata.value.role : colo.role;
    found.push({ dom, role, disks: colo.disks, nics, peer });
  }
  if (found.length > 1)
    throw new Refused(
      OCF.ERR_CONFIGURED,
      `both '${p.domain}' and '${p.secondary}' are defined here: each belongs on its own node`,
    );
  return found[0];
}

/** libvirt's reason for a paused domain that a user (virsh suspend, our demote) paused. */
const PAUSED_BY_USER = 1;

async function observe(lv: Libvirt, side: Side | undefined, epochs: Epochs): Promise<Observed> {
  if (side === undefined) return { kind: "absent" };
  const { dom } = side;
  const name = dom.name;
  const { state: life, reason } = await lv.domainState(dom);
  if (life === "shutoff") return { kind: "shut-off", name, role: side.role, epochs };
  const state = await readSide(lv, dom);
  // In COLO, QEMU itself says which side it is.
  const role =
    state.coloMode === "primary" || state.coloMode === "secondary" ? state.coloMode : side.role;
  return {
    kind: "running",
    name,
    role,
    colo: coloStateOf(state),
    run: state.run,
    pausedByUser: life === "paused" && reason === PAUSED_BY_USER,
    epochs,
  };
}

const exec = promisify(execFile);
const crm = async (cmd: string, args: string[]) => (await exec(cmd, args)).stdout.trim();

/** Outside a cluster (ocf-tester, a manual run) there are no attributes: said, not fatal. */
const noCluster = (what: string, e: unknown) => {
  process.stderr.write(`colo: ${what}: ${(e as Error).message.trim()}\n`);
};

/** The node's promotion score for this resource (lifetime reboot: a rebooted node has none). */
async function setScore(score: Score): Promise<void> {
  const args = score === "delete" ? ["-D"] : ["-v", `${score}`];
  await crm("crm_attribute", ["--promotion", "-q", ...args]).catch((e) =>
    noCluster("promotion score not set", e),
  );
}

/** The node attribute each promotion stamps (lifetime forever), one per pair. */
const epochName = (p: OcfParams) => `colo-hybrid-epoch-${p.domain.replace(/[^\w-]/g, "_")}`;

async function epochOf(p: OcfParams, node?: string): Promise<number | undefined> {
  const on = node === undefined ? [] : ["-N", node];
  // Fails when never stamped there.
  const value = await crm("crm_attribute", [
    ...on,
    "-l",
    "forever",
    "-n",
    epochName(p),
    "-G",
    "-q",
  ]).catch(() => "");
  return value === "" ? undefined : Number(value);
}

const NO_EPOCHS: Epochs = { mine: undefined, newestOther: undefined };

async function readEpochs(p: OcfParams): Promise<Epochs> {
  let me: string;
  let nodes: string[];
  try {
    me = await crm("crm_node", ["-n"]);
    // "ID NAME STATE" per node.
    nodes = (await crm("crm_node", ["-l"])).split("\n").map((l) => l.split(/\s+/)[1] ?? "");
  } catch (e) {
    noCluster("no epochs", e);
    return NO_EPOCHS;
  }
  let newestOther: Epochs["newestOther"];
  for (const node of nodes.filter((n) => n !== "" && n !== me)) {
    const at = await epochOf(p, node);
    if (at !== undefined && at > (newestOther?.at ?? 0)) newestOther = { node, at };
  }
  return { mine: await epochOf(p), newestOther };
}

async function stampEpoch(p: OcfParams): Promise<void> {
  await crm("crm_attribute", ["-l", "forever", "-n", epochName(p), "-v", `${Date.now()}`]).catch(
    (e) => noCluster("epoch not stamped", e),
  );
}

async function until(what: string, ok: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + SETTLE_MS;
  while (!(await ok())) {
    if (performance.now() > deadline)
      throw new Refused(OCF.ERR_GENERIC, `${what} not within ${SETTLE_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The side's agent on the bus, if it runs, for `use`; undefined when it does not. */
const withAgent = <T>(side: Side, use: (client: AgentClient, bus: string) => Promise<T>) =>
  withAgentOf(side.dom.uuid, use);

async function failover(lv: Libvirt, side: Side): Promise<void> {
  const asked = await withAgent(side, async (client, bus) => {
    await client.failover(bus);
    return true;
  });
  if (asked) return;
  const plan = side.role === "primary" ? primaryFailover : secondaryFailover;
  await runFailover(lv, side.dom, plan(side.disks, side.nics));
}

/** The agent's parameters as a cluster wants them (decide.ts, CLUSTER_AGENT_PARAMS). */
async function clusterParams(side: Side): Promise<void> {
  await withAgent(side, async (client, bus) => {
    const now = (await client.properties(bus)).Parameters;
    const patch = Object.fromEntries(
      Object.entries(CLUSTER_AGENT_PARAMS).filter(([k, v]) => now[k] !== v),
    );
    if (Object.keys(patch).length === 0) return;
    await client.setParameters(bus, patch);
    process.stderr.write(
      `colo: ${side.dom.name}'s agent set to ${JSON.stringify(patch)}: the cluster decides who runs alone\n`,
    );
  }).catch((e: unknown) =>
    process.stderr.write(`colo: ${side.dom.name}'s agent not set: ${(e as Error).message}\n`),
  );
}

/** This notification, as Pacemaker put it in the environment. */
async function notification(env: NodeJS.ProcessEnv): Promise<Notification> {
  const nodes = (list: string | undefined) => (list ?? "").split(/\s+/).filter(Boolean);
  const stopped = nodes(env.OCF_RESKEY_CRM_meta_notify_stop_uname);
  const started = nodes(env.OCF_RESKEY_CRM_meta_notify_start_uname);
  const me =
    stopped.length + started.length > 0 ? await crm("crm_node", ["-n"]).catch(() => "") : "";
  return {
    type: env.OCF_RESKEY_CRM_meta_notify_type ?? "",
    operation: env.OCF_RESKEY_CRM_meta_notify_operation ?? "",
    peerStopped: stopped.some((n) => n !== me),
    peerStarted: started.some((n) => n !== me),
  };
}

/**
 * A secondary started before its primary keeps the links it dialled. One the primary's end of
 * which went away is only half closed, and the secondary, which only writes to it, never notices:
 * the new primary would wait for good for it to connect (its chardevs wait). yank shuts each
 * link down, and the secondary dials again (reconnect=1). Without a reachable secondary there
 * is nothing to do: the start waits for it, or fails.
 */
async function relinkSecondary(side: Side): Promise<void> {
  if (side.peer === undefined) return;
  const { uri, domain } = side.peer;
  const peer = await connectPeer(uri).catch(() => undefined);
  if (peer === undefined) return;
  try {
    const dom = await peer.lookupByName(domain);
    if ((await peer.domainState(dom)).state === "shutoff") return;
    const instances = allNicIds(side.nics).flatMap(({ secondaryChardevs: c }) => [
      { type: "chardev", id: c.mirror },
      { type: "chardev", id: c.compare },
    ]);
    await peer.qmp(dom, "yank", { instances });
  } catch (e) {
    process.stderr.write(`colo: start: the secondary's links not reset: ${(e as Error).message}\n`);
  } finally {
    await peer.close();
  }
}

async function carryOut(
  lv: Libvirt,
  side: Side | undefined,
  epochs: Epochs,
  plan: decide.Plan,
): Promise<Outcome> {
  if (plan.do === "nothing") return plan.outcome;
  const s = side as Side;
  const serving = async () =>
    decide.monitor(await observe(lv, s, epochs)).rc === OCF.RUNNING_PROMOTED;
  const ok = (reason: string): Outcome => ({ rc: OCF.SUCCESS, reason: `'${plan.name}' ${reason}` });
  switch (plan.do) {
    case "start-paused":
      if (s.role === "primary") await relinkSecondary(s);
      await lv.create(s.dom, { paused: true });
      return ok("started, its guest paused");
    case "resume":
      await lv.qmp(s.dom, "cont");
      await until(`'${plan.name}' running the guest`, serving);
      return ok("runs the guest, alone");
    case "pause":
      await lv.suspend(s.dom);
      return ok("paused");
    case "destroy":
      await lv.destroy(s.dom).catch((e: unknown) => {
        // Ended meanwhile (a fence, a crash): that is what was asked.
        if (!(e instanceof LibvirtError && e.code === ErrorCode.operationInvalid)) throw e;
      });
      return ok("stopped");
    case "failover":
      await failover(lv, s);
      await until(`'${plan.name}' running the guest`, serving);
      return ok("took over");
    case "become-secondary":
      return ok(await becomeSecondary(lv, s));
    case "resync":
      return ok(await resync(lv, s));
  }
}

/** The other side, as the side's metadata names it: re-protection works from it. */
function peerOf(side: Side): NonNullable<Side["peer"]> {
  if (side.peer === undefined)
    throw new Refused(OCF.ERR_CONFIGURED, `'${side.dom.name}' has no readable metadata`);
  return side.peer;
}

/** The stale side's half of re-protection (reprotect.ts), or why not as OCF_ERR_GENERIC. */
async function becomeSecondary(lv: Libvirt, side: Side): Promise<string> {
  const peer = peerOf(side);
  const survivorLv = await connectPeer(peer.uri);
  try {
    await replaceStaleSide(
      { lv, uri: URI },
      side.dom.name,
      { lv: survivorLv, uri: peer.uri },
      peer.domain,
    );
    return `defined anew as the secondary of '${peer.domain}' (${peer.uri}), started paused: '${peer.domain}' copies its disks here when told this instance started`;
  } catch (e) {
    throw new Refused(
      OCF.ERR_GENERIC,
      `not starting the stale '${side.dom.name}' as a secondary: ${(e as Error).message}`,
    );
  } finally {
    await survivorLv.close();
  }
}

/**
 * Re-protection, the survivor's half, once the peer's instance started: its agent begins it
 * (the copy may take long, past any notify's timeout), or, with no agent, it is done here.
 */
async function resync(lv: Libvirt, side: Side): Promise<string> {
  const peer = peerOf(side);
  const begun = await withAgent(side, async (client, bus) => {
    await client.resync(bus, peer.uri);
    return true;
  });
  if (begun !== undefined)
    return `protected again by its agent, with '${peer.domain}' on ${peer.uri} (begun)`;
  const host = { lv: await connectPeer(peer.uri), uri: peer.uri };
  try {
    await resyncWith({ lv, dom: side.dom }, host, peer.domain);
    return `protected again, with '${peer.domain}' on ${peer.uri}`;
  } finally {
    await host.lv.close();
  }
}

const PLANS: Record<string, (o: Observed) => decide.Plan> = {
  start: decide.start,
  stop: decide.stop,
  promote: decide.promote,
  demote: decide.demote,
};

/** Runs the action; returns its OCF code. */
export async function ocf(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<OcfCode> {
  const action = args[0] ?? "";
  if (action === "meta-data") {
    process.stdout.write(META_DATA);
    return OCF.SUCCESS;
  }
  const say = (o: Outcome) => {
    process.stderr.write(`colo: ${action}: ${o.reason}\n`);
    return o.rc;
  };
  const params = readParams(env);
  if (!params.ok) return say({ rc: OCF.ERR_CONFIGURED, reason: params.reason });
  if (action === "validate-all") return say({ rc: OCF.SUCCESS, reason: "parameters valid" });
  // Re-protection when the peer's node rejoins will hang here; nothing to do before it.
  let plan = PLANS[action];
  if (action === "notify") {
    const n = await notification(env);
    // Pacemaker notifies every instance before and after every action of any: most concern
    // nothing here, and are answered before anything is asked of libvirt.
    if (!decide.notifyConcerns(n)) return OCF.SUCCESS;
    plan = (o) => decide.notify(o, n);
  }
  if (action !== "monitor" && plan === undefined)
    return say({ rc: OCF.ERR_UNIMPLEMENTED, reason: `no action '${action}'` });

  let lv: Libvirt;
  try {
    lv = await connectLibvirt(URI);
  } catch (e) {
    // A probe on a node without libvirtd: nothing of ours can run there.
    const rc = action === "monitor" || action === "stop" ? OCF.NOT_RUNNING : OCF.ERR_INSTALLED;
    return say({ rc, reason: `libvirtd (${URI}): ${(e as Error).message}` });
  }
  try {
    const p = params.params;
    const side = await findSide(lv, p);
    // The epochs cost a few cluster queries: read where they decide something.
    const observeNow = async (s: Side | undefined) => {
      const o = await observe(lv, s, NO_EPOCHS);
      return decide.needsEpochs(o) && o.kind !== "absent"
        ? { ...o, epochs: await readEpochs(p) }
        : o;
    };
    const observed = await observeNow(side);
    const epochs = "epochs" in observed ? observed.epochs : NO_EPOCHS;
    if (side !== undefined && observed.kind === "running") await clusterParams(side);
    if (plan === undefined) {
      const outcome = decide.monitor(observed);
      if (outcome.score !== undefined) await setScore(outcome.score);
      return outcome.rc;
    }
    const chosen = plan(observed);
    const outcome = await carryOut(lv, side, epochs, chosen);
    // Who served last: a promotion, or a primary that runs on alone.
    const servesNow = chosen.do === "failover" || (action === "promote" && chosen.do !== "nothing");
    if (servesNow) await stampEpoch(p);
    // Found again: becoming a secondary changed what this side is.
    const after = decide.monitor(await observeNow(await findSide(lv, p)));
    if (after.score !== undefined) await setScore(after.score);
    return say(outcome);
  } catch (e) {
    return say({
      rc: e instanceof Refused ? e.rc : OCF.ERR_GENERIC,
      reason: (e as Error).message,
    });
  } finally {
    await lv.close();
  }
}
