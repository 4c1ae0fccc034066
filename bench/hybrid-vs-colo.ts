// The secondary's CPU under the same divergent load, pure COLO (the anchor: hybrid mode off)
// against hybrid mode, each on a fresh lab pair with its agent. Also checkpoints per minute and
// whether every answer was right, and, on the COLO pair first left idle, how far apart the
// timer's checkpoints come against the period (the figures the lab tests do not measure).
// Needs root; brings up and removes its own pairs.
// Last line: hybrid's secondary CPU as a share of pure COLO's (goal <= 50%). Usage: make bench
import { setTimeout as sleep } from "node:timers/promises";
import type { ParamPatch } from "../src/colo/params.js";
import { runLoad } from "../test/lab/load.js";
import { cpuSeconds, labAgent } from "./support/lab-agent.js";

const SECONDS = 60;
const RATE = 2;
const PERIOD = 3000;
const IDLE_SECONDS = 30;
const COMMON: ParamPatch = { "colo-period": PERIOD, "passive-count": 100 };

interface Run {
  cpu: number;
  perMinute: number;
  correct: number;
  requests: number;
}

/** The idle pair's checkpoints: how far apart they come, against the period. */
async function idle(stops: readonly number[]): Promise<void> {
  // The boot-time HTTP connections close first: their last packets miscompare too.
  await sleep(6000);
  const from = Date.now();
  await sleep(IDLE_SECONDS * 1000);
  const t = stops.filter((s) => s >= from);
  const gaps = t.slice(1).map((s, i) => s - (t[i] as number));
  // An idle guest still sends the odd packet that miscompares: that only shortens a gap, so
  // the longest one is the timer's.
  const longest = Math.max(...gaps);
  console.log(
    `idle, pure COLO: ${t.length} checkpoints in ${IDLE_SECONDS} s, longest gap ${longest.toFixed(0)} ms, ` +
      `${(longest / PERIOD).toFixed(2)}x the period (${PERIOD} ms)`,
  );
}

async function measure(label: string, params: ParamPatch, idleFirst = false): Promise<Run> {
  const lab = await labAgent({ ...COMMON, ...params });
  try {
    let checkpoints = 0;
    const stops: number[] = [];
    const sub = await lab.pair.lv.onQemuMonitorEvent(lab.pair.primary.dom, "STOP", (e) => {
      checkpoints++;
      stops.push(e.timestamp);
    });
    if (idleFirst) await idle(stops);
    checkpoints = 0;
    const cpu0 = cpuSeconds(lab.secondaryPid);
    const t0 = performance.now();
    const load = await runLoad({
      port: lab.pair.port,
      phases: [{ kind: "divergent", seconds: SECONDS, rate: RATE }],
      maxRequests: SECONDS * RATE,
      timeoutMs: (SECONDS + 30) * 1000,
    });
    const minutes = (performance.now() - t0) / 60_000;
    const cpu = cpuSeconds(lab.secondaryPid) - cpu0;
    await sub.close();
    const phase = load.phases[0];
    const r = {
      cpu,
      perMinute: checkpoints / minutes,
      correct: phase?.correct ?? 0,
      requests: phase?.requests ?? 0,
    };
    console.log(
      `${label.padEnd(10)} secondary CPU ${r.cpu.toFixed(2)} s in ${(minutes * 60).toFixed(0)} s, ` +
        `${r.perMinute.toFixed(0)} checkpoints/min, ${r.correct}/${r.requests} answers right`,
    );
    return r;
  } finally {
    await lab.stop();
  }
}

console.log(`divergent HTTP load, ${RATE} requests/s for ${SECONDS} s, on a TCG lab pair`);
const colo = await measure("pure COLO", { enabled: false }, true);
const hybrid = await measure("hybrid", { enabled: true });
console.log(
  `hybrid/COLO secondary CPU: ${((100 * hybrid.cpu) / colo.cpu).toFixed(0)}% (goal <= 50%); ` +
    `checkpoints/min ${colo.perMinute.toFixed(0)} -> ${hybrid.perMinute.toFixed(0)}`,
);
