// The supervisor's pid file is the lock that keeps a domain at one agent. A supervisor claims it
// as it starts (and leaves when another holds it); stopping moves it aside (to the stopping file)
// at once, so that the domain's next start gets a new supervisor, which waits for the old one to
// end. A pid file outlives its process when that is killed, and pids get reused: a file counts
// only while it names a live supervisor of its domain (processes.ts).
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { pidFile, RUN_DIR, stoppingFile } from "./paths.js";
import { findOurs, processInfo, runsOurs } from "./processes.js";
import { agentInstance } from "./systemd-escape.js";

/** A supervisor's argv after its script: how the hook starts one, and how it is recognised. */
export function superviseArgs(uuid: string): string[] {
  return ["supervise", "--uuid", uuid];
}

/**
 * node's options for an agent: V8's lite mode (no optimizing compiler) halves the memory an
 * agent adds to node's own, at no CPU cost at its event rates (bench/agent-footprint.ts); it
 * cannot have WebAssembly, which the agent does not use, and says so on stderr unless told. A
 * 1 MB young generation suits its small, short-lived objects. The systemd unit's ExecStart
 * gives the same (test/hook/unit.test.ts checks).
 */
export const AGENT_NODE_OPTIONS: readonly string[] = [
  "--lite-mode",
  "--no-expose-wasm",
  "--max-semi-space-size=1",
];

/**
 * A supervised agent's argv after its script. The instance is the one its systemd unit gets
 * (ExecStart=... --uuid %i); --supervised tells it that fd 3 is its supervisor's lifeline.
 */
export function supervisedAgentArgs(uuid: string): string[] {
  return ["agent", "--supervised", "--uuid", agentInstance(uuid)];
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/** Whether `pid` is the supervisor of `uuid`. */
export function isSupervisor(pid: number, uuid: string): boolean {
  return runsOurs(processInfo(pid), superviseArgs(uuid));
}

export function pidIn(file: string): number | undefined {
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

/** The live supervisor that `file` names, unless it was told to stop. */
function liveIn(file: string, uuid: string): number | undefined {
  const pid = pidIn(file);
  const live = pid !== undefined && isSupervisor(pid, uuid);
  return live && !existsSync(stoppingFile(uuid, pid)) ? pid : undefined;
}

/** The domain's running supervisor, from its pid file; one told to stop does not count. */
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

/**
 * Marks every live supervisor of the domain stopping, and returns their pids: the one in the pid
 * file, and any that has not claimed it yet (the hook starts them in the background) or never
 * will. Then the pid file names none that runs on (or a supervisor that was killed): it is
 * removed, so that the domain's next supervisor takes it and waits for these to end.
 */
export function markStopping(uuid: string): number[] {
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o755 });
  const pids = findOurs(superviseArgs(uuid)).map((p) => p.pid);
  for (const pid of pids) writeFileSync(stoppingFile(uuid, pid), "");
  rmSync(pidFile(uuid), { force: true });
  stoppingSupervisors(uuid); // drops the stopping files of supervisors that are gone
  return pids;
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
