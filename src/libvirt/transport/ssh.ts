// SSH, as libvirt's remote driver does it: the ssh client runs a proxy on the remote host
// (virt-ssh-helper, or nc on the daemon's socket) and its stdin/stdout carry the RPC.
import { spawn } from "node:child_process";
import { Duplex } from "node:stream";
import { LibvirtError } from "../errors.js";
import type { LibvirtUri } from "../uri.js";
import { abandoned, onAbort } from "./socket.js";

/** Single-quotes `s` for sh. */
const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** The command ssh runs remotely, following the URI's `proxy`, `netcat` and `socket`. */
export function remoteCommand(uri: LibvirtUri): string {
  // As libvirt does for remote hosts: the monolithic daemon's socket unless told otherwise.
  const socket = uri.params.get("socket") ?? "/var/run/libvirt/libvirt-sock";
  const netcat = uri.params.get("netcat");
  const proxy = uri.params.get("proxy") ?? (netcat ? "netcat" : "auto");
  const nc = `${quote(netcat ?? "nc")} -U ${quote(socket)}`;
  const helper = `virt-ssh-helper ${quote(uri.daemonUri)}`;
  switch (proxy) {
    case "netcat":
      return `sh -c ${quote(nc)}`;
    case "native":
      return `sh -c ${quote(helper)}`;
    case "auto":
      return `sh -c ${quote(`if command -v virt-ssh-helper >/dev/null 2>&1; then ${helper}; else ${nc}; fi`)}`;
    default:
      throw new LibvirtError("usage", `proxy=${proxy} is not one of auto, netcat, native`);
  }
}

export function sshArgs(uri: LibvirtUri): string[] {
  const args: string[] = [];
  const p = uri.params;
  if (uri.port !== undefined) args.push("-p", String(uri.port));
  if (uri.user !== undefined) args.push("-l", uri.user);
  if (p.has("keyfile")) args.push("-i", p.get("keyfile") as string);
  args.push("-T", "-e", "none");
  if (p.get("no_tty") === "1") args.push("-o", "BatchMode=yes");
  if (p.get("no_verify") === "1") args.push("-o", "StrictHostKeyChecking=no");
  if (p.has("known_hosts")) args.push("-o", `UserKnownHostsFile=${p.get("known_hosts")}`);
  args.push("--", uri.host as string, remoteCommand(uri));
  return args;
}

export function openSsh(uri: LibvirtUri, timeoutMs: number, signal?: AbortSignal): Promise<Duplex> {
  const binary = uri.params.get("command") ?? "ssh";
  const child = spawn(binary, sshArgs(uri), { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (s: string) => {
    stderr = (stderr + s).slice(-4096);
  });
  const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
  const what = `ssh to ${uri.host}`;
  const failure = (detail: string) => new LibvirtError("connection", `${what}: ${detail}`);
  // ssh's own failures (auth, host key, no route) only show as its exit and its stderr; a
  // clean exit is the remote end hanging up (virt-ssh-helper leaves once the daemon closes).
  child.once("exit", (code, signal) => {
    if (stream.destroyed) return;
    stream.destroy(
      code === 0 ? undefined : failure(stderr.trim() || `ssh exited (${code ?? signal})`),
    );
  });
  stream.once("close", () => {
    if (child.exitCode === null) child.kill();
  });
  return new Promise((resolve, reject) => {
    const fail = (e: LibvirtError) => {
      clearTimeout(timer);
      done();
      stream.destroy();
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new LibvirtError("timeout", `${what}: no connection within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const done = onAbort(signal, () => fail(abandoned(what)));
    child.once("error", (e) => fail(failure(e.message)));
    child.once("spawn", () => {
      clearTimeout(timer);
      done();
      resolve(stream);
    });
  });
}
