// The QEMU object and chardev ids of a COLO pair's plumbing (the recipe of QEMU's COLO docs):
// written into the domains by plumbing.ts, removed again on failover by failover.ts; the
// primary's links to the secondary are yanked when the secondary hangs (controller.ts).
export const PRIMARY_OBJECTS = {
  mirror: "m0",
  redirectorIn: "redire0",
  redirectorOut: "redire1",
  iothread: "iothread1",
  compare: "comp0",
} as const;

export const SECONDARY_OBJECTS = {
  redirectorTx: "f1",
  redirectorRx: "f2",
  rewriter: "rew0",
} as const;
export const SECONDARY_CHARDEVS = { mirror: "red0", compare: "red1" } as const;

export const PRIMARY_CHARDEVS = {
  /** To the secondary's red0. */
  mirror: "mirror0",
  /** From the secondary's red1. */
  compare: "compare1",
  compareIn: "compare0",
  compareInClient: "compare0-0",
  compareOut: "compare_out",
  compareOutClient: "compare_out0",
} as const;
