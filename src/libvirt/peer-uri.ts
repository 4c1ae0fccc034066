// The libvirt URIs a pair's metadata may name for its peer: an allow-list, because the hook and
// the agents run as root and the metadata is written by whoever may define domains. A libvirt URI
// can carry parameters that pick a binary (`command`, `netcat`), a socket, a key, a trust store,
// or turn host verification off (`no_verify`); none of that may come from a domain's XML. How a
// host is reached comes from root's own /etc/colo-hybrid/hosts.conf (hosts-conf.ts).
//
//   qemu:///system                              this host
//   qemu+ssh://[user@]host[:port]/system        ssh
//   qemu+tls://host[:port]/system               tls, the server's certificate verified
//
// No query, fragment, percent-escape, password or other path. Pure: the hook's bundle uses it.
import { isIP } from "node:net";
import { excerpt } from "../input/excerpt.js";

export type PeerTransport = "local" | "ssh" | "tls";

export interface PeerUri {
  uri: string;
  transport: PeerTransport;
  /** ssh only. */
  user: string | undefined;
  /** As written (an IPv6 address without its brackets); undefined for this host. */
  host: string | undefined;
  port: number | undefined;
}

export const LOCAL_PEER_URI = "qemu:///system";

export const PEER_URI_FORMS =
  "qemu:///system, qemu+ssh://[user@]host[:port]/system or qemu+tls://host[:port]/system, " +
  "with no parameters (how a host is reached is set in /etc/colo-hybrid/hosts.conf)";

const REMOTE = /^qemu\+(ssh|tls):\/\/(?:([^@/]*)@)?(\[[^\]/]*\]|[^:/[\]]*)(?::([^/]*))?(\/.*)?$/s;
// A POSIX-portable user name: it goes to ssh as `-l USER`, and a leading '-' is never one.
const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const HOSTNAME = new RegExp(`^(?=.{1,253}$)${LABEL}(\\.${LABEL})*$`);
const PORT = /^[1-9][0-9]{0,4}$/;

/**
 * Why `host` is not a host name or an IP address (IPv6 without brackets); undefined if it is.
 * Either can go into QEMU's options as it is (a comma would start another option).
 */
export function hostProblem(host: string): string | undefined {
  if (isIP(host) !== 0 || (HOSTNAME.test(host) && !/^[0-9.]+$/.test(host))) return undefined;
  return "not a host name or an IP address";
}

type Parsed = { ok: true; value: PeerUri } | { ok: false; why: string };

function parse(uri: string): Parsed {
  const bad = (why: string): Parsed => ({ ok: false, why });
  if (uri === LOCAL_PEER_URI) {
    return {
      ok: true,
      value: { uri, transport: "local", user: undefined, host: undefined, port: undefined },
    };
  }
  if (/[?#]/.test(uri)) return bad("it has parameters or a fragment");
  if (uri.includes("%")) return bad("it has percent-escapes");
  const m = REMOTE.exec(uri);
  if (m === null) return bad("not one of the allowed forms");
  const [, transport = "", user, rawHost = "", port, path] = m;
  if (path !== "/system") return bad(`the path must be /system`);
  if (user !== undefined) {
    if (transport !== "ssh") return bad("only qemu+ssh takes a user");
    if (!USER.test(user)) return bad(`${excerpt(user)} is not a user name`);
  }
  const bracketed = rawHost.startsWith("[");
  const host = bracketed ? rawHost.slice(1, -1) : rawHost;
  if (bracketed ? isIP(host) !== 6 : isIP(host) === 6 || hostProblem(host) !== undefined) {
    return bad(`${excerpt(rawHost)} is not a host name, an IPv4 address or a [IPv6] address`);
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65_535)) {
    return bad(`port ${excerpt(port)} is not 1..65535`);
  }
  return {
    ok: true,
    value: {
      uri,
      transport: transport as PeerTransport,
      user,
      host,
      port: port === undefined ? undefined : Number(port),
    },
  };
}

/** Why `uri` may not name a peer; undefined when it may. */
export function peerUriProblem(uri: string): string | undefined {
  const r = parse(uri);
  return r.ok ? undefined : `uri=${excerpt(uri)} is not allowed (${r.why}): ${PEER_URI_FORMS}`;
}

/** Throws PeerUriError when `uri` is not allowed. */
export function parsePeerUri(uri: string): PeerUri {
  const r = parse(uri);
  if (!r.ok) throw new PeerUriError(peerUriProblem(uri) as string);
  return r.value;
}

export class PeerUriError extends Error {
  override name = "PeerUriError";
}

/** "host host2 (qemu+ssh://root@host2/system)", or "this host (qemu:///system)": for messages. */
export function describePeer(peer: PeerUri): string {
  return peer.host === undefined ? `this host (${peer.uri})` : `host ${peer.host} (${peer.uri})`;
}

/** An address of this host's own: loopback. */
export function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === "::1" || address === "localhost";
}
