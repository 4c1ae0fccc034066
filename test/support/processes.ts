// Process liveness from /proc. PID 1 here does not reap, so a daemon that exited can linger as
// a zombie: kill(pid, 0) still succeeds for it, its /proc state says Z.
import { readdirSync, readFileSync } from "node:fs";
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

/** Fields of /proc/PID/stat after "(comm)": state, ppid, pgrp, ...; undefined when gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** The parent of a live process, or undefined. */
export function parentPid(pid: number): number | undefined {
  const ppid = statFields(pid)?.[1];
  return ppid === undefined ? undefined : Number(ppid);
}

/** Live pids, from /proc. */
export function livePids(): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter(isAlive);
}

/**
 * Live members of process group `pgid`: a daemon started detached and what it started, such as
 * cockpit-ws, its bridges and what each bridge starts for its session, which outlive the bridge.
 */
export function processGroup(pgid: number): number[] {
  return livePids().filter((pid) => Number(statFields(pid)?.[2]) === pgid);
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

/** Live processes running a file under `dir` (an argument starts with it): pid and argv. */
export function processesRunning(dir: string): { pid: number; argv: string[] }[] {
  return livePids().flatMap((pid) => {
    const argv = commandLine(pid);
    return argv?.some((a) => a.startsWith(`${dir}/`)) ? [{ pid, argv }] : [];
  });
}
