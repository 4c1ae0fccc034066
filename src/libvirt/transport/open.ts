// Opens the byte stream a URI asks for.
import type { Duplex } from "node:stream";
import type { LibvirtUri } from "../uri.js";
import { openTcp, openUnix } from "./socket.js";
import { openSsh } from "./ssh.js";
import { openTls } from "./tls.js";

export function openTransport(uri: LibvirtUri, timeoutMs: number): Promise<Duplex> {
  switch (uri.transport) {
    case "unix":
      return openUnix(uri, timeoutMs);
    case "tcp":
      return openTcp(uri, timeoutMs);
    case "tls":
      return openTls(uri, timeoutMs);
    case "ssh":
      return openSsh(uri, timeoutMs);
  }
}
