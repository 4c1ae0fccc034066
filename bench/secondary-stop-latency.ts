// Passive mode's cost per checkpoint: how long the secondary runs after a checkpoint before the
// agent has it stopped again, from the secondary's RESUME (COLO resumed it after loading a
// checkpoint) to its STOP (the agent's `stop` done), both stamped by the secondary's QEMU.
//
// The floor, measured in the same run on the same pair under the same divergent load: the same
// hold done with nothing but the hold (bench/support/stop-holder.ts). With the agent stopped
// (SIGTERM) and the primary's period set to passive-time as the agent sets it, a process of its
// own, bundled and started like the agent (its node flags), reaching the secondary the way the
// agent does (connectPeer, one libvirt connection for the RESUME subscription and the `stop`),
// answers every RESUME with a QMP `stop` at once. The interval is then made of what any agent must go through (QEMU's event
// → libvirtd → the client's socket → node's event loop → the `stop` back through libvirtd →
// QEMU stopping a TCG guest just resumed from a checkpoint), and lacks only the agent's own work:
// its controller's decision, its heartbeat (none in passive mode: the holds are the secondary's
// sign of life), its other events and timers.
// The RESUMEs are the same ones too: checkpoints' ends under the same load, not a `cont` on a
// quiet guest. That variant (the floor's RESUME caused by our own `cont`, 30 ms after a hold,
// at most once a second) is printed beside it, for comparison only.
//
// Agent and floor alternate in blocks (agent, floor, agent, floor), so that the host's other
// load falls on both alike; an agent block counts only once the agent has gone passive (the
// divergent load takes it there within seconds, and the spell outlasts the block). Needs root;
// makes its own lab pair.
// Last line: the hold's p99, the floor's p99, the difference (goal <= 1 ms) and the ratio.
// Usage: make bench-agent
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { AGENT_NODE_OPTIONS } from "../src/hook/pidfile.js";
import type { QemuMonitorEvent } from "../src/libvirt/api.js";
import { runLoad } from "../test/lab/load.js";
import { bundle, labAgent, percentile } from "./support/lab-agent.js";

const BLOCK_SECONDS = 30;
const ROUNDS = 4;
const RATE = 2;
const PERIOD = 3000;
const GOAL_MS = 1;
/** A STOP later than this after its RESUME is no hold (a checkpoint's own stop in COLO mode). */
const HOLD_MAX_MS = 1000;

type Kind = "agent" | "floor";
interface Block {
  kind: Kind;
  /** RESUME → STOP, ms: of checkpoints' RESUMEs. */
  held: number[];
  /** Of the RESUMEs our own `cont` caused (floor blocks only). */
  afterCont: number[];
}

const lab = await labAgent({ "colo-period": PERIOD, "passive-count": 100_000 });
const holderBundle = await bundle("bench/support/stop-holder.ts", "stop-holder.mjs");
const { lv, primary, secondary } = lab.pair;
const holder = spawn(
  process.execPath,
  [...AGENT_NODE_OPTIONS, holderBundle, "qemu:///system", secondary.dom.name],
  { stdio: ["pipe", "pipe", "inherit"] },
);
const holderLines = createInterface({ input: holder.stdout })[Symbol.asyncIterator]();
const holderSays = async (expected: string) => {
  const { value } = await holderLines.next();
  if (value !== expected) throw new Error(`the stop holder said '${value}', not '${expected}'`);
};
const tellHolder = async (line: "arm" | "disarm") => {
  holder.stdin.write(`${line}\n`);
  await holderSays(`${line}ed`);
};

try {
  await holderSays("ready");
  const blocks: Block[] = [];
  let block: Block | undefined;
  // How late events reach a libvirt client here: the agent gets them no sooner.
  const delivery: number[] = [];
  let resumed: { t: number; cont: boolean } | undefined;
  let cont: { from: number; to: number } | undefined;
  let lastCont = 0;
  const contAfterHold = () => {
    if (block?.kind !== "floor" || Date.now() - lastCont < 1000) return;
    lastCont = Date.now();
    setTimeout(async () => {
      if (block?.kind !== "floor") return;
      const window = { from: Date.now(), to: Number.POSITIVE_INFINITY };
      cont = window;
      await lv.qmp(secondary.dom, "cont").catch(() => undefined);
      window.to = Date.now();
    }, 30);
  };
  const sub = await lv.onQemuMonitorEvent(secondary.dom, undefined, (e: QemuMonitorEvent) => {
    delivery.push(Date.now() - e.timestamp);
    if (e.event === "RESUME") {
      const byCont = cont !== undefined && e.timestamp >= cont.from && e.timestamp <= cont.to;
      resumed = { t: e.timestamp, cont: byCont };
      if (byCont) cont = undefined;
    } else if (e.event === "STOP" && resumed !== undefined) {
      const ms = e.timestamp - resumed.t;
      const byCont = resumed.cont;
      resumed = undefined;
      if (block === undefined || ms >= HOLD_MAX_MS) return;
      if (block.kind === "agent" && !lab.agent.output().includes("colo → passive")) return;
      (byCont ? block.afterCont : block.held).push(ms);
      if (!byCont) contAfterHold();
    }
  });
  const load = () =>
    runLoad({
      port: lab.pair.port,
      phases: [{ kind: "divergent", seconds: BLOCK_SECONDS, rate: RATE }],
      maxRequests: BLOCK_SECONDS * RATE,
      timeoutMs: (BLOCK_SECONDS + 30) * 1000,
    });
  for (let round = 0; round < ROUNDS; round++) {
    // The agent: started afresh from the second round on, COLO mode until the load makes it passive.
    if (round > 0) await lab.restartAgent();
    block = { kind: "agent", held: [], afterCont: [] };
    blocks.push(block);
    await load();
    block = undefined;
    // The floor: the agent gone (its SIGTERM puts the period back to colo-period), passive mode
    // set up as the agent sets it, then held by the stop holder alone.
    await lab.agent.stop();
    const passiveTime = 250; // the parameter's default, which the agent used
    await lv.qmp(primary.dom, "migrate-set-parameters", { "x-checkpoint-delay": passiveTime });
    await tellHolder("arm");
    await sleep(1000); // the period's change brings a checkpoint at once; then it runs as passive
    block = { kind: "floor", held: [], afterCont: [] };
    blocks.push(block);
    await load();
    block = undefined;
    await tellHolder("disarm");
    await lv.qmp(primary.dom, "migrate-set-parameters", { "x-checkpoint-delay": PERIOD });
  }
  await sub.close();

  const all = (kind: Kind, f: (b: Block) => number[]) =>
    blocks.filter((b) => b.kind === kind).flatMap(f);
  const hold = all("agent", (b) => b.held);
  const floor = all("floor", (b) => b.held);
  const afterCont = all("floor", (b) => b.afterCont);
  const p = (xs: number[], q: number) => percentile(xs, q).toFixed(2);
  const line = (label: string, xs: number[]) =>
    `${label}: ${xs.length} holds, RESUME -> STOP median ${p(xs, 0.5)} ms, p99 ${p(xs, 0.99)} ms, max ${p(xs, 1)} ms`;
  console.log(
    `divergent HTTP load ${RATE}/s; ${ROUNDS} rounds of ${BLOCK_SECONDS} s agent, ${BLOCK_SECONDS} s floor`,
  );
  for (const b of blocks)
    console.log(
      `  block ${b.kind}: ${b.held.length} holds, p99 ${p(b.held, 0.99)} ms, median ${p(b.held, 0.5)} ms`,
    );
  console.log(line("agent (the hold)", hold));
  console.log(line("floor (RESUME -> stop, nothing else)", floor));
  console.log(line("floor's variant, RESUME by our own cont", afterCont));
  console.log(
    `event delivery, QEMU's timestamp to a libvirt client: median ${p(delivery, 0.5)} ms, p99 ${p(delivery, 0.99)} ms`,
  );
  const h = percentile(hold, 0.99);
  const f = percentile(floor, 0.99);
  console.log(
    `secondary hold p99 ${h.toFixed(2)} ms vs floor p99 ${f.toFixed(2)} ms: ${h - f >= 0 ? "+" : ""}${(h - f).toFixed(2)} ms ` +
      `(goal <= ${GOAL_MS} ms: ${h - f <= GOAL_MS ? "met" : "missed"}), ${(h / f).toFixed(2)}x the floor`,
  );
} finally {
  holder.stdin.end();
  if (holder.exitCode === null) {
    const kill = setTimeout(() => holder.kill(), 5000);
    await new Promise((r) => holder.once("exit", r));
    clearTimeout(kill);
  }
  await lab.stop();
}
