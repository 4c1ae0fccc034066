// Hands a domain's agent over to what runs it, and returns at once: libvirt waits for its hook,
// and the agent talks to libvirt, so the hook never waits for the agent (nor calls libvirt).
// Under systemd (sd_booted(3)) that is the unit colo-hybrid-agent@INSTANCE.service, which logs
// to journald; elsewhere a detached supervisor (supervise.ts), logging to the domain's file.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { closeSync, existsSync, mkdirSync, openSync, writeSync } from "node:fs";
import { type Level, makeLogger } from "../agent/log.js";
import { LOG_DIR, logFile } from "./paths.js";
import { claim, markStopping, runningSupervisor, superviseArgs } from "./pidfile.js";
import { GO } from "./supervise.js";
import { agentUnit } from "./systemd-escape.js";

export type Action = "start" | "stop";

export function systemdBooted(): boolean {
  return existsSync("/run/systemd/system");
}

/** `systemctl` arguments for the domain's unit: --no-block queues the job and returns. */
export function systemctlArgs(action: Action, uuid: string): string[] {
  return [action, "--no-block", agentUnit(uuid)];
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

/** Starts or stops the domain's agent; `hookBundle` is the script that supervises. */
export async function handOff(
  action: Action,
  domain: string,
  uuid: string,
  hookBundle: string,
): Promise<void> {
  if (systemdBooted()) {
    const args = systemctlArgs(action, uuid);
    const r = spawnSync("systemctl", args, {
      encoding: "utf8",
      stdio: ["ignore", "ignore", "pipe"],
    });
    if (r.error !== undefined) throw r.error;
    if (r.status !== 0) throw new Error(`'systemctl ${args.join(" ")}' failed: ${r.stderr.trim()}`);
    return;
  }
  if (action === "start") await startSupervisor(domain, uuid, hookBundle);
  else stopSupervisor(domain, uuid);
}

async function startSupervisor(domain: string, uuid: string, hookBundle: string): Promise<void> {
  const running = runningSupervisor(uuid);
  if (running !== undefined) {
    appendLog(uuid, domain, "info", `hook: its supervisor (pid ${running}) already runs`);
    return;
  }
  // A daemon: a session of its own, so that nothing sent to the hook's (a terminal's hangup)
  // reaches it, and no hold on the directory it was started in. Its stdout and stderr must not
  // be the hook's: libvirt reads those to their end.
  const log = openLog(uuid);
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [hookBundle, ...superviseArgs(uuid)], {
      detached: true,
      cwd: "/",
      stdio: ["pipe", log, log],
    });
  } finally {
    closeSync(log);
  }
  child.unref();
  await once(child, "spawn");
  const pid = child.pid as number;
  const claimed = claim(uuid, pid);
  child.stdin?.end(claimed ? GO : "");
  appendLog(
    uuid,
    domain,
    "info",
    claimed
      ? `hook: supervisor started (pid ${pid})`
      : "hook: another supervisor was started at the same time; it runs the agent",
  );
}

function stopSupervisor(domain: string, uuid: string): void {
  const pid = markStopping(uuid);
  if (pid === undefined) return;
  process.kill(pid, "SIGTERM");
  appendLog(uuid, domain, "info", `hook: stopping its supervisor (pid ${pid})`);
}
