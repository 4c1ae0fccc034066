// Telling our own processes (supervisors, agents) from others by what /proc says of them. A pid
// file outlives its process and pids are reused, and anyone may start a process whose command
// line ends like ours: it counts only when it runs as root, from the same node binary as we do,
// with our arguments.
import { readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";

export interface ProcessInfo {
  argv: string[];
  /** Real and effective uid. */
  uid: number;
  euid: number;
  ppid: number;
  /** The executable, as /proc/PID/exe names it (" (deleted)" once it was replaced). */
  exe: string;
}

/** What /proc says of a live process; undefined when there is none, or it is a zombie. */
export function processInfo(pid: number): ProcessInfo | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "";
    if (/^[ZX]/.test(field("State"))) return undefined;
    const [uid = -1, euid = -1] = field("Uid").split(/\s+/).map(Number);
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
    const exe = readlinkSync(`/proc/${pid}/exe`);
    return { argv, uid, euid, ppid: Number(field("PPid")), exe };
  } catch {
    return undefined;
  }
}

let ownNode: string | undefined;

/** Whether `info` is a root process of our node binary whose argv ends with `tail`. */
export function runsOurs(info: ProcessInfo | undefined, tail: readonly string[]): boolean {
  if (info === undefined || info.uid !== 0 || info.euid !== 0) return false;
  ownNode ??= realpathSync(process.execPath);
  if (info.exe.replace(/ \(deleted\)$/, "") !== ownNode) return false;
  const end = info.argv.slice(-tail.length);
  return end.length === tail.length && end.every((a, i) => a === tail[i]);
}

/** Live processes whose argv ends with `tail` (as runsOurs judges them), with their info. */
export function findOurs(tail: readonly string[]): { pid: number; info: ProcessInfo }[] {
  const found: { pid: number; info: ProcessInfo }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const info = processInfo(pid);
    if (info !== undefined && runsOurs(info, tail)) found.push({ pid, info });
  }
  return found;
}
