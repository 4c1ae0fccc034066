// The part of libvirt's RPC protocol colo-hybrid speaks, transcribed from libvirt's
// virnetprotocol.x, virkeepaliveprotocol.x, remote_protocol.x and qemu_protocol.x. Every
// message is described here once; xdr.ts encodes and decodes from these descriptions.
import { type XdrType, xdr } from "./xdr.js";

// ---- framing (virnetprotocol.x) ------------------------------------------------------------
/** Largest message, length word excluded. */
export const MESSAGE_MAX = 16 * 1024 * 1024;
/** Length word plus header. */
export const HEADER_SIZE = 4 + 24;

export const MessageType = { call: 0, reply: 1, message: 2, stream: 3 } as const;
export const MessageStatus = { ok: 0, error: 1, continue: 2 } as const;

export const header = xdr.struct({
  prog: xdr.uint,
  vers: xdr.uint,
  proc: xdr.int,
  type: xdr.int,
  serial: xdr.uint,
  status: xdr.int,
});

// ---- shared types (remote_protocol.x) --------------------------------------------------------
const STRING_MAX = 4 * 1024 * 1024;
const nonnullString = xdr.string(STRING_MAX);
const optionalString = xdr.optional(nonnullString);
export const UUID_SIZE = 16;

export const domainRef = xdr.struct({
  name: nonnullString,
  uuid: xdr.opaque(UUID_SIZE),
  id: xdr.int,
});
const poolRef = xdr.struct({ name: nonnullString, uuid: xdr.opaque(UUID_SIZE) });
const volumeRef = xdr.struct({
  pool: nonnullString,
  name: nonnullString,
  key: nonnullString,
});
const optionalNetwork = xdr.optional(
  xdr.struct({ name: nonnullString, uuid: xdr.opaque(UUID_SIZE) }),
);

export const remoteError = xdr.struct({
  code: xdr.int,
  domain: xdr.int,
  message: optionalString,
  level: xdr.int,
  dom: xdr.optional(domainRef),
  str1: optionalString,
  str2: optionalString,
  str3: optionalString,
  int1: xdr.int,
  int2: xdr.int,
  net: optionalNetwork,
});

// ---- programs --------------------------------------------------------------------------------
export interface Program {
  readonly prog: number;
  readonly vers: number;
}
export const REMOTE: Program = { prog: 0x20008086, vers: 1 };
export const QEMU: Program = { prog: 0x20008087, vers: 1 };
export const KEEPALIVE: Program = { prog: 0x6b656570, vers: 1 };
export const KeepaliveProc = { ping: 1, pong: 2 } as const;

export interface Procedure<A extends XdrType = XdrType, R extends XdrType = XdrType> {
  readonly program: Program;
  readonly proc: number;
  readonly args: A;
  readonly ret: R;
  /** Calls that may wait on QEMU get a longer default timeout. */
  readonly slow?: boolean;
}

const procedure = <A extends XdrType, R extends XdrType>(
  program: Program,
  proc: number,
  args: A,
  ret: R,
  slow = false,
): Procedure<A, R> => ({ program, proc, args, ret, slow });

const dom = { dom: domainRef };
const pool = { pool: poolRef };
const vol = { vol: volumeRef };

/** Feature numbers for connectSupportsFeature (libvirt_internal.h). */
export const Feature = { programKeepalive: 10 } as const;
/** remote_auth_type. */
export const AuthType = { none: 0, sasl: 1, polkit: 2 } as const;

export const procedures = {
  connectOpen: procedure(
    REMOTE,
    1,
    xdr.struct({ name: optionalString, flags: xdr.uint }),
    xdr.void,
  ),
  connectClose: procedure(REMOTE, 2, xdr.void, xdr.void),
  connectGetLibVersion: procedure(REMOTE, 157, xdr.void, xdr.struct({ libVer: xdr.uhyper })),
  connectSupportsFeature: procedure(
    REMOTE,
    60,
    xdr.struct({ feature: xdr.int }),
    xdr.struct({ supported: xdr.int }),
  ),
  connectGetCapabilities: procedure(
    REMOTE,
    7,
    xdr.void,
    xdr.struct({ capabilities: nonnullString }),
    // libvirt probes QEMU binaries that changed since it last looked.
    true,
  ),
  nodeGetFreeMemory: procedure(REMOTE, 102, xdr.void, xdr.struct({ freeMem: xdr.uhyper })),
  authList: procedure(REMOTE, 66, xdr.void, xdr.struct({ types: xdr.array(xdr.int, 20) })),
  authPolkit: procedure(REMOTE, 70, xdr.void, xdr.struct({ complete: xdr.int })),
  domainLookupByName: procedure(REMOTE, 23, xdr.struct({ name: nonnullString }), xdr.struct(dom)),
  domainLookupByUuid: procedure(
    REMOTE,
    24,
    xdr.struct({ uuid: xdr.opaque(UUID_SIZE) }),
    xdr.struct(dom),
  ),
  domainGetXmlDesc: procedure(
    REMOTE,
    14,
    xdr.struct({ ...dom, flags: xdr.uint }),
    xdr.struct({ xml: nonnullString }),
    true,
  ),
  domainDefineXml: procedure(
    REMOTE,
    11,
    xdr.struct({ xml: nonnullString }),
    xdr.struct(dom),
    // libvirt may probe QEMU's capabilities first.
    true,
  ),
  domainUndefine: procedure(REMOTE, 35, xdr.struct(dom), xdr.void),
  domainGetState: procedure(
    REMOTE,
    212,
    xdr.struct({ ...dom, flags: xdr.uint }),
    xdr.struct({ state: xdr.int, reason: xdr.int }),
  ),
  domainSuspend: procedure(REMOTE, 34, xdr.struct(dom), xdr.void, true),
  domainCreateWithFlags: procedure(
    REMOTE,
    196,
    xdr.struct({ ...dom, flags: xdr.uint }),
    xdr.struct(dom),
    true,
  ),
  domainDestroy: procedure(REMOTE, 12, xdr.struct(dom), xdr.void, true),
  domainResume: procedure(REMOTE, 28, xdr.struct(dom), xdr.void, true),
  domainSetMetadata: procedure(
    REMOTE,
    264,
    xdr.struct({
      ...dom,
      type: xdr.int,
      metadata: optionalString,
      key: optionalString,
      uri: optionalString,
      flags: xdr.uint,
    }),
    xdr.void,
    true,
  ),
  domainGetMetadata: procedure(
    REMOTE,
    265,
    xdr.struct({ ...dom, type: xdr.int, uri: optionalString, flags: xdr.uint }),
    xdr.struct({ metadata: nonnullString }),
  ),
  domainGetBlockInfo: procedure(
    REMOTE,
    194,
    xdr.struct({ ...dom, path: nonnullString, flags: xdr.uint }),
    // Allocation first, unlike virDomainBlockInfo.
    xdr.struct({ allocation: xdr.uhyper, capacity: xdr.uhyper, physical: xdr.uhyper }),
    true,
  ),
  // Storage calls that touch the storage itself (mkdir, scans, qemu-img) may take long.
  storagePoolLookupByName: procedure(
    REMOTE,
    84,
    xdr.struct({ name: nonnullString }),
    xdr.struct(pool),
  ),
  storagePoolDefineXml: procedure(
    REMOTE,
    77,
    xdr.struct({ xml: nonnullString, flags: xdr.uint }),
    xdr.struct(pool),
  ),
  storagePoolBuild: procedure(REMOTE, 79, xdr.struct({ ...pool, flags: xdr.uint }), xdr.void, true),
  storagePoolCreate: procedure(
    REMOTE,
    78,
    xdr.struct({ ...pool, flags: xdr.uint }),
    xdr.void,
    true,
  ),
  storagePoolSetAutostart: procedure(
    REMOTE,
    90,
    xdr.struct({ ...pool, autostart: xdr.int }),
    xdr.void,
  ),
  storagePoolRefresh: procedure(
    REMOTE,
    83,
    xdr.struct({ ...pool, flags: xdr.uint }),
    xdr.void,
    true,
  ),
  storagePoolGetInfo: procedure(
    REMOTE,
    87,
    xdr.struct(pool),
    xdr.struct({
      // An unsigned char, which XDR sends as a whole unsigned int.
      state: xdr.uint,
      capacity: xdr.uhyper,
      allocation: xdr.uhyper,
      available: xdr.uhyper,
    }),
  ),
  storageVolCreateXml: procedure(
    REMOTE,
    93,
    xdr.struct({ ...pool, xml: nonnullString, flags: xdr.uint }),
    xdr.struct(vol),
    true,
  ),
  storageVolLookupByPath: procedure(
    REMOTE,
    97,
    xdr.struct({ path: nonnullString }),
    xdr.struct(vol),
  ),
  storageVolGetPath: procedure(REMOTE, 100, xdr.struct(vol), xdr.struct({ name: nonnullString })),
  storageVolDelete: procedure(REMOTE, 94, xdr.struct({ ...vol, flags: xdr.uint }), xdr.void, true),
  domainEventCallbackRegisterAny: procedure(
    REMOTE,
    316,
    xdr.struct({ eventID: xdr.int, dom: xdr.optional(domainRef) }),
    xdr.struct({ callbackID: xdr.int }),
  ),
  domainEventCallbackDeregisterAny: procedure(
    REMOTE,
    317,
    xdr.struct({ callbackID: xdr.int }),
    xdr.void,
  ),
  qemuMonitorCommand: procedure(
    QEMU,
    1,
    xdr.struct({ ...dom, cmd: nonnullString, flags: xdr.uint }),
    xdr.struct({ result: nonnullString }),
    true,
  ),
  qemuMonitorEventRegister: procedure(
    QEMU,
    4,
    xdr.struct({ dom: xdr.optional(domainRef), event: optionalString, flags: xdr.uint }),
    xdr.struct({ callbackID: xdr.int }),
  ),
  qemuMonitorEventDeregister: procedure(QEMU, 5, xdr.struct({ callbackID: xdr.int }), xdr.void),
} as const;

// ---- events the server sends (type message) --------------------------------------------------
export const events = {
  domainLifecycle: {
    program: REMOTE,
    proc: 318,
    msg: xdr.struct({
      callbackID: xdr.int,
      msg: xdr.struct({ ...dom, event: xdr.int, detail: xdr.int }),
    }),
  },
  qemuMonitorEvent: {
    program: QEMU,
    proc: 6,
    msg: xdr.struct({
      callbackID: xdr.int,
      ...dom,
      event: nonnullString,
      seconds: xdr.hyper,
      micros: xdr.uint,
      details: optionalString,
    }),
  },
} as const;

/** virDomainEventID for domainEventCallbackRegisterAny. */
export const DomainEventId = { lifecycle: 0 } as const;
