// Stopping a domain's agent, from the hook, without waiting for it: libvirt waits for its hook,
// and the agent talks to libvirt, so the hook never waits for the agent (nor calls libvirt).
// Starting is the shell front's (hooks/colo-hybrid.in): no node start on a domain's start.
// Under systemd (sd_booted(3)) the agent is the unit colo-hybrid-agent@INSTANCE.service, which
// logs to journald; elsewhere a detached supervisor (supervise.ts), logging to the domain's file.
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, writeSync } from "node:fs";
import { type Level, makeLogger } from "../agent/log.js";
import { LOG_DIR, logFile } from "./paths.js";
import { isSupervisor, markStopping, supervisedAgentArgs } from "./pidfile.js";
import { findOurs } from "./processes.js";
import { agentUnit } from "./systemd-escape.js";

export function systemdBooted(): boolean {
  return existsSync("/run/systemd/system");
}

/** `systemctl` arguments for stopping the domain's unit: --no-block queues the job and returns. */
export function systemctlStopArgs(uuid: string): string[] {
  return ["stop", "--no-block", agentUnit(uuid)];
}

/** The domain's log file, for appending. It names domains, hence not world-readable. */
function openLog(uuid: string): number {
  mkdirSync(LOG_DIR, { recursive: true, mode: 0o750 });
  return openSync(logFile(uuid), "a", 0o640);
}

/** A line in the domain's log file, in the agent's format. */
export function appendLog(uuid: string, domain: string, level: Level, message: string): void {
  const log = openLog(uuid);
  try {
    makeLogger(domain, { write: (line: string) => writeSync(log, line) })(level, message);
  } finally {
    closeSync(log);
  }
}

/** SIGTERM to `pid`; false when it has ended meanwhile (it was found a moment ago). */
function terminate(pid: number): boolean {
  try {
    process.kill(pid, "SIGTERM");
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw e;
  }
}

/** Stops the domain's agent: its supervisors, and any agent of the domain left without one. */
export function stopAgent(domain: string, uuid: string): void {
  if (systemdBooted()) {
    const args = systemctlStopArgs(uuid);
    const r = spawnSync("systemctl", args, {
      encoding: "utf8",
      stdio: ["ignore", "ignore", "pipe"],
    });
    if (r.error !== undefined) throw r.error;
    if (r.status !== 0) throw new Error(`'systemctl ${args.join(" ")}' failed: ${r.stderr.trim()}`);
    return;
  }
  const supervisors = markStopping(uuid);
  for (const pid of supervisors) {
    if (terminate(pid))
      appendLog(uuid, domain, "info", `hook: stopping its supervisor (pid ${pid})`);
  }
  // A supervisor's agent goes with it (the supervisor may be gone by now, having stopped it);
  // one whose supervisor was killed is found by what it runs.
  for (const { pid, info } of findOurs(supervisedAgentArgs(uuid))) {
    if (supervisors.includes(info.ppid) || isSupervisor(info.ppid, uuid)) continue;
    if (terminate(pid)) {
      appendLog(
        uuid,
        domain,
        "warning",
        `hook: stopping its agent (pid ${pid}), which had no supervisor`,
      );
    }
  }
}
