// Passive mode's cost per checkpoint: from the secondary's RESUME (COLO resumed it after
// loading a checkpoint) to its STOP (the agent's `stop` done), both stamped by the secondary's
// QEMU. The anchor, measured in the same run: a bare QMP round trip to the same QEMU through
// libvirt (query-status), the least any `stop` can cost. Needs root; makes its own lab pair.
// Last line: the p99 (goal <= 5 ms). Usage: make bench
import type { QemuMonitorEvent } from "../src/libvirt/api.js";
import { runLoad } from "../test/lab/load.js";
import { labAgent, percentile } from "./support/lab-agent.js";

const SECONDS = 60;
const lab = await labAgent({ "colo-period": 3000, "passive-count": 100_000 });
try {
  const { lv, secondary } = lab.pair;
  const held: number[] = [];
  // How late events reach a libvirt client here: the agent gets them no sooner.
  const delivery: number[] = [];
  let resumed: number | undefined;
  const sub = await lv.onQemuMonitorEvent(secondary.dom, undefined, (e: QemuMonitorEvent) => {
    delivery.push(Date.now() - e.timestamp);
    if (e.event === "RESUME") resumed = e.timestamp;
    else if (e.event === "STOP" && resumed !== undefined) {
      held.push(e.timestamp - resumed);
      resumed = undefined;
    }
  });
  // Divergent load puts the pair in passive mode within seconds; the spell outlasts the run.
  await runLoad({
    port: lab.pair.port,
    phases: [{ kind: "divergent", seconds: SECONDS, rate: 2 }],
    maxRequests: 2 * SECONDS,
    timeoutMs: (SECONDS + 30) * 1000,
  });
  await sub.close();
  // Only the held checkpoints: a STOP that follows its RESUME within a second.
  const stops = held.filter((ms) => ms < 1000);

  const anchor: number[] = [];
  for (let i = 0; i < 500; i++) {
    const t0 = performance.now();
    await lv.qmp(secondary.dom, "query-status");
    anchor.push(performance.now() - t0);
  }
  const p = (xs: number[], q: number) => percentile(xs, q).toFixed(2);
  console.log(
    `secondary held ${stops.length} times: RESUME -> STOP median ${p(stops, 0.5)} ms, p99 ${p(stops, 0.99)} ms, max ${p(stops, 1)} ms`,
  );
  console.log(
    `event delivery, QEMU's timestamp to a libvirt client: median ${p(delivery, 0.5)} ms, p99 ${p(delivery, 0.99)} ms`,
  );
  console.log(
    `anchor, QMP query-status round trip: median ${p(anchor, 0.5)} ms, p99 ${p(anchor, 0.99)} ms`,
  );
  console.log(
    `checkpoint -> secondary stop acknowledged: p99 ${p(stops, 0.99)} ms (goal <= 5 ms), ` +
      `${(percentile(stops, 0.99) / percentile(anchor, 0.99)).toFixed(1)}x the QMP round trip's p99`,
  );
} finally {
  await lab.stop();
}
