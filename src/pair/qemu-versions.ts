// What colo-hybrid does differently by QEMU version, in one place. Supported: Debian 12's 7.2
// (where the lab runs) up to current QEMU.
export interface QemuVersion {
  major: number;
  minor: number;
  /** Unknown when only X.Y was given (pair create's --qemu-version). */
  micro?: number;
}

export function atLeast(v: QemuVersion, major: number, minor: number, micro = 0): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return (v.micro ?? 0) >= micro;
}

/** From 8.1 the secondary must set the x-colo capability itself; before, the stream tells it. */
export const secondaryNeedsXColo = (v: QemuVersion) => atLeast(v, 8, 1);

/** The secondary's chardevs keep dialling the primary: 9.2 renamed the option. */
export const reconnectOption = (v: QemuVersion) =>
  atLeast(v, 9, 2) ? "reconnect-ms=1000" : "reconnect=1";

/**
 * Before 9.0, TCG loses pages that a guest writes while its migration reads the dirty bitmap
 * (upstream commit 03bfc2188f): a COLO primary under TCG is not copied whole unless its guest is
 * stopped (and 7.2's deadlocks at its first checkpoint). KVM is not affected.
 */
export const tcgLosesDirtyPages = (v: QemuVersion) => !atLeast(v, 9, 0);

/**
 * 10.0 and 10.1 end the migration "completed" instead of entering COLO (upstream regression
 * "migration: Always set DEVICE state"; fixed in 10.2.0 and 10.0.7). Without a micro version,
 * 10.0 is taken as affected.
 */
export const neverEntersColo = (v: QemuVersion) =>
  v.major === 10 && (v.minor === 1 || (v.minor === 0 && !atLeast(v, 10, 0, 7)));

/** Said where a pair does not enter COLO because of it. */
export const NEVER_ENTERS_COLO =
  'a regression of QEMU 10.0 and 10.1, "migration: Always set DEVICE state", fixed in 10.2.0 and 10.0.7';
