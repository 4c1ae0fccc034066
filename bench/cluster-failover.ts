// Automatic failover time on the lab's cluster: from the primary's host losing power to the
// first correct answer at the guest's address from the secondary, which Pacemaker promoted
// after corosync lost the host and the lab's fence agent fenced it (test/lab/hosts/
// cluster-pair.ts; a fresh pair with a disk each round). The anchor, measured in the same run:
// the same power cut with `colo-hybrid failover` run on B at once, the admin's fastest, with no
// detection and no fencing.
// Needs root and the lab lock (flock /tmp/colo-lab.lock npx tsx bench/cluster-failover.ts);
// what it makes is removed at the end. ROUNDS=N for another number of cluster rounds;
// TOKEN_MS and TOKEN_COEFFICIENT_MS for corosync's (the lab's defaults: 1000 and corosync's 650).
// Last line: p50 and p99 of the cluster's failover, and its p50 over the anchor's.
import { powerOff } from "../test/lab/hosts/cluster.js";
import { answeredAfter, startClusterPair } from "../test/lab/hosts/cluster-pair.js";
import { startHostsPair } from "../test/lab/hosts/pair.js";
import { percentile, seconds } from "./support/percentile.js";

const ROUNDS = Number(process.env.ROUNDS ?? 10);
const env = (name: string) =>
  process.env[name] === undefined ? undefined : Number(process.env[name]);
const totem = { tokenMs: env("TOKEN_MS"), tokenCoefficientMs: env("TOKEN_COEFFICIENT_MS") };
const BY_HAND_ROUNDS = 3;
const log = (line: string) => console.error(`  ${line}`);
const quiet = () => undefined;

const byHand: number[] = [];
for (let i = 0; i < BY_HAND_ROUNDS; i++) {
  const pair = await startHostsPair({
    ...{ period: 3000, passiveCount: 20, basePort: 9000, log: quiet, disk: true },
  });
  try {
    const t0 = Date.now();
    await powerOff(pair.a);
    await pair.colo(pair.b, ["failover", pair.secondaryName]);
    byHand.push(await answeredAfter(pair, t0));
    log(`by hand, round ${i + 1}: answered after ${seconds(byHand.at(-1) as number)}`);
  } finally {
    await pair.teardown();
  }
}

const cluster: number[] = [];
let clusterToken = 0;
let clusterConsensus = 0;
for (let i = 0; i < ROUNDS; i++) {
  const { pair, cluster: c } = await startClusterPair({
    log: quiet,
    cluster: Object.fromEntries(Object.entries(totem).filter(([, v]) => v !== undefined)),
  });
  try {
    const t0 = Date.now();
    await powerOff(pair.a);
    cluster.push(await answeredAfter(pair, t0));
    clusterToken = c.tokenMs;
    clusterConsensus = c.consensusMs;
    log(`cluster, round ${i + 1}: answered after ${seconds(cluster.at(-1) as number)}`);
  } finally {
    await pair.teardown();
  }
}

const p50 = percentile(cluster, 50);
console.log(
  `failover on Pacemaker (token ${clusterToken} ms, consensus ${clusterConsensus} ms), power cut to first answer over ${ROUNDS} rounds: p50 ${seconds(p50)}, p99 ${seconds(percentile(cluster, 99))}; by hand at once p50 ${seconds(percentile(byHand, 50))}; cluster p50 / by hand: ${(p50 / percentile(byHand, 50)).toFixed(2)}`,
);
