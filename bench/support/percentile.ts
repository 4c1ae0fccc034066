// The figures the lab benches print: nearest-rank percentiles, and milliseconds as seconds.

/** The nearest-rank percentile `p` (0–100) of `xs`. */
export function percentile(xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** "2.83 s". */
export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
