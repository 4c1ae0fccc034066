// Disks on virtio-scsi and on SATA, replicated as virtio-blk ones are, and failed over by the
// agents: with the write workload running, the secondary's QEMU killed under a virtio-scsi disk
// (the primary's agent fails over on COLO_EXIT by itself), and the primary's QEMU killed under a
// SATA disk (the secondary's agent fails over when asked, as `colo-hybrid failover` asks). Each
// time every acknowledged record is on the survivor's disk and it serves at the same address.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../src/agent/agent.js";
import { virsh } from "../support/services.js";
import { waitUntil } from "../support/wait.js";
import { bridgedNic, GUEST_ADDRESS, type LabBridge, labBridge } from "./bridge.js";
import { type DiskBus, type DiskPair, startDiskPair } from "./disk-pair.js";
import { FIXED_BODY } from "./guest.js";

const MINUTE = 60_000;
const WRITES = 15;

const qemuPid = (name: string) =>
  Number(readFileSync(`/run/libvirt/qemu/${name}.pid`, "utf8").trim());

const DRILLS: { bus: DiskBus; killed: "secondary" | "primary"; mac: string }[] = [
  { bus: "scsi", killed: "secondary", mac: "52:54:00:c0:10:47" },
  { bus: "sata", killed: "primary", mac: "52:54:00:c0:10:48" },
];

describe.each(DRILLS)("a pair with a $bus disk, its $killed killed", ({ bus, killed, mac }) => {
  let net: LabBridge;
  let pair: DiskPair;
  let agent: Agent | undefined;
  const get = (path: string) => net.get(path);

  beforeAll(async () => {
    net = await labBridge(randomBytes(3).toString("hex"));
    pair = await startDiskPair({ nic: bridgedNic(net.bridge, mac), period: 3000, bus });
  }, 5 * MINUTE);

  afterAll(async () => {
    await agent?.close();
    await pair?.teardown();
    await net?.close();
  }, 2 * MINUTE);

  it(
    "reaches COLO, and the guest writes its disk through both sides",
    async () => {
      await waitUntil(
        `the guest to serve on ${GUEST_ADDRESS}`,
        async () => (await get("/cgi-bin/fixed").catch(() => "")) === FIXED_BODY,
        3 * MINUTE,
        500,
      );
      for (let i = 1; i <= WRITES; i++) expect((await get("/cgi-bin/write")).trim()).toBe(`${i}`);
    },
    4 * MINUTE,
  );

  it(
    `the ${killed}'s QEMU dies: the survivor's agent fails it over, with every acknowledged record`,
    async () => {
      const survivor = killed === "secondary" ? pair.primary : pair.secondary;
      const lost = killed === "secondary" ? pair.secondary : pair.primary;
      const a = await Agent.start({
        uri: "qemu:///system",
        uuid: survivor.dom.uuid,
        log: () => {},
      });
      agent = a;
      await waitUntil("the agent to see COLO", () => a.status().colo === "colo", MINUTE, 100);
      process.kill(qemuPid(lost.dom.name), "SIGKILL");
      // The primary's agent needs no one; the secondary's takes over when asked.
      if (killed === "primary") {
        await waitUntil("the agent to see COLO end", () => a.status().colo === "exited", MINUTE);
        await a.failover();
      }
      await waitUntil("the failover", () => a.status().colo === "failed-over", MINUTE, 100);
      expect((await get("/cgi-bin/write")).trim()).toBe(`${WRITES + 1}`);
      await a.close();
      agent = undefined;
      await virsh(["destroy", survivor.dom.name]);
      const image = killed === "secondary" ? pair.images.primary : pair.images.secondaryBase;
      expect(await pair.recordsOn(image)).toEqual({ records: WRITES + 1, pattern: true });
    },
    3 * MINUTE,
  );
});
