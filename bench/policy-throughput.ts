// Replay throughput of the policy core: checkpoint events per second through HybridCore.handle
// (the policy and its statistics, as the agent and the simulator run them), over >= 10 M events
// of a synthetic phase-changing trace made with the policy in the loop.
//
// The trace is held in typed arrays and each event object is made as it is handed over, as the
// agent makes one per QEMU event; holding 10 M event objects instead would measure the garbage
// collector. Anchor, measured in the same run on the same arrays: the RFC's bare rule inlined in
// the loop (mean update and passive count in local variables, no event objects, no statistics),
// the floor any implementation pays for reading the trace.
//
// Last line: the figure. Usage: make bench   (or: npx tsx bench/policy-throughput.ts [events])
import { HybridCore } from "../src/colo/core.js";
import { type PolicyEvent, TRIGGERS, type Trigger } from "../src/colo/events.js";
import { DEFAULT_PARAMS } from "../src/colo/params.js";
import { synthesize } from "../src/trace/synthetic.js";

const target = Number(process.argv[2] ?? 10_000_000);
const ROUNDS = 5;
const START = 1;
const END = 2;

// ---- the trace, as arrays -----------------------------------------------------------------
const kind = new Uint8Array(target);
const time = new Float64Array(target);
const trigger = new Uint8Array(target); // index into TRIGGERS, 255 for none
let n = 0;
const phases = [
  { kind: "divergent" as const, seconds: 600 },
  { kind: "convergent" as const, seconds: 300 },
];
// More cycles of the phases than the target can need; the generator is lazy.
const cycles = Math.ceil(target / 1000);
for (const e of synthesize(
  { seed: 42, phases: Array(cycles).fill(phases).flat() },
  DEFAULT_PARAMS,
)) {
  if (e.type === "mark" || e.type === "set-params") continue;
  kind[n] = e.type === "colo-start" ? 0 : e.type === "checkpoint-start" ? START : END;
  time[n] = e.t;
  trigger[n] = e.type === "checkpoint-start" && e.trigger ? TRIGGERS.indexOf(e.trigger) : 255;
  if (++n === target) break;
}

function eventAt(i: number): PolicyEvent {
  const t = time[i] as number;
  switch (kind[i]) {
    case START:
      return {
        type: "checkpoint-start",
        t,
        trigger: TRIGGERS[trigger[i] as number] as Trigger | undefined,
      };
    case END:
      return { type: "checkpoint-end", t };
    default:
      return { type: "colo-start", t };
  }
}

// ---- the two loops ----------------------------------------------------------------------
function runCore(): number {
  const core = new HybridCore(DEFAULT_PARAMS);
  let acted = 0;
  for (let i = 0; i < n; i++) acted += core.handle(eventAt(i)).length > 0 ? 1 : 0;
  return acted;
}

function runAnchor(): number {
  const { passiveLimit, passiveCount } = DEFAULT_PARAMS;
  let mean = 0;
  let count = 0;
  let passiveLeft = 0;
  let lastEnd = 0;
  let passives = 0;
  for (let i = 0; i < n; i++) {
    const k = kind[i];
    const t = time[i] as number;
    if (k !== START) {
      lastEnd = t;
      continue;
    }
    mean = mean * 0.7 + 0.3 * (t - lastEnd);
    count++;
    if (passiveLeft > 0) {
      if (--passiveLeft === 0) {
        mean = 0;
        count = 0;
      }
    } else if (count >= 5 && mean < passiveLimit) {
      passiveLeft = passiveCount;
    }
    if (passiveLeft > 0) passives++;
  }
  return passives;
}

function measure(run: () => number): number {
  const t0 = process.hrtime.bigint();
  run();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const coreRates: number[] = [];
const anchorRates: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  coreRates.push(measure(runCore));
  anchorRates.push(measure(runAnchor));
}

const M = (x: number) => `${(x / 1e6).toFixed(1)} M events/s`;
const core = median(coreRates);
const anchor = median(anchorRates);
console.log(`trace: ${n} events (checkpoint starts and ends), ${runCore()} of them with actions`);
console.log(`node ${process.version}; median of ${ROUNDS} rounds`);
console.log(`anchor, the RFC's bare rule inline:  ${M(anchor)}`);
console.log(`HybridCore.handle, policy and stats: ${M(core)}`);
console.log(
  `policy replay throughput: ${M(core)} over ${n} events (goal >= 5 M/s); ` +
    `${(core / anchor).toFixed(3)}x the RFC's bare rule`,
);
