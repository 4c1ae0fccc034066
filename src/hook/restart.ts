// When the supervisor restarts its agent, as systemd's Restart=on-failure would, and how long it
// waits first: doubling while the agent keeps failing soon after its start, so that an agent
// that cannot work (libvirt gone, its bus name taken) does not spin.
import { EXIT_CONFIG } from "../agent/exit-status.js";

/** How an agent run ended: its exit status, the signal that ended it, or why it never started. */
export type AgentExit = { code: number } | { signal: NodeJS.Signals } | { error: string };

/** The signals systemd counts as a clean end (SuccessExitStatus's defaults). */
const CLEAN_SIGNALS: readonly string[] = ["SIGHUP", "SIGINT", "SIGTERM", "SIGPIPE"];

export const FIRST_DELAY_MS = 500;
export const MAX_DELAY_MS = 30_000;
/** A run this long was not a failure to start: the next failure waits FIRST_DELAY_MS again. */
export const STABLE_RUN_MS = 60_000;

/** Whether the agent failed in a way that a new start may mend. */
export function failed(exit: AgentExit): boolean {
  if ("code" in exit) return exit.code !== 0 && exit.code !== EXIT_CONFIG;
  if ("signal" in exit) return !CLEAN_SIGNALS.includes(exit.signal);
  return true;
}

/** The wait before the next start, after a failed run of `ranMs` that followed `previousMs`. */
export function restartDelay(previousMs: number | undefined, ranMs: number): number {
  if (previousMs === undefined || ranMs >= STABLE_RUN_MS) return FIRST_DELAY_MS;
  return Math.min(previousMs * 2, MAX_DELAY_MS);
}

export function describeExit(exit: AgentExit): string {
  if ("code" in exit && exit.code === EXIT_CONFIG) {
    return `exited with status ${exit.code} (the domain's configuration is wrong; its log says why)`;
  }
  if ("code" in exit) return `exited with status ${exit.code}`;
  if ("signal" in exit) return `was killed by ${exit.signal}`;
  return `could not start: ${exit.error}`;
}
