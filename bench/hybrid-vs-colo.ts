// The secondary's CPU under the same divergent load, pure COLO (the anchor: hybrid mode off)
// against hybrid mode, each on a fresh lab pair with its agent. Also checkpoints per minute and
// whether every answer was right. Needs root; brings up and removes its own pairs.
// Last line: hybrid's secondary CPU as a share of pure COLO's (goal <= 50%). Usage: make bench
import type { ParamPatch } from "../src/colo/params.js";
import { runLoad } from "../test/lab/load.js";
import { cpuSeconds, labAgent } from "./support/lab-agent.js";

const SECONDS = 60;
const RATE = 2;
const COMMON: ParamPatch = { "colo-period": 3000, "passive-count": 100 };

interface Run {
  cpu: number;
  perMinute: number;
  correct: number;
  requests: number;
}

async function measure(label: string, params: ParamPatch): Promise<Run> {
  const lab = await labAgent({ ...COMMON, ...params });
  try {
    let checkpoints = 0;
    const sub = await lab.pair.lv.onQemuMonitorEvent(lab.pair.primary.dom, "STOP", () => {
      checkpoints++;
    });
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
const colo = await measure("pure COLO", { enabled: false });
const hybrid = await measure("hybrid", { enabled: true });
console.log(
  `hybrid/COLO secondary CPU: ${((100 * hybrid.cpu) / colo.cpu).toFixed(0)}% (goal <= 50%); ` +
    `checkpoints/min ${colo.perMinute.toFixed(0)} -> ${hybrid.perMinute.toFixed(0)}`,
);
