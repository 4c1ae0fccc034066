// The supervisor's pid file is the lock that keeps a domain at one agent. The hook claims it
// for the supervisor it has just spawned; stopping moves it aside (to the stopping file) at once,
// so that the domain's next start gets a new supervisor, which waits for the old one to end.
// A pid file outlives its process when that is killed, and pids get reused: a file counts only
// while it names a live supervisor of its domain.
import {
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { pidFile, RUN_DIR, stoppingFile } from "./paths.js";

/** A supervisor's argv after its script: how the hook starts one, and how it is recognised. */
export function superviseArgs(uuid: string): string[] {
  return ["supervise", "--uuid", uuid];
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/** Whether `pid` is the supervisor of `uuid` (a zombie's cmdline is empty: it is not). */
export function isSupervisor(pid: number, uuid: string): boolean {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
  } catch {
    return false;
  }
  const expected = superviseArgs(uuid);
  return argv.slice(-expected.length).join("\0") === expected.join("\0");
}

function pidIn(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if (errno(e) === "ENOENT") return undefined;
    throw e;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

function liveIn(file: string, uuid: string): number | undefined {
  const pid = pidIn(file);
  return pid !== undefined && isSupervisor(pid, uuid) ? pid : undefined;
}

/** The domain's running supervisor, from its pid file. */
export function runningSupervisor(uuid: string): number | undefined {
  return liveIn(pidFile(uuid), uuid);
}

/** link(2) fails when the name exists: an atomic create of a file already complete. */
function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (e) {
    if (errno(e) === "EEXIST") return false;
    throw e;
  }
}

/**
 * Makes `pid` the domain's supervisor: true when the pid file now names it, false when another
 * live supervisor holds it. A stale pid file is taken over.
 */
export function claim(uuid: string, pid: number): boolean {
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o755 });
  const file = pidFile(uuid);
  const mine = `${RUN_DIR}/.${uuid}.${pid}.new`;
  const aside = `${RUN_DIR}/.${uuid}.${pid}.stale`;
  writeFileSync(mine, `${pid}\n`);
  try {
    if (tryLink(mine, file)) return true;
    if (runningSupervisor(uuid) !== undefined) return false;
    // Stale. Moved aside and looked at again before it is replaced: of two starters that both
    // found it stale, the later one moves the earlier one's fresh file, sees it live and puts
    // it back. (libvirt runs one hook at a time per domain; this is for hooks run by hand.)
    try {
      renameSync(file, aside);
    } catch (e) {
      if (errno(e) !== "ENOENT") throw e;
      return tryLink(mine, file);
    }
    if (liveIn(aside, uuid) !== undefined) {
      tryLink(aside, file);
      return false;
    }
    return tryLink(mine, file);
  } finally {
    rmSync(mine, { force: true });
    rmSync(aside, { force: true });
  }
}

/** Moves the pid file to the stopping file of the supervisor it names, and returns its pid. */
export function markStopping(uuid: string): number | undefined {
  const pid = runningSupervisor(uuid);
  if (pid !== undefined) renameSync(pidFile(uuid), stoppingFile(uuid, pid));
  return pid;
}

/** Supervisors of the domain still stopping; stale stopping files are removed. */
export function stoppingSupervisors(uuid: string): number[] {
  let names: string[];
  try {
    names = readdirSync(RUN_DIR);
  } catch (e) {
    if (errno(e) === "ENOENT") return [];
    throw e;
  }
  const live: number[] = [];
  for (const name of names) {
    if (!name.startsWith(`${uuid}.`) || !name.endsWith(".stopping")) continue;
    const pid = Number(name.slice(uuid.length + 1, -".stopping".length));
    if (isSupervisor(pid, uuid)) live.push(pid);
    else rmSync(`${RUN_DIR}/${name}`, { force: true });
  }
  return live;
}

/** Removes what names `pid`: the pid file while it does, and its stopping file. */
export function release(uuid: string, pid: number): void {
  if (pidIn(pidFile(uuid)) === pid) rmSync(pidFile(uuid), { force: true });
  rmSync(stoppingFile(uuid, pid), { force: true });
}
