// The agent's own cost at the lab's highest checkpoint rate (colo-period at its 100 ms minimum,
// passive-limit under it as the schema requires, hybrid mode off so the rate stays up): its
// resident memory and its share of one core, read from /proc over a minute. The anchor, measured in the same run: a Node.js process that does
// nothing (node's own floor of memory). Needs root; makes its own lab pair.
// Last line: RSS (goal <= 40 MB) and CPU share (goal <= 1% of a core at 10 checkpoints/s).
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { cpuSeconds, labAgent, rssMb } from "./support/lab-agent.js";

const SECONDS = 60;
const lab = await labAgent({ "colo-period": 100, "passive-limit": 50, enabled: false });
const idle = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
try {
  const pid = lab.agent.pid as number;
  let checkpoints = 0;
  const sub = await lab.pair.lv.onQemuMonitorEvent(lab.pair.primary.dom, "STOP", () => {
    checkpoints++;
  });
  await sleep(5000); // the agent's start-up is not its steady state
  checkpoints = 0;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  let rss = 0;
  for (let i = 0; i < SECONDS; i++) {
    await sleep(1000);
    rss = Math.max(rss, rssMb(pid));
  }
  const seconds = (performance.now() - t0) / 1000;
  const share = (100 * (cpuSeconds(pid) - cpu0)) / seconds;
  const rate = checkpoints / seconds;
  await sub.close();
  const floor = rssMb(idle.pid as number);
  console.log(`checkpoints: ${rate.toFixed(1)}/s over ${seconds.toFixed(0)} s`);
  console.log(`anchor, an idle node process: RSS ${floor.toFixed(1)} MB`);
  console.log(
    `agent: RSS max ${rss.toFixed(1)} MB (goal <= 40 MB, ${(rss / floor).toFixed(2)}x idle node), ` +
      `CPU ${share.toFixed(2)}% of a core at ${rate.toFixed(1)} checkpoints/s (goal <= 1% at 10/s)`,
  );
} finally {
  idle.kill();
  await lab.stop();
}
