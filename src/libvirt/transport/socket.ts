// Local unix socket and plain TCP: a socket, once connected, read directly (direct-read.ts).
import { existsSync } from "node:fs";
import type { Socket } from "node:net";
import { LibvirtError } from "../errors.js";
import type { LibvirtUri } from "../uri.js";
import { connectDirect } from "./direct-read.js";
import { socketReason } from "./reasons.js";

/** Where the local daemon listens: the modular virtqemud when it runs, else libvirtd. */
export function localSocketPath(uri: LibvirtUri): string {
  const explicit = uri.params.get("socket");
  if (explicit) return explicit;
  const runtime =
    uri.path === "/session"
      ? `${process.env.XDG_RUNTIME_DIR ?? `/run/user/${process.getuid?.() ?? 0}`}/libvirt`
      : "/run/libvirt";
  const modular = `${runtime}/virt${uri.driver}d-sock`;
  return existsSync(modular) ? modular : `${runtime}/libvirt-sock`;
}

/** The error an abandoned attempt rejects with. */
export const abandoned = (what: string) => new LibvirtError("connection", `${what}: abandoned`);

/**
 * Calls `onAbort` once if `signal` aborts before `done` is called; `done` stops listening.
 * (`signal` already aborted: calls it at once.)
 */
export function onAbort(signal: AbortSignal | undefined, onAbort: () => void): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    onAbort();
    return () => {};
  }
  signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
}

/**
 * Resolves with `socket` once `wait` calls `ready`. On `fail`, a socket error (said as `reason`
 * says it), `timeoutMs` without either, or `signal` aborting, the socket is destroyed and the
 * promise rejects.
 */
export function settled<S extends Socket>(
  socket: S,
  what: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  wait: (ready: () => void, fail: (e: LibvirtError) => void) => void,
  reason: (e: NodeJS.ErrnoException) => string = socketReason,
): Promise<S> {
  return new Promise((resolve, reject) => {
    const fail = (e: LibvirtError) => {
      clearTimeout(timer);
      done();
      socket.destroy();
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new LibvirtError("timeout", `${what}: not connected within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const done = onAbort(signal, () => fail(abandoned(what)));
    const onError = (e: Error) => fail(new LibvirtError("connection", `${what}: ${reason(e)}`));
    socket.once("error", onError);
    wait(() => {
      clearTimeout(timer);
      done();
      socket.off("error", onError);
      resolve(socket);
    }, fail);
  });
}

const connected = (socket: Socket, what: string, timeoutMs: number, signal?: AbortSignal) =>
  settled(socket, what, timeoutMs, signal, (ready) => socket.once("connect", ready));

export function openUnix(
  uri: LibvirtUri,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Socket> {
  const path = localSocketPath(uri);
  return connected(connectDirect({ path }), `cannot connect to ${path}`, timeoutMs, signal);
}

export function openTcp(uri: LibvirtUri, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  const host = uri.host as string;
  const port = uri.port ?? 16509;
  // Nagle off: every frame is one write, and waiting to coalesce only delays a reply.
  const socket = connectDirect({ port, host, noDelay: true });
  return connected(socket, `cannot connect to ${host}:${port}`, timeoutMs, signal);
}
