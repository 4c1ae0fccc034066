// One domain's agent, supervised, where systemd does not run: what colo-hybrid-agent@.service
// does under systemd. The hook starts the supervisor in the background and returns; the
// supervisor claims the domain's pid file (pidfile.ts) and leaves at once when another holds it.
// The agent is restarted when it fails (restart.ts); on SIGTERM the supervisor forwards it to the
// agent, waits for it to end (it restores the domain's COLO settings first), and exits. The agent
// runs in its own process group, which gets SIGKILL when it outstays STOP_TIMEOUT_MS, as
// KillMode=mixed and TimeoutStopSec do under systemd.
//
// stdout and stderr are the domain's log file, which the agent inherits. The agent's fd 3 is a
// pipe whose other end only the supervisor holds: if the supervisor dies (SIGKILL), the agent
// sees the pipe end and leaves, rather than run on unsupervised for good.
import { type ChildProcess, spawn } from "node:child_process";
import { makeLogger } from "../agent/log.js";
import { pidFile } from "./paths.js";
import { claim, pidIn, release, stoppingSupervisors } from "./pidfile.js";
import { type AgentExit, describeExit, failed, restartDelay } from "./restart.js";

/** As TimeoutStopSec in the unit. */
export const STOP_TIMEOUT_MS = 30_000;
const PREDECESSOR_POLL_MS = 200;

export async function supervise(uuid: string, agentArgv: readonly string[]): Promise<void> {
  const logger = makeLogger(uuid);
  const log: typeof logger = (level, message) => logger(level, `supervisor: ${message}`);
  const [command = "", ...args] = agentArgv;
  let stopping = false;
  let agent: ChildProcess | undefined;
  /** Ends the current pause early. */
  let wake: (() => void) | undefined;

  // Before anything else: a stop may come while node is still starting up.
  process.on("SIGTERM", () => {
    if (stopping) return;
    stopping = true;
    const running = agent;
    if (running?.pid !== undefined) {
      log("info", `SIGTERM: stopping the agent (pid ${running.pid})`);
      running.kill("SIGTERM");
      const pid = running.pid;
      setTimeout(() => {
        log("warning", `the agent did not stop within ${STOP_TIMEOUT_MS} ms: SIGKILL`);
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // Its group ended meanwhile: the agent's exit is on its way.
        }
      }, STOP_TIMEOUT_MS).unref();
    }
    wake?.();
  });

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const runAgent = () =>
    new Promise<AgentExit>((resolve) => {
      const child = spawn(command, args, {
        stdio: ["ignore", "inherit", "inherit", "pipe"],
        detached: true,
      });
      agent = child;
      if (child.pid !== undefined) log("info", `agent started (pid ${child.pid})`);
      child.once("error", (e) => resolve({ error: e.message }));
      child.once("exit", (code, signal) =>
        resolve(signal === null ? { code: code ?? 0 } : { signal }),
      );
    }).finally(() => {
      agent?.stdio[3]?.destroy();
      agent = undefined;
    });

  if (!claim(uuid, process.pid)) {
    log("info", `another supervisor (pid ${pidIn(pidFile(uuid))}) runs the agent; leaving`);
    return;
  }
  try {
    log("info", `started (pid ${process.pid}): ${agentArgv.join(" ")}`);
    for (let waited = false; !stopping; waited = true) {
      const before = stoppingSupervisors(uuid);
      if (before.length === 0) break;
      if (!waited) log("info", `waiting for the previous one (pid ${before.join(", ")}) to stop`);
      await pause(PREDECESSOR_POLL_MS);
    }
    let delay: number | undefined;
    while (!stopping) {
      const started = performance.now();
      const exit = await runAgent();
      if (stopping) {
        log("info", `agent ${describeExit(exit)}; exiting`);
        break;
      }
      if (!failed(exit)) {
        log("info", `agent ${describeExit(exit)}; not restarted`);
        break;
      }
      delay = restartDelay(delay, performance.now() - started);
      log("warning", `agent ${describeExit(exit)}; restarting it in ${delay} ms`);
      await pause(delay);
    }
  } finally {
    release(uuid, process.pid);
  }
}
