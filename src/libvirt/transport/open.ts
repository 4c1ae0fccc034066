// Opens the byte stream a URI asks for. `signal` abandons an attempt: whatever was opened so
// far is destroyed and the promise rejects.
import type { Duplex } from "node:stream";
import type { LibvirtUri } from "../uri.js";
import { openTcp, openUnix } from "./socket.js";
import { openSsh } from "./ssh.js";
import { openTls } from "./tls.js";

export function openTransport(
  uri: LibvirtUri,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Duplex> {
  switch (uri.transport) {
    case "unix":
      return openUnix(uri, timeoutMs, signal);
    case "tcp":
      return openTcp(uri, timeoutMs, signal);
    case "tls":
      return openTls(uri, timeoutMs, signal);
    case "ssh":
      return openSsh(uri, timeoutMs, signal);
  }
}
