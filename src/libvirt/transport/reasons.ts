// Why a connection failed, in words an admin acts on, from the error codes of node's sockets
// and TLS: "connection refused: nothing listens there", not a library's message.

/** Reasons for the socket errors a peer's host gives; undefined for any other error. */
const SOCKET: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused: nothing listens there",
  ECONNRESET: "the connection was reset",
  EHOSTUNREACH: "no route to the host",
  ENETUNREACH: "no route to the host's network",
  ETIMEDOUT: "no answer: the connection timed out",
  ENOTFOUND: "the host name does not resolve",
  EAI_AGAIN: "the host name does not resolve (DNS did not answer)",
  ENOENT: "no such socket: is the daemon running?",
  EACCES: "permission denied",
};

/** The server's certificate does not chain to the CA we trust. */
const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
]);

export function socketReason(e: NodeJS.ErrnoException): string {
  return (e.code && SOCKET[e.code]) ?? e.message;
}

/** Why TLS to `host` failed, given the CA file the server was checked against. */
export function tlsReason(e: NodeJS.ErrnoException, host: string, ca: string): string {
  const code = e.code ?? "";
  const failed = "certificate verification failed";
  if (UNTRUSTED.has(code))
    return `${failed}: the server's certificate is not signed by the CA in ${ca}`;
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID")
    return `${failed}: the server's certificate is not for ${host} (connect by the name or address it names)`;
  if (code === "CERT_HAS_EXPIRED") return `${failed}: the server's certificate has expired`;
  if (code === "CERT_NOT_YET_VALID") return `${failed}: the server's certificate is not valid yet`;
  return socketReason(e);
}
