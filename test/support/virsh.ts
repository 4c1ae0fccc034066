// virsh as the tests' reference client: the system's own tool, in the C locale so that its
// messages read the same everywhere.
import { type RunResult, run } from "./exec.js";

export const SYSTEM_URI = "qemu:///system";

export interface VirshOptions {
  uri?: string;
  timeoutMs?: number;
}

export function virsh(args: readonly string[], opts: VirshOptions = {}): Promise<RunResult> {
  return run("virsh", ["-c", opts.uri ?? SYSTEM_URI, ...args], {
    timeoutMs: opts.timeoutMs ?? 60_000,
    env: { ...process.env, LC_ALL: "C" },
  });
}
