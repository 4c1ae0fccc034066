// QMP round trip through libvirt's passthrough, on one paused TCG domain, three ways:
//   (a) colo-hybrid's RPC client (LibvirtClient), one persistent connection;
//   (b) the anchor: libvirt's own C client via python3-libvirt (libvirt_qemu.qemuMonitorCommand),
//       one persistent connection, in a python3 process that runs batches on request;
//   (c) `virsh qemu-monitor-command`, one process per call, as scripts do it.
// (a) and (b) run in the same run, interleaved: ROUNDS rounds of BATCH calls each, which goes
// first alternating, so the host's background load (and libvirtd settling after the domain
// started) falls on both alike rather than on whichever ran first.
// Then event delivery latency: QEMU's own timestamp of STOP/RESUME to our callback.
// Needs root; starts libvirtd (tests' harness) and defines, then removes, its own domain.
// Last line: ours/anchor for the median and the p99 (goal <= 1.2 each) and virsh/ours for the
// median (goal >= 10). Usage: make bench
import { execFile, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import type { QemuMonitorEvent } from "../src/libvirt/api.js";
import { LibvirtClient } from "../src/libvirt/client.js";
import { defineTestDomain, startLibvirtd } from "../test/support/services.js";

const run = promisify(execFile);
const ROUNDS = 20;
const BATCH = 100;
const N_FAST = ROUNDS * BATCH;
const WARMUP = 300;
const N_VIRSH = 100;
const N_EVENTS = 200;
const COMMAND = "query-status";

// The anchor, as bench/support/python-qmp.py times it, kept connected across batches: each
// line "N" on stdin runs N timed calls and answers with their times (ms) as one JSON line.
const ANCHOR = `
import json, sys, time
import libvirt, libvirt_qemu
uri, name, command, warmup = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = libvirt.open(uri)
dom = conn.lookupByName(name)
cmd = json.dumps({"execute": command})
for _ in range(warmup):
    libvirt_qemu.qemuMonitorCommand(dom, cmd, 0)
print("ready", flush=True)
for line in sys.stdin:
    times = []
    for _ in range(int(line)):
        t0 = time.perf_counter()
        libvirt_qemu.qemuMonitorCommand(dom, cmd, 0)
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps(times), flush=True)
conn.close()
`;

function stats(ms: number[]): { median: number; p99: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  return { median: at(0.5), p99: at(0.99) };
}
const show = (label: string, x: { median: number; p99: number }, n: number) =>
  console.log(
    `${label.padEnd(34)} median ${x.median.toFixed(3)} ms  p99 ${x.p99.toFixed(3)} ms  (${n} calls)`,
  );

/** The anchor process: `batch(n)` resolves with n round-trip times. */
async function startAnchor(domainName: string) {
  const py = spawn(
    "/usr/bin/python3",
    ["-c", ANCHOR, "qemu:///system", domainName, COMMAND, String(WARMUP)],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const line = await lines.next();
    if (line.done) throw new Error(`the python3-libvirt anchor exited (${py.exitCode})`);
    return line.value;
  };
  if ((await next()) !== "ready") throw new Error("the python3-libvirt anchor did not start");
  return {
    batch: async (n: number): Promise<number[]> => {
      py.stdin.write(`${n}\n`);
      return JSON.parse(await next()) as number[];
    },
    stop: () => py.stdin.end(),
  };
}

await startLibvirtd();
const domain = await defineTestDomain(undefined, { paused: true });
try {
  const lv = await LibvirtClient.connect("qemu:///system");
  const dom = await lv.lookupByName(domain.name);
  const anchor = await startAnchor(domain.name);

  for (let i = 0; i < WARMUP; i++) await lv.qmp(dom, COMMAND); // JIT, libvirt caches
  const ours: number[] = [];
  const python: number[] = [];
  const oursBatch = async () => {
    for (let i = 0; i < BATCH; i++) {
      const t0 = performance.now();
      await lv.qmp(dom, COMMAND);
      ours.push(performance.now() - t0);
    }
  };
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      await oursBatch();
      python.push(...(await anchor.batch(BATCH)));
    } else {
      python.push(...(await anchor.batch(BATCH)));
      await oursBatch();
    }
  }
  anchor.stop();

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

  const a = stats(ours);
  const b = stats(python);
  const c = stats(virsh);
  const ev = stats(latency);
  console.log(`domain ${domain.name} (paused, TCG); command ${COMMAND}; node ${process.version}`);
  console.log(`(a) and (b) interleaved: ${ROUNDS} rounds of ${BATCH} calls each`);
  show("(a) colo-hybrid RPC client", a, N_FAST);
  show("(b) python3-libvirt (C client)", b, N_FAST);
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
