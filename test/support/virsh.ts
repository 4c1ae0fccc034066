// virsh as the tests' reference client: the system's own tool, in the C locale so that its
// messages read the same everywhere.
import { type RunResult, run } from "./exec.js";

export const SYSTEM_URI = "qemu:///system";

export interface VirshOptions {
  uri?: string;
  timeoutMs?: number;
  /** Run as this user, with their groups (default: root, as the tests run). */
  user?: string;
}

export function virsh(args: readonly string[], opts: VirshOptions = {}): Promise<RunResult> {
  const argv = ["virsh", "-c", opts.uri ?? SYSTEM_URI, ...args];
  const as = opts.user ?? "root";
  const setpriv = [`--reuid=${as}`, `--regid=${as}`, "--init-groups", "--"];
  const [file = "", ...rest] = opts.user === undefined ? argv : ["setpriv", ...setpriv, ...argv];
  return run(file, rest, {
    timeoutMs: opts.timeoutMs ?? 60_000,
    env: { ...process.env, LC_ALL: "C" },
  });
}
