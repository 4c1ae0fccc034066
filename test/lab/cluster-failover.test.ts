// Automatic failover on Pacemaker and corosync: a pair with a disk across lab hosts A and B,
// with C as the cluster's third vote, made a promotable clone of ocf:colo-hybrid:colo. Pacemaker
// adopts the running pair (promoted on A, unpromoted on B). Then A loses power with the write
// workload's records acknowledged: B and C keep quorum, fence A, and promote B, whose promote is
// its failover; B answers at the guest's address with every acknowledged record on its disk.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandError } from "../support/exec.js";
import { waitUntil } from "../support/wait.js";
import { GUEST_ADDRESS } from "./bridge.js";
import { recordsOn } from "./disk-pair.js";
import { buildGuest, FIXED_BODY } from "./guest.js";
import { guestDomainXml } from "./guest-domain.js";
import { type Cluster, powerOff, startCluster } from "./hosts/cluster.js";
import {
  configureColoResource,
  installResourceAgent,
  OCF_AGENT,
  resourceNames,
} from "./hosts/colo-resource.js";
import type { LabHost } from "./hosts/hosts.js";
import { LAB_DIR } from "./hosts/layout.js";
import { type HostsPair, type HostsPairImages, startHostsPair } from "./hosts/pair.js";

const MINUTE = 60_000;
const WRITES = 15;

describe("Pacemaker fails a COLO pair over when the primary's host dies", () => {
  let pair: HostsPair;
  let cluster: Cluster;
  let c: LabHost;
  const log = (line: string) => console.log(`cluster-failover: ${line}`);
  const get = (path: string) => pair.lan.client.get(path, 2);
  /** The pair's instances as `host` sees them: node → role. */
  const roles = async (host: LabHost) => {
    const { primitive } = resourceNames(pair.name);
    const instances = (await cluster.status(host)).resources.filter((r) => r.id === primitive);
    return Object.fromEntries(instances.flatMap((r) => r.nodes.map((n) => [n, r.role])));
  };

  beforeAll(async () => {
    pair = await startHostsPair({
      ...{ period: 3000, passiveCount: 20, basePort: 9000, log },
      ...{ disk: true, hosts: 3 },
    });
    c = pair.lab.hosts[2] as LabHost;
    cluster = await startCluster(pair.lab);
    await installResourceAgent(pair.lab.hosts);
    await configureColoResource(pair.a, pair.name, c.name);
  }, 8 * MINUTE);

  afterAll(() => pair?.teardown(), 2 * MINUTE);

  it(
    "adopts the running pair: promoted on A, unpromoted on B; crm_mon and pcs show it",
    async () => {
      const want = { [pair.a.name]: "Promoted", [pair.b.name]: "Unpromoted" };
      await waitUntil(
        "the pair's instances in their roles",
        async () => isDeepStrictEqual(await roles(pair.a), want),
        MINUTE,
        500,
      );
      const { clone } = resourceNames(pair.name);
      const crmMon = (await c.run("crm_mon", ["-1"])).stdout;
      log(`crm_mon -1 on ${c.name}:\n${crmMon}`);
      expect(crmMon).toContain(`Clone Set: ${clone} [${resourceNames(pair.name).primitive}]`);
      expect(crmMon).toContain(`Promoted: [ ${pair.a.name} ]`);
      expect(crmMon).toContain(`Unpromoted: [ ${pair.b.name} ]`);
      expect((await c.run("pcs", ["status"])).stdout).toContain(clone);
      // COLO carries on under Pacemaker: the agents still say so.
      expect((await pair.props()).ColoState).toBe("colo");
      for (let i = 1; i <= WRITES; i++) expect((await get("/cgi-bin/write")).trim()).toBe(`${i}`);
    },
    2 * MINUTE,
  );

  it(
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
    "A powered off: B and C fence it and promote B, which answers with every acknowledged record",
    async () => {
      const t0 = Date.now();
      await powerOff(pair.a);
      await waitUntil(
        `an answer at ${GUEST_ADDRESS} after A's power cut`,
        async () => (await get("/cgi-bin/fixed").catch(() => "")) === FIXED_BODY,
        2 * MINUTE,
        100,
      );
      const answeredMs = Date.now() - t0;
      const fenced = await cluster.fenceHistory(pair.b, pair.a.name);
      log(
        `A powered off: answered by B after ${answeredMs} ms; fencing: ${JSON.stringify(fenced)}`,
      );
      expect(fenced.some((f) => f.action === "off" && f.status === "success")).toBe(true);
      expect(await roles(pair.b)).toEqual({ [pair.b.name]: "Promoted" });
      expect((await pair.props(pair.secondaryBus)).ColoState).toBe("failed-over");
      expect((await get("/cgi-bin/write")).trim()).toBe(`${WRITES + 1}`);

      // The disk, read with B's QEMU stopped behind Pacemaker's back.
      await pair.b.run("crm", ["configure", "property", "maintenance-mode=true"]);
      await pair.b.run("virsh", ["destroy", pair.secondaryName]);
      const images = pair.images as HostsPairImages;
      expect(await recordsOn(images.secondaryBase, LAB_DIR, pair.b.run)).toEqual({
        records: WRITES + 1,
        pattern: true,
      });
    },
    3 * MINUTE,
  );
});
