// `make demo`'s steps as a newcomer runs them (demo/main.ts), and what its agent's history says:
// for demo.test.ts (this host) and demo-hosts.test.ts (lab hosts).
import { COMMAND, DOMAIN } from "../../demo/names.js";
import type { HistoryEntry } from "../../src/agent/status.js";
import { DAEMON_ENV, type RunResult, run } from "../support/exec.js";

export const runDemo = (...args: string[]): Promise<RunResult> =>
  run(process.execPath, ["node_modules/tsx/dist/cli.mjs", "demo/main.ts", ...args], {
    timeoutMs: 600_000,
  });

/** The mode changes in the primary's agent's history, as `colo-hybrid status` gives it. */
export async function demoTransitions(): Promise<string[]> {
  const { stdout } = await run(COMMAND, ["status", DOMAIN, "--json"], { env: DAEMON_ENV });
  const history = (JSON.parse(stdout) as { History: HistoryEntry[] }).History;
  return history.filter((h) => h.kind === "transition").map((h) => h.message);
}
