// QMP round trip through libvirt's passthrough, on one paused TCG domain:
//   (a) colo-hybrid's RPC client (LibvirtClient), one persistent connection, in a process of its
//       own bundled and started as an agent is (its node flags), bench/support/qmp-timer.ts;
//   (b) the anchor: libvirt's own C client via python3-libvirt (libvirt_qemu.qemuMonitorCommand),
//       one persistent connection, bench/support/python-qmp.py;
//   (a') as (a) with node's default flags, for comparison;
//   (c) `virsh qemu-monitor-command`, one process per call, as scripts do it.
// (a), (b) and (a') are driven alike and interleaved: ROUNDS rounds of BATCH calls each, in an
// order that rotates, so that the host's background load (and libvirtd settling after the
// domain started) falls on all alike rather than on whichever ran first.
// Then event delivery latency: QEMU's own timestamp of STOP/RESUME to our callback.
// Needs root; starts libvirtd (tests' harness) and defines, then removes, its own domain.
// Last line: (a)/(b) for the median and the p99 (goal <= 1.2 each) and virsh/ours for the
// median (goal >= 10). Usage: make bench
import { execFile, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { AGENT_NODE_OPTIONS } from "../src/hook/pidfile.js";
import type { QemuMonitorEvent } from "../src/libvirt/api.js";
import { LibvirtClient } from "../src/libvirt/client.js";
import { defineTestDomain, startLibvirtd } from "../test/support/services.js";
import { bundle } from "./support/lab-agent.js";

const run = promisify(execFile);
const ROUNDS = 50;
const BATCH = 100;
const N_FAST = ROUNDS * BATCH;
const WARMUP = 300;
const N_VIRSH = 100;
const N_EVENTS = 200;
const COMMAND = "query-status";

interface Stats {
  median: number;
  p99: number;
}

function stats(ms: number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  return { median: at(0.5), p99: at(0.99) };
}
const show = (label: string, x: Stats, n: number) =>
  console.log(
    `${label.padEnd(42)} median ${x.median.toFixed(3)} ms  p99 ${x.p99.toFixed(3)} ms  (${n} calls)`,
  );

/** A timer process (python-qmp.py's protocol): `batch(n)` adds n round-trip times to `times`. */
async function startTimer(command: string, args: string[]) {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const line = await lines.next();
    if (line.done) throw new Error(`${command} ${args[0]} exited (${child.exitCode})`);
    return line.value;
  };
  if ((await next()) !== "ready") throw new Error(`${command} ${args[0]} did not start`);
  const times: number[] = [];
  return {
    times,
    batch: async (n: number): Promise<void> => {
      child.stdin.write(`${n}\n`);
      times.push(...(JSON.parse(await next()) as number[]));
    },
    stop: () => child.stdin.end(),
  };
}

await startLibvirtd();
const domain = await defineTestDomain(undefined, { paused: true });
try {
  const timerArgs = [domain.name, COMMAND, String(WARMUP)];
  const ours = await bundle("bench/support/qmp-timer.ts", "qmp-timer.mjs");
  const timers = [
    await startTimer(process.execPath, [
      ...AGENT_NODE_OPTIONS,
      ours,
      "qemu:///system",
      ...timerArgs,
    ]),
    await startTimer("/usr/bin/python3", [
      "bench/support/python-qmp.py",
      "qemu:///system",
      ...timerArgs,
    ]),
    await startTimer(process.execPath, [ours, "qemu:///system", ...timerArgs]),
  ] as const;
  for (let round = 0; round < ROUNDS; round++)
    for (let i = 0; i < timers.length; i++) await timers[(round + i) % timers.length]?.batch(BATCH);
  for (const t of timers) t.stop();
  const lv = await LibvirtClient.connect("qemu:///system");
  const dom = await lv.lookupByName(domain.name);

  const virsh: number[] = [];
  const cmd = JSON.stringify({ execute: COMMAND });
  for (let i = 0; i < N_VIRSH; i++) {
    const t0 = performance.now();
    await run("virsh", ["-c", "qemu:///system", "qemu-monitor-command", domain.name, cmd]);
    virsh.push(performance.now() - t0);
  }

  // Each resume/suspend makes QEMU emit RESUME/STOP stamped with its own (realtime) clock.
  const latency: number[] = [];
  const sub = await lv.onQemuMonitorEvent(dom, undefined, (e: QemuMonitorEvent) => {
    if (e.event === "STOP" || e.event === "RESUME")
      latency.push(performance.timeOrigin + performance.now() - e.timestamp);
  });
  for (let i = 0; i < N_EVENTS / 2; i++) {
    await lv.resume(dom);
    await lv.suspend(dom);
  }
  await new Promise((r) => setTimeout(r, 500));
  await sub.close();
  await lv.close();

  const [a, b, aDefault] = timers.map((t) => stats(t.times)) as [Stats, Stats, Stats];
  const c = stats(virsh);
  const ev = stats(latency);
  console.log(`domain ${domain.name} (paused, TCG); command ${COMMAND}; node ${process.version}`);
  console.log(`(a), (b), (a') interleaved: ${ROUNDS} rounds of ${BATCH} calls each`);
  console.log(`the agent's node flags: ${AGENT_NODE_OPTIONS.join(" ")}`);
  show("(a) colo-hybrid RPC client, agent's flags", a, N_FAST);
  show("(b) python3-libvirt (C client)", b, N_FAST);
  show("(a') the same, node's default flags", aDefault, N_FAST);
  show("(c) virsh, one process per call", c, N_VIRSH);
  show("event: QEMU timestamp -> callback", ev, latency.length);
  console.log(
    `qmp round trip, ours/anchor (same run): median ${(a.median / b.median).toFixed(2)}, ` +
      `p99 ${(a.p99 / b.p99).toFixed(2)} (goal <= 1.2 each); ` +
      `virsh/ours median ${(c.median / a.median).toFixed(1)} (goal >= 10)`,
  );
} finally {
  await domain.destroy();
}
