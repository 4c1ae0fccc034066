// The agent's own cost at the lab's highest checkpoint rate (colo-period at its 100 ms minimum,
// passive-limit under it as the schema requires, hybrid mode off so the rate stays up): its
// resident memory and its share of one core, read from /proc once a second over a minute, after
// 5 s of settling. The anchor, sampled alike in the same run: an idle Node.js process of the same
// binary (`setInterval` and nothing else), node's own floor of memory; the agent's RSS above it
// is what the agent itself holds. Also each one's RSS by kind (anonymous: the heaps; file: the
// binary's pages), to tell where a difference lies. Needs root; makes its own lab pair.
// Last line: agent RSS, idle node RSS, their difference (goal <= 10 MB), the agent's CPU share
// at the checkpoint rate measured, and agent/idle RSS. Usage: make bench-agent
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { cpuSeconds, labAgent, rssMb, rssParts } from "./support/lab-agent.js";

const SECONDS = 60;
const SETTLE_MS = 5000;
const GOAL_MB = 10;

const lab = await labAgent({ "colo-period": 100, "passive-limit": 50, enabled: false });
const idle = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
try {
  const pid = lab.agent.pid;
  const idlePid = idle.pid as number;
  let checkpoints = 0;
  const sub = await lab.pair.lv.onQemuMonitorEvent(lab.pair.primary.dom, "STOP", () => {
    checkpoints++;
  });
  await sleep(SETTLE_MS); // the agent's start-up is not its steady state, nor node's
  checkpoints = 0;
  const cpu0 = cpuSeconds(pid);
  const idleCpu0 = cpuSeconds(idlePid);
  const t0 = performance.now();
  const agentRss: number[] = [];
  const idleRss: number[] = [];
  for (let i = 0; i < SECONDS; i++) {
    await sleep(1000);
    agentRss.push(rssMb(pid));
    idleRss.push(rssMb(idlePid));
  }
  const seconds = (performance.now() - t0) / 1000;
  const share = (100 * (cpuSeconds(pid) - cpu0)) / seconds;
  const idleShare = (100 * (cpuSeconds(idlePid) - idleCpu0)) / seconds;
  const rate = checkpoints / seconds;
  await sub.close();
  const rss = Math.max(...agentRss);
  const floor = Math.max(...idleRss);
  const parts = (p: ReturnType<typeof rssParts>) =>
    `anon ${p.anon.toFixed(1)}, file ${p.file.toFixed(1)}, shmem ${p.shmem.toFixed(1)} MB`;
  const half = (xs: number[]) => Math.max(...xs.slice(0, xs.length / 2));
  console.log(`checkpoints: ${rate.toFixed(1)}/s over ${seconds.toFixed(0)} s`);
  console.log(
    `agent: RSS max ${rss.toFixed(1)} MB (first half ${half(agentRss).toFixed(1)}, last ${agentRss.at(-1)?.toFixed(1)}); ` +
      `now ${parts(rssParts(pid))}; CPU ${share.toFixed(2)}% of a core`,
  );
  console.log(
    `anchor, an idle node process: RSS max ${floor.toFixed(1)} MB; now ${parts(rssParts(idlePid))}; ` +
      `CPU ${idleShare.toFixed(2)}%`,
  );
  const diff = rss - floor;
  console.log(
    `agent RSS ${rss.toFixed(1)} MB vs idle node ${floor.toFixed(1)} MB: +${diff.toFixed(1)} MB ` +
      `(goal <= ${GOAL_MB} MB: ${diff <= GOAL_MB ? "met" : "missed"}), ${(rss / floor).toFixed(2)}x idle node; ` +
      `CPU ${share.toFixed(2)}% of a core at ${rate.toFixed(1)} checkpoints/s`,
  );
} finally {
  idle.kill();
  await lab.stop();
}
