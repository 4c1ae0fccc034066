// TLS, as libvirt's remote driver does it: client certificate, server verified against the CA,
// then one byte from the server saying it accepted us.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { LibvirtError } from "../errors.js";
import type { LibvirtUri } from "../uri.js";
import { tlsReason } from "./reasons.js";
import { settled } from "./socket.js";

export interface PkiFiles {
  ca: string;
  cert: string;
  key: string;
}

/** libvirt's default certificate paths, or the `pkipath` directory's. */
export function pkiFiles(uri: LibvirtUri): PkiFiles {
  const dir = uri.params.get("pkipath");
  if (dir) {
    return {
      ca: join(dir, "cacert.pem"),
      cert: join(dir, "clientcert.pem"),
      key: join(dir, "clientkey.pem"),
    };
  }
  if (process.getuid?.() === 0) {
    return {
      ca: "/etc/pki/CA/cacert.pem",
      cert: "/etc/pki/libvirt/clientcert.pem",
      key: "/etc/pki/libvirt/private/clientkey.pem",
    };
  }
  const user = join(homedir(), ".pki/libvirt");
  return {
    ca: join(user, "cacert.pem"),
    cert: join(user, "clientcert.pem"),
    key: join(user, "clientkey.pem"),
  };
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new LibvirtError(
      "connection",
      `cannot read the ${what} ${path}: ${(e as Error).message}`,
    );
  }
}

export function openTls(
  uri: LibvirtUri,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<TLSSocket> {
  const files = pkiFiles(uri);
  const host = uri.host as string;
  const port = uri.port ?? 16514;
  const verify = uri.params.get("no_verify") !== "1";
  const socket = connect({
    host,
    port,
    servername: /^[\d.]+$|:/.test(host) ? undefined : host,
    ca: read(files.ca, "CA certificate"),
    cert: read(files.cert, "client certificate"),
    key: read(files.key, "client key"),
    rejectUnauthorized: verify,
  });
  // Nagle off: every frame is one write, and waiting to coalesce only delays a reply.
  socket.setNoDelay(true);
  const what = `TLS connection to ${host}:${port}`;
  return settled(
    socket,
    what,
    timeoutMs,
    signal,
    (ready, fail) =>
      socket.once("secureConnect", () => {
        socket.once("readable", () => {
          const status = socket.read(1) as Buffer | null;
          if (status?.[0] === 1) ready();
          else
            fail(
              new LibvirtError(
                "connection",
                `${what}: the server refused our certificate or address`,
              ),
            );
        });
      }),
    (e) => tlsReason(e, host, files.ca),
  );
}
