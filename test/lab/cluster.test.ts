// The cluster across the three lab hosts (test/lab/hosts/cluster.ts): corosync 3 and Pacemaker
// 2.1 with every node online and quorum, as crm_mon and pcs print it; then a drill: B's link
// down. B loses quorum, A and C keep it, and Pacemaker on A or C fences B with the lab's agent
// (stonith:fence_colo_lab): every process of B ends. With its link back and its daemons started
// again, B rejoins. And the DC's host losing power: a new DC, the host fenced, back when on.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "../support/wait.js";
import {
  type Cluster,
  clusterLogs,
  FENCE_DEVICE,
  isPoweredOn,
  powerOff,
  powerOn,
  startCluster,
} from "./hosts/cluster.js";
import { partition } from "./hosts/faults.js";
import { type LabHost, type LabHosts, startLabHosts, stopLabHosts } from "./hosts/hosts.js";

const log = (line: string) => console.log(`cluster: ${line}`);
const names = (hosts: readonly LabHost[]) => hosts.map((h) => h.name);

/** Corosync's hires timestamps ("Dec 02 00:12:23.637"), in this machine's time zone. */
function logTime(line: string): number {
  const [month, day, time] = line.split(" ");
  return new Date(`${month} ${day} ${new Date().getFullYear()} ${time}`).getTime();
}

describe("a corosync and Pacemaker cluster on three lab hosts", () => {
  let lab: LabHosts;
  let cluster: Cluster;
  let a: LabHost;
  let b: LabHost;
  let c: LabHost;

  beforeAll(async () => {
    const started = Date.now();
    lab = await startLabHosts({ count: 3 });
    const hostsUp = Date.now();
    cluster = await startCluster(lab);
    log(
      `hosts up in ${hostsUp - started} ms, the cluster ${Date.now() - hostsUp} ms later; ` +
        `totem token ${cluster.tokenMs} ms, consensus ${cluster.consensusMs} ms`,
    );
    [a, b, c] = lab.hosts as [LabHost, LabHost, LabHost];
  }, 120_000);

  afterAll(async () => {
    await stopLabHosts();
  }, 60_000);

  // A lost node is out of corosync's membership after the token and consensus; then Pacemaker
  // has it fenced: the DC's scheduler (after an election among the others when the DC was
  // lost) and the fence agent, which take well under 10 s.
  const fenceBound = () => cluster.tokenMs + cluster.consensusMs + 10_000;

  /** `target` down and clean, the others with quorum, and fenced off by one of them. */
  async function expectFenced(target: LabHost, others: LabHost[]): Promise<string | undefined> {
    expect(isPoweredOn(target)).toBe(false);
    // Unclean until Pacemaker has the fence confirmed, which is once corosync dropped it.
    for (const h of others) {
      await cluster.waitForNodes(h, { online: names(others), down: [target.name] }, fenceBound());
    }
    const off = (await cluster.fenceHistory(others[0] as LabHost, target.name)).find(
      (e) => e.action === "off" && e.status === "success",
    );
    expect(names(others)).toContain(off?.executioner);
    return off?.executioner;
  }

  it("has every node online, quorum, one DC, and the fence device started", async () => {
    const views = await Promise.all(lab.hosts.map((h) => cluster.status(h)));
    for (const view of views) {
      expect(view.quorum).toBe(true);
      expect(view.nodes.map((n) => [n.name, n.online, n.unclean])).toEqual(
        lab.hosts.map((h) => [h.name, true, false]),
      );
      expect(view.dc).toBe(views[0]?.dc);
      const device = view.resources.find((r) => r.id === FENCE_DEVICE);
      expect(device).toMatchObject({ agent: "stonith:fence_colo_lab", role: "Started" });
    }
    for (const h of lab.hosts) {
      expect((await h.run("corosync-quorumtool", ["-s"])).stdout).toMatch(/^Quorate:\s+Yes$/m);
    }
  });

  it("prints itself with crm_mon and pcs on a node (pcs without pcsd)", async () => {
    const online = `Online: [ ${names(lab.hosts).join(" ")} ]`;
    const crmMon = (await c.run("crm_mon", ["-1"])).stdout;
    expect(crmMon).toContain("partition with quorum");
    expect(crmMon).toContain(online);
    expect(crmMon).toMatch(
      new RegExp(`${FENCE_DEVICE}\\s+\\(stonith:fence_colo_lab\\):\\s+Started`),
    );
    // pcs reads the cluster through crm_mon and corosync's tools; only its "PCSD Status"
    // (--full) and "Daemon Status" (systemd's) need what the hosts do not run.
    const pcs = (await c.run("pcs", ["status"])).stdout;
    expect(pcs).toContain("Cluster name: colo-lab");
    expect(pcs).toContain(online);
    const full = (await c.run("pcs", ["status", "--full"])).stdout;
    for (const h of lab.hosts) expect(full).toMatch(new RegExp(`Node ${h.name} \\(\\d\\): online`));
  });

  it("has a fence agent that Pacemaker knows and a human can ask", async () => {
    const registered = (await a.run("stonith_admin", ["--list-registered"])).stdout;
    expect(registered).toContain(FENCE_DEVICE);
    const targets = (await a.run("stonith_admin", ["--list-targets", FENCE_DEVICE])).stdout;
    for (const h of lab.hosts) expect(targets).toContain(h.name);
    const status = await a.run("fence_colo_lab", ["-o", "status", "-n", b.name]);
    expect(status.stdout).toBe("Status: ON\n");
  });

  it("fences B when its link goes down, and B rejoins once it is back and powered on", async () => {
    const { dc } = await cluster.status(a);
    const bLog = clusterLogs(b).corosync;
    const logLength = readFileSync(bLog, "utf8").length;
    log(`partition of B (DC ${dc}); B must be fenced within ${fenceBound()} ms`);

    const start = Date.now();
    const fault = await partition(b);
    const deadline = start + fenceBound();
    await waitUntil(
      "A to see B offline",
      async () => !(await cluster.status(a)).nodes.find((n) => n.name === b.name)?.online,
      deadline - Date.now(),
      100,
    );
    const offline = Date.now();
    await waitUntil("B's processes to end", () => !isPoweredOn(b), deadline - Date.now(), 50);
    const fenced = Date.now();

    // B saw itself without quorum before it went: its corosync said so.
    const bLines = readFileSync(bLog, "utf8").slice(logLength).split("\n");
    const lost = bLines.find((l) => l.includes("non-primary component"));
    expect(lost).toBeDefined();
    // A and C kept quorum; B is down and clean (fenced, not unclean); by the lab's agent.
    const executioner = await expectFenced(b, [a, c]);
    log(
      `B without quorum after ${logTime(lost as string) - start} ms, A saw B offline after ` +
        `${offline - start} ms, B off (by ${executioner}) after ${fenced - start} ms`,
    );

    await fault.undo();
    const back = Date.now();
    await powerOn(b);
    await cluster.waitForNodes(a);
    await cluster.waitForNodes(b);
    log(`B online again ${Date.now() - back} ms after its link came back and it was powered on`);
  }, 60_000);

  it("fences the DC's host when it loses power, under a new DC, and takes it back", async () => {
    const { dc } = await cluster.status(a);
    const lost = lab.hosts.find((h) => h.name === dc) as LabHost;
    const others = lab.hosts.filter((h) => h !== lost);
    const [witness] = others as [LabHost];

    const start = Date.now();
    await powerOff(lost);
    // The others elect a DC among themselves, which has the host fenced: already off, the agent
    // finds nothing to kill, and Pacemaker counts it done once corosync has dropped the host.
    await waitUntil(
      `a new DC and ${lost.name} fenced`,
      async () => {
        const view = await cluster.status(witness);
        const node = view.nodes.find((n) => n.name === lost.name);
        const down = node?.online === false && !node.unclean;
        return view.dc !== undefined && view.dc !== lost.name && down;
      },
      fenceBound(),
      100,
    );
    const elected = Date.now();
    const executioner = await expectFenced(lost, others);
    log(
      `${lost.name} (the DC) off: fenced by ${executioner} under a new DC after ${elected - start} ms`,
    );

    const on = Date.now();
    await powerOn(lost);
    await cluster.waitForNodes(witness);
    log(`${lost.name} online again ${Date.now() - on} ms after it was powered on`);
  }, 60_000);
});
