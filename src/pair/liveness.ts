// When a peer counts as hung. A SIGSTOPped secondary stalls the primary's output without any
// checkpoint starting (COLO waits for the secondary's reply before it stops the primary, and
// colo-compare holds the primary's packets for the secondary's), so the sign to watch is the
// secondary's QEMU not answering; a checkpoint that does not end is the other one.
import type { Params } from "../colo/params.js";

export interface Liveness {
  /** How long after the secondary's last sign of life the primary's agent asks whether it runs, ms. */
  heartbeatMs: number;
  /** No sign of life for this long, outside a checkpoint: the secondary is hung, ms. */
  peerTimeoutMs: number;
  /** A checkpoint (primary STOP → RESUME) longer than this: the pair is hung, ms. */
  checkpointMs: number;
}

export function livenessOf(params: Params): Liveness {
  const peerTimeoutMs = params.peerTimeout;
  return {
    // Asked half the timeout after the last sign of life (an answer, an event, a checkpoint's
    // end): an answer up to half of it late is no hang, a stall is found within the timeout, and
    // passive mode, whose holds come more often than that, needs no heartbeat at all.
    heartbeatMs: Math.max(25, Math.round(peerTimeoutMs / 2)),
    peerTimeoutMs,
    // Pauses are 25–100 ms under TCG; a checkpoint carries at most one period's dirty pages.
    checkpointMs: 4 * peerTimeoutMs,
  };
}
