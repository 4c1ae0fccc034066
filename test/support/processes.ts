// Process liveness from /proc. PID 1 here does not reap, so a daemon that exited can linger as
// a zombie: kill(pid, 0) still succeeds for it, its /proc state says Z.
import { readFileSync } from "node:fs";
import { waitUntil } from "./wait.js";

/** The state letter of /proc/PID/stat (R, S, D, Z, ...), or undefined when there is no such pid. */
function processState(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "PID (comm) S ...": comm may hold spaces and parentheses, the state follows the last ")".
  const end = stat.lastIndexOf(")");
  return stat.charAt(end + 2);
}

export function isAlive(pid: number): boolean {
  const state = processState(pid);
  return state !== undefined && state !== "Z" && state !== "X";
}

/** argv of a live process, or undefined. */
export function commandLine(pid: number): string[] | undefined {
  if (!isAlive(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
  } catch {
    return undefined;
  }
}

/** The pid a daemon wrote to its pid file, when that process is alive and is that program. */
export function daemonPid(pidFile: string, program: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidFile, "utf8"), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  // A stale pid file may name a pid reused by something else.
  const argv0 = commandLine(pid)?.[0];
  return argv0 !== undefined && argv0.split("/").at(-1) === program ? pid : undefined;
}

export function waitGone(pid: number, what: string, timeoutMs: number): Promise<void> {
  return waitUntil(`${what} (pid ${pid}) to exit`, () => !isAlive(pid), timeoutMs, 50);
}
