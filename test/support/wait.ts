// Polls until a condition holds, failing with what was awaited and why the last probe said no.
import { setTimeout as sleep } from "node:timers/promises";

/** A probe answers true when ready; false or a throw means "not yet" (the throw is reported). */
export type Probe = () => boolean | Promise<boolean>;

/** Thrown by a probe when waiting longer cannot help (the process it waits for died). */
export class GiveUp extends Error {
  override name = "GiveUp";
}

export async function waitUntil(
  what: string,
  probe: Probe,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      if (await probe()) return;
      last = "";
    } catch (e) {
      if (e instanceof GiveUp) throw new Error(`gave up waiting for ${what}: ${e.message}`);
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`,
      );
    }
    await sleep(intervalMs);
  }
}
