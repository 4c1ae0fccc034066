// A COLO pair with a disk on lab hosts A and B under the lab's cluster (C the third vote): the
// pair brought up the admin's way (pair.ts), then corosync and Pacemaker (cluster.ts) and the
// resource agent made to adopt it (colo-resource.ts), promoted on A and unpromoted on B.
// For cluster-failover.test.ts and bench/cluster-failover.ts.
import { isDeepStrictEqual } from "node:util";
import { waitUntil } from "../../support/wait.js";
import { FIXED_BODY } from "../guest.js";
import { type Cluster, type ClusterOptions, startCluster } from "./cluster.js";
import { configureColoResource, installResourceAgent, resourceNames } from "./colo-resource.js";
import type { LabHost } from "./hosts.js";
import { type HostsPair, startHostsPair } from "./pair.js";

const MINUTE = 60_000;

export interface ClusterPair {
  pair: HostsPair;
  cluster: Cluster;
  /** The quorum node. */
  c: LabHost;
  /** The pair's instances as `host` sees them: node name → role. */
  roles(host: LabHost): Promise<Record<string, string>>;
}

export async function startClusterPair(opts: {
  log: (line: string) => void;
  cluster?: ClusterOptions;
}): Promise<ClusterPair> {
  const pair = await startHostsPair({
    ...{ period: 3000, passiveCount: 20, basePort: 9000, log: opts.log },
    ...{ disk: true, hosts: 3 },
  });
  try {
    const c = pair.lab.hosts[2] as LabHost;
    const cluster = await startCluster(pair.lab, opts.cluster);
    await installResourceAgent(pair.lab.hosts);
    await configureColoResource(pair.a, pair.name, c.name);
    const { primitive } = resourceNames(pair.name);
    const roles = async (host: LabHost) => {
      const instances = (await cluster.status(host)).resources.filter((r) => r.id === primitive);
      return Object.fromEntries(instances.flatMap((r) => r.nodes.map((n) => [n, r.role])));
    };
    const adopted = { [pair.a.name]: "Promoted", [pair.b.name]: "Unpromoted" };
    await waitUntil(
      "Pacemaker to adopt the pair (promoted on A, unpromoted on B)",
      async () => isDeepStrictEqual(await roles(pair.a), adopted),
      MINUTE,
      200,
    );
    return { pair, cluster, c, roles };
  } catch (e) {
    await pair.teardown();
    throw e;
  }
}

/**
 * ms from `since` until the guest's address answers the client right. Each try gives up after
 * 0.25 s (a lost SYN would wait 1 s for its retry), so that the time is the survivor's, not the
 * client's.
 */
export async function answeredAfter(pair: HostsPair, since: number): Promise<number> {
  await waitUntil(
    "an answer at the guest's address",
    async () => (await pair.lan.client.get("/cgi-bin/fixed", 0.25).catch(() => "")) === FIXED_BODY,
    2 * MINUTE,
    50,
  );
  return Date.now() - since;
}
