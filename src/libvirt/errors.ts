// Errors from libvirt access. A libvirt error keeps libvirt's own code and message, so the
// agent and CLI can show exactly what virsh would.
import type { DomainRef, Libvirt } from "./api.js";

export type LibvirtErrorKind =
  /** libvirt said no; `code` and `domain` are libvirt's (virterror.h). */
  | "libvirt"
  /** The connection is down or could not be made. */
  | "connection"
  /** No answer in time. */
  | "timeout"
  /** The server sent something that is not libvirt's protocol. */
  | "protocol"
  /** Our caller's mistake: a bad URI, a bad argument. */
  | "usage";

/** virErrorNumber values callers branch on. */
export const ErrorCode = {
  internal: 1,
  noConnect: 5,
  invalidArg: 8,
  operationFailed: 9,
  noSupport: 3,
  rpc: 39,
  noDomain: 42,
  authFailed: 45,
  noStoragePool: 49,
  noStorageVolume: 50,
  operationInvalid: 55,
  operationTimeout: 68,
  noDomainMetadata: 80,
} as const;

export class LibvirtError extends Error {
  constructor(
    readonly kind: LibvirtErrorKind,
    message: string,
    readonly code?: number,
    readonly domain?: number,
  ) {
    super(message);
    this.name = "LibvirtError";
  }

  static fromRemote(e: { code: number; domain: number; message: string | null }): LibvirtError {
    return new LibvirtError(
      "libvirt",
      e.message ?? `libvirt error code ${e.code}`,
      e.code,
      e.domain,
    );
  }
}

/** QEMU answered a QMP command with an error. */
export class QmpError extends Error {
  constructor(
    readonly errorClass: string,
    readonly desc: string,
    readonly command: string,
  ) {
    super(`${command}: ${errorClass}: ${desc}`);
    this.name = "QmpError";
  }
}

/** The value of `call`, or undefined where libvirt answers that the thing is not there (`code`). */
export async function unlessAbsent<T>(call: Promise<T>, code: number): Promise<T | undefined> {
  try {
    return await call;
  } catch (e) {
    if (e instanceof LibvirtError && e.code === code) return undefined;
    throw e;
  }
}

/** The domain of that name, or undefined when the host has none. */
export async function findDomain(lv: Libvirt, name: string): Promise<DomainRef | undefined> {
  try {
    return await lv.lookupByName(name);
  } catch (e) {
    if (e instanceof LibvirtError && e.code === ErrorCode.noDomain) return undefined;
    throw e;
  }
}
