// libvirt connection URIs, read as libvirt reads them:
//   driver[+transport]://[user@][host][:port]/path[?param=value&...]
// e.g. qemu:///system, qemu+ssh://root@host2/system?keyfile=/root/.ssh/id, qemu+tls://host2/system.
import { LibvirtError } from "./errors.js";

export type Transport = "unix" | "ssh" | "tls" | "tcp";

export interface LibvirtUri {
  /** As given. */
  uri: string;
  driver: string;
  transport: Transport;
  user: string | undefined;
  host: string | undefined;
  port: number | undefined;
  /** "/system" or "/session". */
  path: string;
  params: ReadonlyMap<string, string>;
  /** What the daemon is asked to open: the URI without transport, host and transport params. */
  daemonUri: string;
}

/** Parameters that steer our side of the connection, not the daemon's driver. */
const TRANSPORT_PARAMS = new Set([
  "socket",
  "keyfile",
  "known_hosts",
  "no_verify",
  "no_tty",
  "netcat",
  "proxy",
  "command",
  "pkipath",
  "name",
  "mode",
]);

/** `uri` with `params` added to its query: parameters kept apart from a URI that is shown. */
export function withParams(uri: string, params: ReadonlyMap<string, string> | undefined): string {
  if (params === undefined || params.size === 0) return uri;
  return `${uri}${uri.includes("?") ? "&" : "?"}${new URLSearchParams([...params]).toString()}`;
}

export function parseLibvirtUri(uri: string): LibvirtUri {
  const bad = (why: string) => new LibvirtError("usage", `invalid libvirt URI '${uri}': ${why}`);
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw bad("not a URI");
  }
  const decode = (part: string, what: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw bad(`bad escape in the ${what}`);
    }
  };
  const [driver, explicit, ...extra] = url.protocol.slice(0, -1).split("+");
  if (!driver || extra.length > 0) throw bad("expected driver[+transport]:");
  const host =
    url.hostname === "" ? undefined : decode(url.hostname.replace(/^\[|\]$/g, ""), "host");
  // libvirt's default: local socket without a host, TLS with one.
  const transport = explicit ?? (host === undefined ? "unix" : "tls");
  if (!["unix", "ssh", "tls", "tcp"].includes(transport)) {
    throw bad(`transport '${transport}' is not supported (unix, ssh, tls, tcp are)`);
  }
  if ((transport === "ssh" || transport === "tls" || transport === "tcp") && host === undefined) {
    throw bad(`${transport} needs a host`);
  }
  const port = url.port === "" ? undefined : Number(url.port);
  const params = new Map(url.searchParams);
  const kept = [...params].filter(([k]) => !TRANSPORT_PARAMS.has(k));
  const query = kept.length > 0 ? `?${new URLSearchParams(kept).toString()}` : "";
  const path = url.pathname === "" ? "/" : decode(url.pathname, "path");
  return {
    uri,
    driver,
    transport: transport as Transport,
    user: url.username === "" ? undefined : decode(url.username, "user"),
    host,
    port,
    path,
    params,
    daemonUri: params.get("name") ?? `${driver}://${path}${query}`,
  };
}
