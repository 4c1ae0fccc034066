// The exponentially weighted mean of COLO checkpoint lengths.
//
// Both variants keep the RFC's raw accumulator, `raw = (1-w)*raw + w*length` starting at 0.
// The seed reports `raw` itself, which is biased low until many samples are in: after n equal
// lengths L it is L*(1-(1-w)^n), 0.83*L after 5 at w=0.3. The corrected variant divides by
// that factor (the bias correction of Adam-style optimisers), so n equal lengths give exactly L.

export interface MeanState {
  raw: number;
  /** Lengths accumulated since the last reset (the RFC's colo_checkpoint_time_count). */
  samples: number;
  /** (1-w)^samples, kept as a product so the hot path needs no Math.pow. */
  decay: number;
}

export const EMPTY_MEAN: MeanState = { raw: 0, samples: 0, decay: 1 };

export function addSample(m: MeanState, weight: number, length: number): MeanState {
  return {
    raw: (1 - weight) * m.raw + weight * length,
    samples: m.samples + 1,
    decay: m.decay * (1 - weight),
  };
}

export function seedEstimate(m: MeanState): number {
  return m.raw;
}

// Rounded to the microsecond (QEMU's timestamp resolution): the division leaves float noise
// that would otherwise put a steady 400 ms at 399.99999999 and below a 400 ms limit.
export function correctedEstimate(m: MeanState): number {
  return m.samples === 0 ? 0 : Math.round((m.raw / (1 - m.decay)) * 1000) / 1000;
}
