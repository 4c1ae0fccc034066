// `make demo-replay`: the offline view. A lab COLO pair with no agent runs the same phases in pure
// COLO; its checkpoints are recorded as a trace, the pair is removed, and the trace is replayed
// through the hybrid policy (`colo-hybrid simulate`): what hybrid mode would have made of them.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Phase, runLoad } from "../test/lab/load.js";
import { startPair } from "../test/lab/pair.js";
import { TraceRecorder } from "../test/lab/record.js";
import { say, step } from "./progress.js";
import { DEMO_DIR } from "./state.js";

const TRACE = join(DEMO_DIR, "replay.trace.jsonl");
const PERIOD = 3000;
const PHASES: Phase[] = [
  { kind: "idle", seconds: 10 },
  { kind: "divergent", seconds: 40, rate: 2 },
  { kind: "convergent", seconds: 30, rate: 2 },
  { kind: "idle", seconds: 10 },
];

export async function replay(): Promise<void> {
  const pair = await step("bringing up a lab COLO pair, no agent", () =>
    startPair({ period: PERIOD, log: () => undefined }),
  );
  try {
    const recorder = new TraceRecorder();
    await recorder.start(pair.lv, pair.primary.dom, true);
    for (const phase of PHASES) {
      recorder.mark(phase.kind);
      const p = await step(`load: ${phase.kind} for ${phase.seconds} s`, async () => {
        const r = await runLoad({
          port: pair.port,
          phases: [phase],
          maxRequests: 1000,
          timeoutMs: (phase.seconds + 30) * 1000,
        });
        return r.phases[0];
      });
      if (p !== undefined && p.requests > 0) {
        const errors = Object.values(p.errors).reduce((a, b) => a + b, 0);
        say(`  ${p.requests} requests, ${p.correct} right answers, ${errors} errors`);
      }
    }
    await recorder.stop();
    writeFileSync(TRACE, recorder.text("demo"));
  } finally {
    await pair.teardown();
  }
  say(`what the hybrid policy makes of the checkpoints recorded in ${TRACE}:\n`);
  spawnSync(
    process.execPath,
    ["dist/colo-hybrid.mjs", "simulate", TRACE, "--colo-period", String(PERIOD)],
    { stdio: "inherit" },
  );
}
