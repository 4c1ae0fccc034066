// `make demo` / `make demo-stop`: a live COLO pair on this host, a phase-changing load, and what
// the hybrid policy makes of the checkpoints it recorded. The pair stays up until demo-stop.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUILD_DIR } from "../support/paths.js";
import { isAlive } from "../support/processes.js";
import { virsh } from "../support/services.js";
import { type Phase, runLoad } from "./load.js";
import { startPair } from "./pair.js";
import { TraceRecorder } from "./record.js";

const DIR = join(BUILD_DIR, "demo");
const STATE = join(DIR, "state.json");
const TRACE = join(DIR, "demo.trace.jsonl");
const PERIOD = 3000;
const PHASES: Phase[] = [
  { kind: "idle", seconds: 10 },
  { kind: "divergent", seconds: 40, rate: 2 },
  { kind: "convergent", seconds: 30, rate: 2 },
  { kind: "idle", seconds: 10 },
];

interface State {
  domains: string[];
  gdbPid: number | undefined;
  port: number;
}

async function start(): Promise<void> {
  if (existsSync(STATE)) await stop();
  mkdirSync(DIR, { recursive: true });
  console.log("Bringing up a COLO pair (QEMU under TCG; the guest boots in about 10 s)...");
  const pair = await startPair({ period: PERIOD });
  const { primary, secondary, port } = pair;
  const state: State = {
    domains: [primary.dom.name, secondary.dom.name],
    gdbPid: pair.workaround?.gdbPid,
    port,
  };
  writeFileSync(STATE, JSON.stringify(state));
  const recorder = new TraceRecorder();
  await recorder.start(pair.lv, primary.dom, true);
  for (const phase of PHASES) {
    recorder.mark(phase.kind);
    const rate = phase.kind === "idle" ? "" : ` at ${phase.rate} requests/s`;
    console.log(`load: ${phase.kind} for ${phase.seconds} s${rate}`);
    const r = await runLoad({
      port,
      phases: [phase],
      maxRequests: 1000,
      timeoutMs: (phase.seconds + 30) * 1000,
    });
    const p = r.phases[0];
    if (p && p.requests > 0) {
      const errors = Object.values(p.errors).reduce((a, b) => a + b, 0);
      console.log(
        `      ${p.requests} requests, ${p.correct} correct answers, ${errors} errors, median ${p.latency?.medianMs.toFixed(0) ?? "-"} ms`,
      );
    }
  }
  await recorder.stop();
  writeFileSync(TRACE, recorder.text("demo"));
  await pair.lv.close();
  console.log("\nWhat the hybrid policy makes of the checkpoints the pair just took:\n");
  spawnSync(
    process.execPath,
    ["dist/colo-hybrid.mjs", "simulate", TRACE, "--colo-period", String(PERIOD)],
    {
      stdio: "inherit",
    },
  );
  console.log(`
The pair is still running. Look at it:
  virsh list                                   ${state.domains.join(" and ")}
  virsh qemu-monitor-event --domain ${primary.dom.name} --loop     its checkpoints
  curl http://127.0.0.1:${port}/cgi-bin/divergent     the service, through COLO
  node dist/colo-hybrid.mjs simulate ${TRACE} --variant seed
Stop it, leaving nothing behind:  make demo-stop`);
}

async function stop(): Promise<void> {
  if (!existsSync(STATE)) {
    console.log("No demo pair is running.");
    return;
  }
  const state = JSON.parse(readFileSync(STATE, "utf8")) as State;
  for (const name of state.domains) {
    await virsh(["destroy", name]).catch(() => undefined);
    await virsh(["undefine", name]).catch(() => undefined);
  }
  // gdb leaves with the QEMU it was attached to; make sure.
  if (state.gdbPid !== undefined && isAlive(state.gdbPid)) process.kill(state.gdbPid, "SIGKILL");
  rmSync(STATE);
  console.log(`Stopped and removed ${state.domains.join(" and ")}.`);
}

const command = process.argv[2];
if (command === "start") await start();
else if (command === "stop") await stop();
else {
  console.error("usage: demo.ts start|stop");
  process.exit(2);
}
