// What a failed connection is said as. Against real servers: test/libvirt/client.test.ts (a
// refused port) and test/lab/hosts.test.ts (a lab host's certificate checked against another CA).
import { describe, expect, it } from "vitest";
import { socketReason, tlsReason } from "../../src/libvirt/transport/reasons.js";

const error = (code: string, message = `library text ${code}`) =>
  Object.assign(new Error(message), { code }) as NodeJS.ErrnoException;

describe("socketReason", () => {
  it("says what the socket error means", () => {
    expect(socketReason(error("ECONNREFUSED"))).toBe("connection refused: nothing listens there");
    expect(socketReason(error("EHOSTUNREACH"))).toBe("no route to the host");
  });

  it("keeps the message of an error it has no words for", () => {
    expect(socketReason(error("EWHATEVER", "something odd"))).toBe("something odd");
  });
});

describe("tlsReason", () => {
  it("names the CA a certificate did not verify against, and the host it is not for", () => {
    expect(
      tlsReason(error("UNABLE_TO_VERIFY_LEAF_SIGNATURE"), "10.77.0.2", "/pki/cacert.pem"),
    ).toBe(
      "certificate verification failed: the server's certificate is not signed by the CA in /pki/cacert.pem",
    );
    expect(tlsReason(error("ERR_TLS_CERT_ALTNAME_INVALID"), "10.77.0.2", "/ca.pem")).toMatch(
      /^certificate verification failed: the server's certificate is not for 10\.77\.0\.2 /,
    );
    expect(tlsReason(error("ECONNREFUSED"), "h", "/ca.pem")).toBe(
      "connection refused: nothing listens there",
    );
  });
});
