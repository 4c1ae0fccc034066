// The network fault drills of test/lab/host-faults.test.ts on a COLO pair across the two lab
// hosts (test/lab/hosts/drill.ts: a GET every 200 ms from the guests' LAN, each fault made on
// the secondary's host B), timed and printed as a table: checkpoints during the fault and their
// median pause, the primary's longest pause, whether and when COLO ended and the primary's agent
// failed over, the client's longest wait for an answer and the time from the failover (or the
// fault's end) to the next answer, and anything the drill judged wrong. A fault that ends COLO
// gets a fresh pair for the next drill.
// Beside them, measured in the same run and on the same pair: the checkpoint rate and pause with
// no fault (the anchor), under a 100 ms delay and under 1% loss, each over a longer watch.
// Last line: the pause and rate ratios under delay and under loss to the anchor.
// Needs root and the lab lock (flock /tmp/colo-lab.lock npx tsx bench/host-faults.ts); the
// hosts and pairs it makes are removed at the end.

import { drillSeries } from "../test/lab/hosts/drill.js";
import {
  ANCHOR,
  DRILLS,
  type Drill,
  describeOutcome,
  type Outcome,
  type Recording,
  violations,
} from "../test/lab/hosts/drill-outcome.js";

/** The rate and pause figures' watch: with a 3 s period, about 20 checkpoints each. */
const MEASURE_MS = 60_000;
const MEASURED = new Set(["loss 1%", "delay 100 ms"]);

const drills: Drill[] = [ANCHOR, ...DRILLS].map((d) =>
  d === ANCHOR || MEASURED.has(d.name) ? { ...d, watchMs: MEASURE_MS } : d,
);

interface Row {
  drill: Drill;
  recording: Recording;
  outcome: Outcome;
  wrong: string[];
}

const median = (xs: readonly number[]) =>
  xs.length === 0 ? Number.NaN : ([...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0);
const rate = (r: Row) => r.outcome.checkpoints / ((r.recording.end - r.recording.start) / 1000);
const s = (ms: number | undefined) => (ms === undefined ? "-" : (ms / 1000).toFixed(2));

const log = (line: string) => console.error(`  ${line}`);
const series = drillSeries(log);

const rows: Row[] = [];
try {
  for (const drill of drills) {
    const { recording, outcome, bounds } = await series.run(drill);
    rows.push({ drill, recording, outcome, wrong: violations(recording, outcome, bounds) });
    console.error(`fault: ${describeOutcome(drill, recording, outcome)}`);
  }
} finally {
  await series.close();
}

const table = [
  [
    "fault",
    "ckpts",
    "ckpt/s",
    "pause med ms",
    "longest pause s",
    "COLO ended s",
    "failed over s",
    "longest gap s",
    "answered s",
    "GETs failed",
    "secondary after",
    "wrong",
  ],
  ...rows.map((r) => [
    r.drill.name,
    `${r.outcome.checkpoints}`,
    rate(r).toFixed(3),
    median(r.outcome.pauses).toFixed(0),
    s(r.outcome.longestPause),
    s(r.outcome.coloEnded?.after),
    s(r.outcome.failedOverAfter),
    s(r.outcome.longestGap),
    s(r.outcome.answeredAfter),
    `${r.outcome.failed}/${r.outcome.requests}`,
    `${r.recording.secondary.agent} (QEMU ${r.recording.secondary.qemu ?? "?"}, ${r.recording.secondary.run ?? "?"})`,
    r.wrong.join("; ") || "-",
  ]),
];
const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => row[i]?.length ?? 0))) ?? [];
for (const row of table) console.log(row.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  "));

const find = (name: string) => rows.find((r) => r.drill.name === name);
const anchor = find(ANCHOR.name);
const ratios = [...MEASURED].map((name) => {
  const r = find(name);
  if (r === undefined || anchor === undefined) return `${name}: not measured`;
  const pause = median(r.outcome.pauses) / median(anchor.outcome.pauses);
  return `${name}: pause x${pause.toFixed(2)}, rate x${(rate(r) / rate(anchor)).toFixed(2)}`;
});
console.log(
  `host-faults: vs no fault (pause ${median(anchor?.outcome.pauses ?? []).toFixed(0)} ms, ${anchor === undefined ? "-" : rate(anchor).toFixed(3)} checkpoints/s): ${ratios.join("; ")}`,
);
