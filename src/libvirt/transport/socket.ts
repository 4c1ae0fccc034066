// Local unix socket and plain TCP: a socket, once connected.
import { existsSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { LibvirtError } from "../errors.js";
import type { LibvirtUri } from "../uri.js";

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

export function connected(socket: Socket, what: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new LibvirtError("timeout", `${what}: no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (e) => {
      clearTimeout(timer);
      reject(new LibvirtError("connection", `${what}: ${e.message}`));
    });
  });
}

export function openUnix(uri: LibvirtUri, timeoutMs: number): Promise<Socket> {
  const path = localSocketPath(uri);
  return connected(createConnection(path), `cannot connect to ${path}`, timeoutMs);
}

export function openTcp(uri: LibvirtUri, timeoutMs: number): Promise<Socket> {
  const host = uri.host as string;
  const port = uri.port ?? 16509;
  return connected(createConnection(port, host), `cannot connect to ${host}:${port}`, timeoutMs);
}
