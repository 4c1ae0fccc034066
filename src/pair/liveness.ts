// When a peer counts as hung. A SIGSTOPped secondary stalls the primary's output without any
// checkpoint starting (COLO waits for the secondary's reply before it stops the primary, and
// colo-compare holds the primary's packets for the secondary's), so the sign to watch is the
// secondary's QEMU not answering; a checkpoint that does not end is the other one.
import type { Params } from "../colo/params.js";

export interface Liveness {
  /** How often the primary's agent asks the secondary's QEMU whether it runs, ms. */
  heartbeatMs: number;
  /** No answer for this long since the last one: the secondary is hung, ms. */
  peerTimeoutMs: number;
  /** A checkpoint (primary STOP → RESUME) longer than this: the pair is hung, ms. */
  checkpointMs: number;
}

export function livenessOf(params: Params): Liveness {
  const peerTimeoutMs = params.peerTimeout;
  return {
    // Asked a quarter of the timeout after each answer: an answer up to three quarters of it
    // late is no hang, and a stall is found within the timeout of the last answer.
    heartbeatMs: Math.max(25, Math.round(peerTimeoutMs / 4)),
    peerTimeoutMs,
    // Pauses are 25–100 ms under TCG; a checkpoint carries at most one period's dirty pages.
    checkpointMs: 4 * peerTimeoutMs,
  };
}
