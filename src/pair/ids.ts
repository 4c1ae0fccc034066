// The QEMU object and chardev ids of a COLO pair's plumbing (the recipe of QEMU's COLO docs):
// written into the domains by plumbing.ts, removed again on failover by failover.ts and by pair
// remove (unpair.ts); the primary's links to the secondary are yanked when the secondary hangs
// (controller.ts). Every NIC has its own set; the first NIC's are the recipe's own names, which
// pairs made when pair create took one NIC only have.

/** colo-compare's IOThread: one per pair, every NIC's colo-compare runs in it. */
export const COMPARE_IOTHREAD = "iothread1";

const FIRST_NIC = {
  primaryObjects: {
    mirror: "m0",
    redirectorIn: "redire0",
    redirectorOut: "redire1",
    compare: "comp0",
  },
  primaryChardevs: {
    /** To the secondary's red0. */
    mirror: "mirror0",
    /** From the secondary's red1. */
    compare: "compare1",
    compareIn: "compare0",
    compareInClient: "compare0-0",
    compareOut: "compare_out",
    compareOutClient: "compare_out0",
  },
  secondaryObjects: { redirectorTx: "f1", redirectorRx: "f2", rewriter: "rew0" },
  secondaryChardevs: { mirror: "red0", compare: "red1" },
} as const;

type Ids<T> = { readonly [K in keyof T]: string };
export type NicIds = { readonly [G in keyof typeof FIRST_NIC]: Ids<(typeof FIRST_NIC)[G]> };

const suffixed = <T extends Record<string, string>>(ids: T, suffix: string): Ids<T> =>
  Object.fromEntries(Object.entries(ids).map(([k, id]) => [k, `${id}${suffix}`])) as Ids<T>;

/**
 * The ids of NIC `n` (counted from 0 in <interface> order): the recipe's for NIC 0, and the same
 * with "-nicN" appended for the others ("m0-nic1", "red1-nic1"). A suffix, not a new number:
 * the recipe's names already end in digits that mean something else (red0 and red1 are one NIC's).
 */
export function nicIds(n: number): NicIds {
  if (n === 0) return FIRST_NIC;
  const suffix = `-nic${n}`;
  return {
    primaryObjects: suffixed(FIRST_NIC.primaryObjects, suffix),
    primaryChardevs: suffixed(FIRST_NIC.primaryChardevs, suffix),
    secondaryObjects: suffixed(FIRST_NIC.secondaryObjects, suffix),
    secondaryChardevs: suffixed(FIRST_NIC.secondaryChardevs, suffix),
  };
}

/** NICs 0..count-1's ids. */
export function allNicIds(count: number): NicIds[] {
  return Array.from({ length: count }, (_, n) => nicIds(n));
}

/**
 * How many NICs a side's plumbing covers, from its objects as ColoPlumbing lists them
 * ("colo-compare,id=comp0"): NIC n is there when its colo-compare (primary) or filter-rewriter
 * (secondary) is. At least 1: every pair has NIC 0, and whatever is left of its plumbing (one
 * half-removed by hand) is still to be removed.
 */
export function plumbedNics(objects: readonly string[]): number {
  const ids = new Set(objects.map((o) => /,id=(.*)$/.exec(o)?.[1]));
  const there = (n: number) =>
    ids.has(nicIds(n).primaryObjects.compare) || ids.has(nicIds(n).secondaryObjects.rewriter);
  let n = 1;
  while (there(n)) n++;
  return n;
}
