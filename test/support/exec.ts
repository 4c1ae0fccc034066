// Runs a host command with an argv array (never a shell string) and a time limit; a failure
// names the command and carries its stderr, which is where the tools say what went wrong.
import { execFile } from "node:child_process";

export interface RunOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** PATH of a service started by init: not the test runner's. */
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The environment daemons start with, as an init system would give them (no NODE_OPTIONS etc.). */
export const DAEMON_ENV: NodeJS.ProcessEnv = { PATH: SYSTEM_PATH, LANG: "C.UTF-8" };

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    /** "exited with status 1", "timed out after 30000 ms", "failed (ENOENT)". */
    readonly reason: string,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    const output = stderr.trim() || stdout.trim();
    super(`'${argv.join(" ")}' ${reason}${output ? `:\n${output}` : ""}`);
    this.name = "CommandError";
  }
}

export function run(
  file: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        timeout: timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: 64 * 1024 * 1024,
        encoding: "utf8",
        env: opts.env ?? process.env,
      },
      (error, stdout, stderr) => {
        if (!error) return resolve({ stdout, stderr });
        // execFile marks a timeout by the kill it sent; anything else has an exit code or errno.
        const reason = error.killed
          ? `timed out after ${timeoutMs} ms`
          : typeof error.code === "number"
            ? `exited with status ${error.code}`
            : `failed (${error.code ?? error.signal ?? error.message})`;
        reject(new CommandError([file, ...args], reason, stdout, stderr));
      },
    );
  });
}
