// The lab's write workload on a guest with a qcow2 disk (virtio-blk) and a virtio NIC on a Linux
// bridge: unprotected (the plain domain alone), in COLO (the pair the product makes, period
// PERIOD ms), and in hybrid mode (the same pair with its agent running the policy, default
// parameters). A client in a network namespace on the bridge sends GET /cgi-bin/write one after
// another for SECONDS s: each appends a numbered record to the disk, fsync'ed, and is answered
// with its number only then. Figures: median and p90 latency, writes per second.
// Beside it, the checkpoint pause (the primary's STOP to RESUME, QEMU's timestamps) with no load,
// on the disk pair and on a diskless pair of the same guest: what block replication adds.
// Needs root; makes (and removes) its own domains. Last line: COLO's and hybrid mode's
// throughput as ratios to unprotected, and the pause with a disk as a ratio to without.
// Usage: npx tsx bench/disk-write.ts [--seconds S]   (default 30)
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { installPolicy } from "../test/dbus/host.js";
import { bridgedNic, labBridge } from "../test/lab/bridge.js";
import { DISK_BYTES, startDiskPair, withDisk } from "../test/lab/disk-pair.js";
import { buildGuest } from "../test/lab/guest.js";
import { guestDomainXml } from "../test/lab/guest-domain.js";
import { startSides } from "../test/lab/pair.js";
import { run } from "../test/support/exec.js";
import { BUILD_DIR } from "../test/support/paths.js";
import { TEST_DOMAIN_PREFIX, virsh } from "../test/support/services.js";
import { waitUntil } from "../test/support/wait.js";
import { idlePause } from "./support/idle-pause.js";
import { startAgent } from "./support/lab-agent.js";

const PERIOD = 1000;
const IDLE_MS = 20_000;
const { values } = parseArgs({ options: { seconds: { type: "string", default: "30" } } });
const SECONDS = Number(values.seconds);
const MAC = "52:54:00:c0:10:45";

const net = await labBridge(randomBytes(3).toString("hex"));
const nic = bridgedNic(net.bridge, MAC);
const write = async () => {
  try {
    const out = await net.get("/cgi-bin/write");
    return /^\d+$/.test(out.trim());
  } catch {
    return false;
  }
};

interface Figures {
  median: number;
  p90: number;
  perSecond: number;
}

async function workload(): Promise<Figures> {
  await waitUntil("the guest to write", write, 180_000, 500);
  const latencies: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    const t = performance.now();
    if (await write()) latencies.push(performance.now() - t);
  }
  const s = latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] as number);
  return { median: at(0.5), p90: at(0.9), perSecond: s.length / SECONDS };
}

/** STOP to RESUME on the primary for `ms` with no load: the pauses' median, ms. */
const show = (what: string, f: Figures) =>
  console.log(
    `${what}: median ${f.median} ms, p90 ${f.p90} ms, ${f.perSecond.toFixed(2)} writes/s`,
  );

let unprotected: Figures;
let colo: Figures;
let hybrid: Figures;
let pauseDisk: number;
let pauseDiskless: number;
const removePolicy = await installPolicy();
try {
  {
    // Unprotected: the plain guest alone, its disk a fresh qcow2.
    const name = `${TEST_DOMAIN_PREFIX}plain-${randomBytes(3).toString("hex")}`;
    const disk = `${BUILD_DIR}/lab/${name}.qcow2`;
    await run("qemu-img", ["create", "-q", "-f", "qcow2", disk, String(DISK_BYTES)]);
    const xml = withDisk(guestDomainXml({ name, ...(await buildGuest()), nic }), disk);
    const file = `${BUILD_DIR}/lab/${name}.xml`;
    writeFileSync(file, xml);
    await virsh(["create", file]);
    try {
      unprotected = await workload();
      show("unprotected", unprotected);
    } finally {
      await virsh(["destroy", name]).catch(() => undefined);
      await run("rm", ["-f", disk, file]);
    }
  }
  {
    const pair = await startDiskPair({ nic, period: PERIOD, log: () => undefined });
    try {
      pauseDisk = await idlePause(pair.lv, pair.primary.dom, IDLE_MS);
      colo = await workload();
      show(`COLO (period ${PERIOD} ms)`, colo);
    } finally {
      await pair.teardown();
    }
  }
  {
    const pair = await startDiskPair({ nic, period: PERIOD, log: () => undefined });
    const agent = await startAgent(pair);
    try {
      hybrid = await workload();
      show("hybrid mode (its agent, default parameters)", hybrid);
      // Then the divergent load, until the agent goes passive, and idle until it is back.
      const t0 = performance.now();
      const since = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
      const divergent = () => net.get("/cgi-bin/divergent").catch(() => "");
      while (!agent.output().includes("colo → passive") && performance.now() - t0 < 120_000)
        await divergent();
      console.log(
        `hybrid mode: passive after ${since()} of divergent requests (${agent.output().includes("colo → passive") ? "seen" : "NOT seen"})`,
      );
      const t1 = performance.now();
      await waitUntil(
        "the agent back in COLO",
        () => agent.output().includes("passive → colo"),
        180_000,
        200,
      ).catch(() => undefined);
      console.log(
        `hybrid mode: back to COLO ${((performance.now() - t1) / 1000).toFixed(1)} s after the load stopped (${agent.output().includes("passive → colo") ? "seen" : "NOT seen"})`,
      );
    } finally {
      await agent.stop();
      await pair.teardown();
    }
  }
  {
    const pair = await startSides(
      { period: PERIOD, log: () => undefined },
      [nic],
      async () => undefined,
    );
    try {
      pauseDiskless = await idlePause(pair.lv, pair.primary.dom, IDLE_MS);
    } finally {
      await pair.teardown();
    }
  }
} finally {
  await removePolicy();
  await net.close();
}
console.log(
  `checkpoint pause with no load, median: ${pauseDisk.toFixed(1)} ms with the disk, ${pauseDiskless.toFixed(1)} ms without`,
);
console.log(
  `writes/s as ratios to unprotected (${unprotected.perSecond.toFixed(2)}/s): COLO ${(colo.perSecond / unprotected.perSecond).toFixed(2)}, ` +
    `hybrid ${(hybrid.perSecond / unprotected.perSecond).toFixed(2)}; checkpoint pause with a disk / without ${(pauseDisk / pauseDiskless).toFixed(2)}`,
);
