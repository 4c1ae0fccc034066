// Re-protection time for the lab disk: a pair with its 64 MiB qcow2 disk across lab hosts A and
// B (test/lab/hosts/pair.ts, a fresh pair each round), one side's host powered off, the other
// failed over by hand, the host powered on again, then `colo-hybrid protect --resync` on the
// survivor, timed from its start to its return (COLO running with the new secondary). The
// survivor alternates: the secondary that took over, then the primary left alone. A client
// sends a GET every 100 ms throughout the resync: its longest wait is what the guest's clients
// saw of it. The anchor, measured in the same run on the same pairs: the pair's first
// `protect`, which copies the same disk to a secondary waiting the same way.
// Needs root and the lab lock (flock /tmp/colo-lab.lock npx tsx bench/reprotect.ts); what it
// makes is removed at the end. ROUNDS=N for another number of rounds (default 10).
// Last line: p50 and p99 of the resync, of the clients' longest wait, and resync p50 over the
// first protect's p50.
import { setTimeout as sleep } from "node:timers/promises";
import { powerOff, powerOn } from "../test/lab/hosts/cluster.js";
import { startHostsPair } from "../test/lab/hosts/pair.js";
import { applyTcgWorkaroundOn } from "../test/lab/hosts/tcg.js";
import { percentile, seconds } from "./support/percentile.js";

const ROUNDS = Number(process.env.ROUNDS ?? 10);
const log = (line: string) => console.error(`  ${line}`);
const quiet = () => undefined;

const resyncs: number[] = [];
const gaps: number[] = [];
const protects: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const lostA = i % 2 === 0;
  const pair = await startHostsPair({
    ...{ period: 3000, passiveCount: 20, basePort: 9000, log: quiet, disk: true },
  });
  try {
    protects.push(pair.protectedAfterMs);
    const [gone, stays] = lostA ? [pair.a, pair.b] : [pair.b, pair.a];
    const staysName = lostA ? pair.secondaryName : pair.name;
    await powerOff(gone);
    await pair.colo(stays, ["failover", staysName]);
    await powerOn(gone, { cluster: false });
    if (lostA) await applyTcgWorkaroundOn(stays, staysName, quiet);

    // Each GET's wait, from its start to its answer (or its timeout).
    let loading = true;
    let longest = 0;
    const load = (async () => {
      while (loading) {
        const t = Date.now();
        await pair.lan.client.get("/cgi-bin/fixed", 10).catch(() => "");
        longest = Math.max(longest, Date.now() - t);
        await sleep(100);
      }
    })();
    await sleep(500);
    const t0 = Date.now();
    await pair.colo(stays, ["protect", "--resync", staysName, "--secondary-uri", gone.tlsUri]);
    resyncs.push(Date.now() - t0);
    await sleep(1000);
    loading = false;
    await load;
    gaps.push(longest);
    log(
      `round ${i + 1} (survivor: ${lostA ? "the secondary" : "the primary"}): resync ${seconds(resyncs.at(-1) as number)}, longest GET ${seconds(longest)}; first protect ${seconds(pair.protectedAfterMs)}`,
    );
  } finally {
    await pair.teardown();
  }
}

const p50 = percentile(resyncs, 50);
console.log(
  `re-protection of the lab pair (64 MiB disk, protect --resync) over ${ROUNDS} rounds: p50 ${seconds(p50)}, p99 ${seconds(percentile(resyncs, 99))}; clients' longest wait p50 ${seconds(percentile(gaps, 50))}, p99 ${seconds(percentile(gaps, 99))}; first protect p50 ${seconds(percentile(protects, 50))}; resync p50 / first protect p50: ${(p50 / percentile(protects, 50)).toFixed(2)}`,
);
