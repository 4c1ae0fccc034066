// Automatic failover and re-protection on Pacemaker and corosync: a pair with a disk across lab
// hosts A and B, with C as the cluster's third vote, made a promotable clone of
// ocf:colo-hybrid:colo (hosts/cluster-pair.ts). Pacemaker adopts the running pair, promoted on A
// and unpromoted on B, and the resource agent leaves failing over to the cluster (auto-failover
// off). Then, with the write workload's records acknowledged, one of three faults: A loses
// power, or A's LAN link goes down (A cannot tell that from B's death), or B loses power. The
// side in the partition with quorum fences the other and runs the guest: B by its promote (its
// failover), A by the notification that B's instance stopped. After each, the guest answers at
// its address with every acknowledged record, and the fenced host runs no copy of it. Then the
// lost host comes back: its instance's start makes it the survivor's new secondary, and the
// survivor, told so, is protected again while it runs. Last, the survivor's host loses power,
// the guest fails back to the host that came back, and its disk holds every record.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_IMAGE_DIR } from "../../src/pair/disks.js";
import { startPageSession } from "../cockpit/harness.js";
import type { CommandError } from "../support/exec.js";
import { waitUntil } from "../support/wait.js";
import { recordsOn } from "./disk-pair.js";
import { buildGuest } from "./guest.js";
import { guestDomainXml } from "./guest-domain.js";
import { type Cluster, powerOff, powerOn } from "./hosts/cluster.js";
import { answeredAfter, type ClusterPair, startClusterPair } from "./hosts/cluster-pair.js";
import { OCF_AGENT, resourceNames } from "./hosts/colo-resource.js";
import { heal, partition } from "./hosts/faults.js";
import { nsenterArgs, processesIn } from "./hosts/host.js";
import type { LabHost } from "./hosts/hosts.js";
import { hostLayout, LAB_DIR } from "./hosts/layout.js";
import type { HostsPair } from "./hosts/pair.js";
import { applyTcgWorkaroundOn } from "./hosts/tcg.js";

const MINUTE = 60_000;
const WRITES = 15;
/** Acknowledged while the pair is protected again, before the failback. */
const MORE_WRITES = 5;

interface Drill {
  fault: string;
  /** The host the fault hits; the other side survives. */
  lost: "a" | "b";
  make(pair: HostsPair): Promise<unknown>;
  /** ocf-tester runs on A before this drill's fault. */
  ocfTester?: boolean;
  /** The Cockpit page, its bridge on the survivor's host, shows the cluster once protected again. */
  cockpit?: boolean;
}

const DRILLS: Drill[] = [
  {
    fault: "the primary's host powered off",
    lost: "a",
    make: (pair) => powerOff(pair.a),
    ocfTester: true,
    cockpit: true,
  },
  { fault: "the primary's host cut off", lost: "a", make: (pair) => partition(pair.a) },
  { fault: "the secondary's host powered off", lost: "b", make: (pair) => powerOff(pair.b) },
];

describe.each(DRILLS)("Pacemaker, $fault", (drill) => {
  let pair: HostsPair;
  let cluster: Cluster;
  let c: LabHost;
  let roles: ClusterPair["roles"];
  const log = (line: string) => console.log(`cluster-failover: ${line}`);
  const get = (path: string) => pair.lan.client.get(path, 5);

  beforeAll(async () => {
    ({ pair, cluster, c, roles } = await startClusterPair({ log }));
  }, 8 * MINUTE);

  afterAll(() => pair?.teardown(), 2 * MINUTE);

  it(
    "adopts the running pair: promoted on A, unpromoted on B, the agents leaving failover to it",
    async () => {
      const { clone, primitive } = resourceNames(pair.name);
      const crmMon = (await c.run("crm_mon", ["-1"])).stdout;
      expect(crmMon).toContain(`Clone Set: ${clone} [${primitive}]`);
      // "Promoted: [ A ]", or one line per instance while an operation is pending.
      expect(crmMon).toMatch(new RegExp(`Promoted(: \\[)? ${pair.a.name}`));
      expect(crmMon).toMatch(new RegExp(`Unpromoted(: \\[)? ${pair.b.name}`));
      expect((await c.run("pcs", ["status"])).stdout).toContain(clone);
      // COLO carries on under Pacemaker; the resource agent's monitors turned the agents'
      // auto-failover off.
      expect((await pair.props()).ColoState).toBe("colo");
      for (const bus of [pair.primaryBus, pair.secondaryBus])
        await waitUntil(
          "auto-failover off",
          async () => (await pair.props(bus)).Parameters["auto-failover"] === false,
          MINUTE,
          200,
        );
      for (let i = 1; i <= WRITES; i++) expect((await get("/cgi-bin/write")).trim()).toBe(`${i}`);
    },
    2 * MINUTE,
  );

  it.runIf(drill.ocfTester)(
    "ocf-tester passes on the agent, run on A against a second pair (its secondary waiting on B)",
    async () => {
      const name = `${pair.name}-t`;
      const xml = join(LAB_DIR, `${name}.xml`);
      await writeFile(xml, guestDomainXml({ name, ...(await buildGuest()) }));
      await pair.a.run("virsh", ["define", xml]);
      await pair.colo(pair.a, [
        ...["pair", "create", name, "--secondary-uri", pair.b.tlsUri, "--base-port", "9100"],
      ]);
      // The primary's QEMU starts only once its secondary has connected.
      await pair.b.run("virsh", ["start", `${name}-secondary`, "--paused"]);
      const tester = await pair.a
        .run("ocf-tester", ["-n", "colo-tester", "-o", `domain=${name}`, OCF_AGENT], {
          timeoutMs: 5 * MINUTE,
        })
        .catch((e: CommandError) => e);
      log(`ocf-tester on ${pair.a.name}:\n${tester.stdout}`);
      expect(tester.stdout).toContain("colo passed all tests");
      await pair.b.run("virsh", ["destroy", `${name}-secondary`]);
    },
    6 * MINUTE,
  );

  /** Who is where: the survivor keeps its name; the lost side's comes back as its secondary. */
  const sides = () => {
    const a = { host: pair.a, name: pair.name, bus: pair.primaryBus };
    const b = { host: pair.b, name: pair.secondaryName, bus: pair.secondaryBus };
    return drill.lost === "a" ? { lost: a, survivor: b } : { lost: b, survivor: a };
  };
  /** Only the lost host runs nothing at all: there is one copy of the guest. */
  const poweredOff = (host: LabHost) => {
    const h = hostLayout(pair.lab.hosts.indexOf(host));
    return processesIn([`/run/netns/${h.netns}`, h.mntFile]);
  };
  /**
   * Until the host's instance is the only one, promoted: the guest may answer while Pacemaker
   * still records the promote ("Promoting"), whose action returns once the epoch is stamped.
   */
  const promotedOn = (host: LabHost) =>
    waitUntil(
      `the pair promoted on ${host.name} alone`,
      async () => isDeepStrictEqual(await roles(host), { [host.name]: "Promoted" }),
      MINUTE,
      200,
    );
  let acked = WRITES;
  const write = async () => {
    expect((await get("/cgi-bin/write")).trim()).toBe(`${acked + 1}`);
    acked++;
  };

  it(
    `${drill.fault}: fenced, the survivor runs the guest with every acknowledged record`,
    async () => {
      const { lost, survivor } = sides();
      const t0 = Date.now();
      await drill.make(pair);
      const answeredMs = await answeredAfter(pair, t0);
      const fenced = await cluster.fenceHistory(survivor.host, lost.host.name);
      log(`${drill.fault}: answered after ${answeredMs} ms; fencing: ${JSON.stringify(fenced)}`);
      expect(fenced.some((f) => f.action === "off" && f.status === "success")).toBe(true);
      expect(poweredOff(lost.host)).toEqual([]);
      await promotedOn(survivor.host);
      expect((await pair.props(survivor.bus)).ColoState).toBe("failed-over");
      // Its answer is the number of records its disk holds.
      await write();
    },
    3 * MINUTE,
  );

  it(
    "the lost host back: its instance's start makes it the new secondary, and the survivor is protected again as it runs",
    async () => {
      const { lost, survivor } = sides();
      // The lab's: a secondary that took over is a primary now, under TCG.
      if (drill.lost === "a") await applyTcgWorkaroundOn(survivor.host, survivor.name, log);
      await heal(lost.host);
      const t0 = Date.now();
      await powerOn(lost.host);
      await waitUntil(
        `${survivor.name} in COLO as the primary`,
        async () => {
          const p = await pair.props(survivor.bus);
          return p.ColoState === "colo" && p.Role === "primary";
        },
        2 * MINUTE,
        100,
      ).catch(async (e: Error) => {
        const p = await pair.props(survivor.bus);
        const ops = (await c.run("crm_mon", ["-1", "-o", "-f"])).stdout;
        throw new Error(
          `${e.message}; its agent: ${p.ColoState} (${p.ColoReason}), last error: ${p.LastError}\n${ops}`,
        );
      });
      log(`${lost.host.name} powered on: protected again after ${Date.now() - t0} ms`);
      const crmMon = (await c.run("crm_mon", ["-1"])).stdout;
      log(crmMon);
      const protectedAgain = {
        [survivor.host.name]: "Promoted",
        [lost.host.name]: "Unpromoted",
      };
      await waitUntil(
        "the survivor promoted, the returned host unpromoted",
        async () => isDeepStrictEqual(await roles(survivor.host), protectedAgain),
        MINUTE,
        200,
      );
      expect(crmMon).not.toContain("Failed Resource Actions");
      await waitUntil(
        `${lost.name}'s agent in COLO as the secondary`,
        async () => {
          const p = await pair.props(lost.bus).catch(() => undefined);
          return p?.ColoState === "colo" && p.Role === "secondary";
        },
        MINUTE,
        200,
      );
      for (let i = 0; i < MORE_WRITES; i++) await write();
    },
    4 * MINUTE,
  );

  it.runIf(drill.cockpit)(
    "the Cockpit page on the survivor's host shows the cluster's view beside the pair",
    async () => {
      const { lost, survivor } = sides();
      const session = await startPageSession({
        bridgePrefix: [
          "nsenter",
          ...nsenterArgs(hostLayout(pair.lab.hosts.indexOf(survivor.host))),
          "--",
        ],
      });
      try {
        await session.open([(await pair.props(survivor.bus)).Uuid]);
        await session.page
          .locator("#cluster-card")
          .filter({
            hasText: new RegExp(
              `Promoted\\s*${survivor.host.name}[\\s\\S]*Unpromoted\\s*${lost.host.name}`,
            ),
          })
          .filter({ hasText: `Partition with quorum, DC ${c.name}` })
          .filter({ hasText: new RegExp(`${lost.host.name}: off by colo-lab-[a-c] \\(success\\)`) })
          .waitFor({ timeout: 30_000 });
        await session.screenshot("cluster-protected-again", { full: true });
      } finally {
        await session.close();
      }
    },
    2 * MINUTE,
  );

  it(
    "fails back: the survivor's host powered off, the host that came back runs the guest with every record",
    async () => {
      const { lost, survivor } = sides();
      const t0 = Date.now();
      await powerOff(survivor.host);
      const answeredMs = await answeredAfter(pair, t0);
      const fenced = await cluster.fenceHistory(lost.host, survivor.host.name);
      log(`failback to ${lost.host.name}: answered after ${answeredMs} ms`);
      expect(fenced.some((f) => f.action === "off" && f.status === "success")).toBe(true);
      expect(poweredOff(survivor.host)).toEqual([]);
      await promotedOn(lost.host);
      expect((await pair.props(lost.bus)).ColoState).toBe("failed-over");
      await write();

      // The disk, read with its QEMU stopped behind Pacemaker's back.
      await lost.host.run("crm", ["configure", "property", "maintenance-mode=true"]);
      await lost.host.run("virsh", ["destroy", lost.name]);
      const base = `${DEFAULT_IMAGE_DIR}/${lost.name}-vda-base.qcow2`;
      expect(await recordsOn(base, LAB_DIR, lost.host.run)).toEqual({
        records: acked,
        pattern: true,
      });
    },
    3 * MINUTE,
  );
});
