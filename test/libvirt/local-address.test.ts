// localAddressToward: the route's source address, found without sending a packet. Across the
// lab's hosts: test/lab/hosts.test.ts.
import { describe, expect, it } from "vitest";
import { localAddressToward } from "../../src/libvirt/local-address.js";

describe("localAddressToward", () => {
  it("is this host's address on the route to the peer", async () => {
    expect(await localAddressToward("127.0.0.1")).toBe("127.0.0.1");
    expect(await localAddressToward("localhost")).toMatch(/^(127\.0\.0\.1|::1)$/);
  });

  it("is undefined for a name that does not resolve", async () => {
    expect(await localAddressToward("no-such-host.invalid")).toBeUndefined();
  });
});
