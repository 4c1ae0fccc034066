// Automatic failover on Pacemaker and corosync: a pair with a disk across lab hosts A and B,
// with C as the cluster's third vote, made a promotable clone of ocf:colo-hybrid:colo
// (hosts/cluster-pair.ts). Pacemaker adopts the running pair, promoted on A and unpromoted on B,
// and the resource agent leaves failing over to the cluster (auto-failover off). Then, with the
// write workload's records acknowledged, one of three faults: A loses power, or A's LAN link
// goes down (A cannot tell that from B's death), or B loses power. The side in the partition
// with quorum fences the other and runs the guest: B by its promote (its failover), A by the
// notification that B's instance stopped. After each, the guest answers at its address, the
// fenced host runs no copy of it, and the survivor's disk holds every acknowledged record.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandError } from "../support/exec.js";
import { waitUntil } from "../support/wait.js";
import { recordsOn } from "./disk-pair.js";
import { buildGuest } from "./guest.js";
import { guestDomainXml } from "./guest-domain.js";
import { type Cluster, powerOff } from "./hosts/cluster.js";
import { answeredAfter, type ClusterPair, startClusterPair } from "./hosts/cluster-pair.js";
import { OCF_AGENT, resourceNames } from "./hosts/colo-resource.js";
import { partition } from "./hosts/faults.js";
import { processesIn } from "./hosts/host.js";
import type { LabHost } from "./hosts/hosts.js";
import { hostLayout, LAB_DIR } from "./hosts/layout.js";
import type { HostsPair, HostsPairImages } from "./hosts/pair.js";

const MINUTE = 60_000;
const WRITES = 15;

interface Drill {
  fault: string;
  /** The host the fault hits; the other side survives. */
  lost: "a" | "b";
  make(pair: HostsPair): Promise<unknown>;
  /** ocf-tester runs on A before this drill's fault. */
  ocfTester?: boolean;
}

const DRILLS: Drill[] = [
  {
    fault: "the primary's host powered off",
    lost: "a",
    make: (pair) => powerOff(pair.a),
    ocfTester: true,
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

  it(
    `${drill.fault}: fenced, the survivor runs the guest with every acknowledged record`,
    async () => {
      const lost = drill.lost === "a" ? pair.a : pair.b;
      const survivor = drill.lost === "a" ? pair.b : pair.a;
      const t0 = Date.now();
      await drill.make(pair);
      const answeredMs = await answeredAfter(pair, t0);
      const fenced = await cluster.fenceHistory(survivor, lost.name);
      log(`${drill.fault}: answered after ${answeredMs} ms; fencing: ${JSON.stringify(fenced)}`);
      expect(fenced.some((f) => f.action === "off" && f.status === "success")).toBe(true);
      // One copy of the guest: the lost host runs nothing at all.
      const h = hostLayout(pair.lab.hosts.indexOf(lost));
      expect(processesIn([`/run/netns/${h.netns}`, h.mntFile])).toEqual([]);
      expect(await roles(survivor)).toEqual({ [survivor.name]: "Promoted" });
      const bus = drill.lost === "a" ? pair.secondaryBus : pair.primaryBus;
      expect((await pair.props(bus)).ColoState).toBe("failed-over");
      expect((await get("/cgi-bin/write")).trim()).toBe(`${WRITES + 1}`);

      // The disk, read with the survivor's QEMU stopped behind Pacemaker's back.
      await survivor.run("crm", ["configure", "property", "maintenance-mode=true"]);
      const domain = drill.lost === "a" ? pair.secondaryName : pair.name;
      await survivor.run("virsh", ["destroy", domain]);
      const images = pair.images as HostsPairImages;
      const image = drill.lost === "a" ? images.secondaryBase : images.primary;
      expect(await recordsOn(image, LAB_DIR, survivor.run)).toEqual({
        records: WRITES + 1,
        pattern: true,
      });
    },
    3 * MINUTE,
  );
});
