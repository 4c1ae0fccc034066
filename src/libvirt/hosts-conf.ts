// /etc/colo-hybrid/hosts.conf: how this host reaches its COLO peers. Domain XML names a peer by
// an allow-listed URI only (peer-uri.ts); whatever picks a binary, a key, a trust store, or turns
// verification off is root's to say, here. The file is refused unless root owns it and its
// directory and nobody else may write either.
//
//   # one section per peer host, named as in the peer URIs
//   [host2.example.org]
//   keyfile = /root/.ssh/id_colo               ssh: identity file
//   known_hosts = /etc/colo-hybrid/known_hosts ssh: the pinned host keys
//   pkipath = /etc/colo-hybrid/pki/host2       tls: cacert.pem, clientcert.pem, clientkey.pem
//   address = 10.1.0.2                         where QEMU sends the replication stream (default:
//                                              the host itself)
//
// Also: command (the ssh binary, root's own), proxy (auto, netcat or native), netcat and socket
// (on the peer's host), no_verify (1: do not verify the peer's host key or certificate).
import { readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { excerpt } from "../input/excerpt.js";
import { hostProblem } from "./peer-uri.js";

export const HOSTS_CONF = "/etc/colo-hybrid/hosts.conf";

/** What the file says of one host: libvirt's URI parameters, and the replication address. */
export interface HostConfig {
  /** libvirt URI parameters (keyfile, known_hosts, pkipath, no_verify, command, proxy, ...). */
  params: ReadonlyMap<string, string>;
  address: string | undefined;
}

export const NO_CONFIG: HostConfig = { params: new Map(), address: undefined };

export class HostsConfError extends Error {
  override name = "HostsConfError";
}

const ABSOLUTE = /^\/[^\p{Cc}]*$/u;
const COMMAND = /^[A-Za-z0-9_./+-]+$/;

/** Each key, and why a value is wrong (undefined when it is right). */
const KEYS: ReadonlyMap<string, (v: string) => string | undefined> = new Map([
  ["keyfile", absolute],
  ["known_hosts", absolute],
  ["pkipath", absolute],
  ["socket", absolute],
  ["command", absolute],
  ["netcat", (v: string) => (COMMAND.test(v) ? undefined : "a command name or an absolute path")],
  [
    "proxy",
    (v: string) =>
      ["auto", "netcat", "native"].includes(v) ? undefined : "auto, netcat or native",
  ],
  ["no_verify", (v: string) => (v === "0" || v === "1" ? undefined : "0 or 1")],
  ["address", (v: string) => hostProblem(v)],
]);

function absolute(v: string): string | undefined {
  return ABSOLUTE.test(v) ? undefined : "an absolute path";
}

/** Reads the file's text: every problem, each with its line, or the hosts by lowercase name. */
export function parseHostsConf(text: string, file = HOSTS_CONF): Map<string, HostConfig> {
  const hosts = new Map<string, HostConfig>();
  const problems: string[] = [];
  let current: { params: Map<string, string>; address: string | undefined } | undefined;
  text.split("\n").forEach((raw, i) => {
    const at = `${file}:${i + 1}`;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const section = /^\[(.*)\]$/.exec(line);
    if (section) {
      const host = (section[1] ?? "").trim();
      const bracketed = /^\[(.*)\]$/.exec(host)?.[1];
      const name = (bracketed ?? host).toLowerCase();
      if (hostProblem(name) !== undefined) {
        problems.push(`${at}: [${excerpt(host)}] is not a host name or an IP address`);
        current = undefined;
      } else if (hosts.has(name)) {
        problems.push(`${at}: host ${name} has a section already`);
        current = undefined;
      } else {
        current = { params: new Map(), address: undefined };
        hosts.set(name, current);
      }
      return;
    }
    const eq = line.indexOf("=");
    if (eq < 0) {
      problems.push(`${at}: expected [HOST] or KEY = VALUE, got ${excerpt(line)}`);
      return;
    }
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const check = KEYS.get(key);
    if (check === undefined) {
      problems.push(`${at}: unknown key ${excerpt(key)} (known: ${[...KEYS.keys()].join(", ")})`);
      return;
    }
    const why = check(value);
    if (why !== undefined) {
      problems.push(`${at}: ${key} = ${excerpt(value)}: ${why}`);
      return;
    }
    if (current === undefined) {
      if (hosts.size === 0) problems.push(`${at}: ${key} before any [HOST] section`);
      return;
    }
    if (key === "address") current.address = value;
    else if (current.params.has(key)) problems.push(`${at}: ${key} given twice`);
    else current.params.set(key, value);
  });
  if (problems.length > 0) throw new HostsConfError(problems.join("\n"));
  return hosts;
}

/** Why root cannot trust `path` (a file, or its directory); undefined when it can. */
function trustProblem(path: string, kind: "file" | "directory"): string | undefined {
  const s = statSync(path);
  if (kind === "file" ? !s.isFile() : !s.isDirectory()) return `${path} is not a ${kind}`;
  if (s.uid !== 0) return `${path} is owned by uid ${s.uid}, not root`;
  if ((s.mode & 0o022) !== 0) {
    return `${path} is writable by others than root (mode ${(s.mode & 0o777).toString(8)})`;
  }
  return undefined;
}

/** Whether a binary that the file names may be run by root: its own, and only root's to change. */
export function commandProblem(path: string): string | undefined {
  try {
    return trustProblem(path, "file");
  } catch (e) {
    return `${path}: ${(e as Error).message}`;
  }
}

/**
 * The configuration of `host` (a peer URI's host), from `file`; NO_CONFIG when the file does not
 * exist or has no section for the host. Throws HostsConfError when the file cannot be trusted
 * or is wrong: a peer is then not reached at all rather than reached some other way.
 */
export function hostConfig(host: string, file = HOSTS_CONF): HostConfig {
  let text: string;
  try {
    const problem = trustProblem(dirname(file), "directory") ?? trustProblem(file, "file");
    if (problem !== undefined) throw new HostsConfError(`${file} is not used: ${problem}`);
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return NO_CONFIG;
    if (e instanceof HostsConfError) throw e;
    throw new HostsConfError(`cannot read ${file}: ${(e as Error).message}`);
  }
  const config = parseHostsConf(text, file).get(host.toLowerCase()) ?? NO_CONFIG;
  const command = config.params.get("command");
  const bad = command === undefined ? undefined : commandProblem(command);
  if (bad !== undefined) throw new HostsConfError(`${file}: command = ${command}: ${bad}`);
  return config;
}
