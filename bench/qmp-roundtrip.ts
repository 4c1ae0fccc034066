// QMP round trip through libvirt's passthrough, on one paused TCG domain, three ways:
//   (a) colo-hybrid's RPC client (LibvirtClient), one persistent connection;
//   (b) the anchor: libvirt's own C client via python3-libvirt (libvirt_qemu.qemuMonitorCommand),
//       one persistent connection;
//   (c) `virsh qemu-monitor-command`, one process per call, as scripts do it.
// Then event delivery latency: QEMU's own timestamp of STOP/RESUME to our callback.
// Needs root; starts libvirtd (tests' harness) and defines, then removes, its own domain.
// Last line: the ratios a/b (goal <= 1.2) and c/a (goal >= 10). Usage: make bench
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { QemuMonitorEvent } from "../src/libvirt/api.js";
import { LibvirtClient } from "../src/libvirt/client.js";
import { defineTestDomain, startLibvirtd } from "../test/support/services.js";

const run = promisify(execFile);
const N_FAST = 2000;
const N_VIRSH = 100;
const N_EVENTS = 200;
const COMMAND = "query-status";

function stats(ms: number[]): { median: number; p99: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  return { median: at(0.5), p99: at(0.99) };
}
const show = (label: string, x: { median: number; p99: number }, n: number) =>
  console.log(
    `${label.padEnd(34)} median ${x.median.toFixed(3)} ms  p99 ${x.p99.toFixed(3)} ms  (${n} calls)`,
  );

await startLibvirtd();
const domain = await defineTestDomain(undefined, { paused: true });
try {
  const lv = await LibvirtClient.connect("qemu:///system");
  const dom = await lv.lookupByName(domain.name);

  for (let i = 0; i < 300; i++) await lv.qmp(dom, COMMAND); // warm-up: JIT, libvirt caches
  const ours: number[] = [];
  for (let i = 0; i < N_FAST; i++) {
    const t0 = performance.now();
    await lv.qmp(dom, COMMAND);
    ours.push(performance.now() - t0);
  }

  const py = await run("/usr/bin/python3", [
    "bench/support/python-qmp.py",
    "qemu:///system",
    domain.name,
    COMMAND,
    String(N_FAST),
  ]);
  const python = JSON.parse(py.stdout) as number[];

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
  show("(a) colo-hybrid RPC client", a, N_FAST);
  show("(b) python3-libvirt (C client)", b, N_FAST);
  show("(c) virsh, one process per call", c, N_VIRSH);
  show("event: QEMU timestamp -> callback", ev, latency.length);
  console.log(
    `qmp round trip: a/b ${(a.median / b.median).toFixed(2)} (goal <= 1.2), ` +
      `c/a ${(c.median / a.median).toFixed(1)} (goal >= 10); medians ${a.median.toFixed(3)} / ` +
      `${b.median.toFixed(3)} / ${c.median.toFixed(1)} ms`,
  );
} finally {
  await domain.destroy();
}
