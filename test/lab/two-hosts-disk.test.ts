// A pair with a disk across the two lab hosts, and the takeover towards B: `pair create` on A
// makes the secondary's images in a storage pool on B, `protect` copies the disk to B's NBD
// export over the LAN, the guest's acknowledged writes go through both sides; then A's QEMU is
// killed, B's agent says COLO ended, `colo-hybrid failover` run on B makes B's guest the one that
// answers, at the same address, with every acknowledged record on B's disk.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "../support/wait.js";
import { GUEST_ADDRESS } from "./bridge.js";
import { recordsOn } from "./disk-pair.js";
import { FIXED_BODY } from "./guest.js";
import { LAB_DIR } from "./hosts/layout.js";
import { type HostsPair, type HostsPairImages, startHostsPair } from "./hosts/pair.js";

const MINUTE = 60_000;
const WRITES = 15;

describe("a pair with a disk across two lab hosts, failed over to B", () => {
  let pair: HostsPair;
  const log = (line: string) => console.log(`two-hosts-disk: ${line}`);
  const get = (path: string) => pair.lan.client.get(path, 5);

  beforeAll(async () => {
    pair = await startHostsPair({
      period: 3000,
      passiveCount: 20,
      basePort: 9000,
      log,
      disk: true,
    });
  }, 6 * MINUTE);

  afterAll(() => pair?.teardown(), 2 * MINUTE);

  it(
    "pair create made the secondary's images on B; the guest writes through both sides",
    async () => {
      const images = pair.images as HostsPairImages;
      expect(pair.created).toContain(`Images of '${pair.secondaryName}' made in`);
      // On B, in B's own pool; A has none of them.
      await pair.b.run("test", ["-f", images.secondaryBase]);
      await expect(pair.a.run("test", ["-e", images.secondaryBase])).rejects.toThrow();
      const pools = (await pair.b.run("virsh", ["pool-list", "--name"])).stdout;
      expect(pools).toContain("colo-hybrid-images");
      for (let i = 1; i <= WRITES; i++) expect((await get("/cgi-bin/write")).trim()).toBe(`${i}`);
    },
    2 * MINUTE,
  );

  it(
    "A's QEMU killed: B's agent says COLO ended; failover on B, and B answers with every record",
    async () => {
      const pid = await pair.qemuPid(pair.a, pair.name);
      const t0 = Date.now();
      process.kill(pid, "SIGKILL");
      await waitUntil(
        "B's agent to see COLO end",
        async () => (await pair.props(pair.secondaryBus)).ColoState === "exited",
        MINUTE,
        100,
      );
      const exitedMs = Date.now() - t0;
      // The secondary takes over only when asked (by the admin here, by the cluster later).
      const r = await pair.colo(pair.b, ["failover", pair.secondaryName]);
      log(`failover on ${pair.b.name}: ${r.stdout.trim()}`);
      await waitUntil(
        "B's agent to fail over",
        async () => (await pair.props(pair.secondaryBus)).ColoState === "failed-over",
        MINUTE,
        100,
      );
      await waitUntil(
        `an answer at ${GUEST_ADDRESS} from B`,
        async () => (await get("/cgi-bin/fixed").catch(() => "")) === FIXED_BODY,
        MINUTE,
        100,
      );
      log(
        `primary killed: COLO_EXIT seen on B after ${exitedMs} ms, answered by B after ${Date.now() - t0} ms (the failover asked by hand in between)`,
      );
      expect((await get("/cgi-bin/write")).trim()).toBe(`${WRITES + 1}`);

      await pair.b.run("virsh", ["destroy", pair.secondaryName]);
      const images = pair.images as HostsPairImages;
      expect(await recordsOn(images.secondaryBase, LAB_DIR, pair.b.run)).toEqual({
        records: WRITES + 1,
        pattern: true,
      });
    },
    3 * MINUTE,
  );
});
