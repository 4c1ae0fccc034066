// Failover drills with a disk and the write workload, on live COLO lab pairs (QEMU under TCG
// here), each on a fresh pair: a guest with a qcow2 disk on virtio-blk and a virtio NIC on a
// Linux bridge, brought up by the product's code (test/lab/disk-pair.ts). A client in a network
// namespace on the bridge sends GET /cgi-bin/write one after another: each appends a numbered
// record to the disk (fsync'ed) and is answered with its number only then. After WARM_MS of
// writes one side's QEMU is SIGKILLed and the survivor runs the product's failover plan at once
// (failover.ts, as the agent does on COLO_EXIT); writes go on for AFTER_MS, then the survivor is
// shut off and its image read: the primary's own image, or the secondary's base, into which its
// takeover committed its overlays.
//
// Per drill: acknowledged (the highest number answered), found (records 1..n in order on the
// survivor's image), lost = acknowledged - found when positive, and time to service: from the
// kill to the answer of the first request sent after it (the client is sequential, so at most
// one request's latency after the service came back).
// The anchor, in the same run: the same drills on diskless pairs with the same NIC (time to
// service only).
// Last line: lost writes over all disk drills, the median times to service with a disk and the
// anchor's, per side killed, and their ratios.
// Usage: npx tsx bench/disk-failover.ts [--rounds N]   (default 5; needs root, makes its own pairs)
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Libvirt } from "../src/libvirt/api.js";
import { primaryFailover, runFailover, secondaryFailover } from "../src/pair/failover.js";
import type { PairSide } from "../src/pair/protect.js";
import { bridgedNic, labBridge } from "../test/lab/bridge.js";
import { startDiskPair } from "../test/lab/disk-pair.js";
import { FIXED_BODY } from "../test/lab/guest.js";
import { consoleLogPath } from "../test/lab/guest-domain.js";
import { startSides } from "../test/lab/pair.js";
import { virsh } from "../test/support/services.js";
import { waitUntil } from "../test/support/wait.js";
import { qemuPid } from "./support/lab-agent.js";

const WARM_MS = 5000;
const AFTER_MS = 5000;
const PERIOD = 1000;
const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" } } });
const ROUNDS = Number(values.rounds);

type Killed = "primary" | "secondary";
interface Drill {
  killed: Killed;
  disk: boolean;
  acknowledged: number;
  found?: number;
  toServiceMs: number;
}

const net = await labBridge(randomBytes(3).toString("hex"));
/** One request: a write (its record's number) with a disk, else a fixed GET (0); undefined: failed. */
const request = async (disk: boolean): Promise<number | undefined> => {
  try {
    const out = await net.get(`/cgi-bin/${disk ? "write" : "fixed"}`, 5);
    if (!disk) return out === FIXED_BODY ? 0 : undefined;
    return /^\d+$/.test(out.trim()) ? Number(out.trim()) : undefined;
  } catch {
    return undefined;
  }
};

/** Requests until `stop`: each answer, and when it came. */
function writer(disk: boolean) {
  const answers: { n: number; sent: number; at: number }[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const sent = performance.now();
      const n = await request(disk);
      if (n !== undefined) answers.push({ n, sent, at: performance.now() });
      else await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    answers,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

async function drill(
  killed: Killed,
  disk: boolean,
  pair: { lv: Libvirt; primary: PairSide; secondary: PairSide },
): Promise<Omit<Drill, "found"> & { survivor: PairSide }> {
  await waitUntil(
    "the guest to answer",
    async () => (await request(disk)) !== undefined,
    180_000,
    500,
  );
  const w = writer(disk);
  await new Promise((r) => setTimeout(r, WARM_MS));
  const [victim, survivor] =
    killed === "primary" ? [pair.primary, pair.secondary] : [pair.secondary, pair.primary];
  const disks = disk ? 1 : 0;
  const at = performance.now();
  process.kill(qemuPid(victim.dom.name), "SIGKILL");
  await runFailover(
    pair.lv,
    survivor.dom,
    killed === "primary" ? secondaryFailover(disks) : primaryFailover(disks),
  );
  const after = () => w.answers.find((a) => a.sent >= at);
  try {
    await waitUntil(
      "a request sent after the kill answered",
      async () => after() !== undefined,
      60_000,
      50,
    );
  } catch (e) {
    // What the survivor says of itself, and the end of its console, for the failure's report.
    const q = (cmd: string) =>
      pair.lv.qmp(survivor.dom, cmd).then(JSON.stringify, (x) => String(x));
    console.log(
      `no service after the ${killed}'s kill: status ${await q("query-status")}, colo ${await q("query-colo-status")}, migrate ${await q("query-migrate")}`,
    );
    console.log(
      readFileSync(consoleLogPath(survivor.dom.name), "utf8").split("\n").slice(-15).join("\n"),
    );
    await w.stop();
    throw e;
  }
  await new Promise((r) => setTimeout(r, AFTER_MS));
  await w.stop();
  const first = after() as { at: number };
  const acknowledged = Math.max(0, ...w.answers.map((a) => a.n));
  return { killed, disk, acknowledged, toServiceMs: Math.round(first.at - at), survivor };
}

const drills: Drill[] = [];
const log = () => undefined;
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const killed of ["primary", "secondary"] as const) {
      for (const disk of [true, false]) {
        const nic = bridgedNic(net.bridge, "52:54:00:c0:10:44");
        if (disk) {
          const pair = await startDiskPair({ nic, period: PERIOD, log });
          try {
            const d = await drill(killed, true, pair);
            await virsh(["destroy", d.survivor.dom.name]);
            const image = killed === "primary" ? pair.images.secondaryBase : pair.images.primary;
            const { records } = await pair.recordsOn(image);
            drills.push({ ...d, found: records });
          } finally {
            await pair.teardown();
          }
        } else {
          const pair = await startSides({ period: PERIOD, log }, [nic], async () => undefined);
          try {
            drills.push(await drill(killed, false, pair));
          } finally {
            await pair.teardown();
          }
        }
        const d = drills.at(-1) as Drill;
        console.log(
          `round ${round}, ${killed} killed, ${disk ? "disk" : "diskless"}: acknowledged ${d.acknowledged}` +
            `${d.found === undefined ? "" : `, found ${d.found}, lost ${Math.max(0, d.acknowledged - d.found)}`}` +
            `, service after ${d.toServiceMs} ms`,
        );
      }
    }
  }
} finally {
  await net.close();
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const times = (killed: Killed, disk: boolean) =>
  median(drills.filter((d) => d.killed === killed && d.disk === disk).map((d) => d.toServiceMs));
const withDisk = drills.filter((d) => d.disk);
const lost = withDisk.reduce((sum, d) => sum + Math.max(0, d.acknowledged - (d.found ?? 0)), 0);
const acked = withDisk.reduce((sum, d) => sum + d.acknowledged, 0);
const [pd, pa, sd, sa] = [
  times("primary", true),
  times("primary", false),
  times("secondary", true),
  times("secondary", false),
];
console.log(
  `lost ${lost} of ${acked} acknowledged writes in ${withDisk.length} disk drills; time to service, median: ` +
    `primary killed ${pd} ms with a disk vs ${pa} ms diskless (ratio ${(pd / pa).toFixed(2)}), ` +
    `secondary killed ${sd} ms vs ${sa} ms (ratio ${(sd / sa).toFixed(2)})`,
);
