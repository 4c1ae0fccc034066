// The primary's agent of a pair with a disk (<protect>true</protect>): it starts replication
// itself, copying the disk into the secondary's base over NBD first, reaches COLO, and watches
// the replica while the guest writes. The agent runs in this process, on real libvirtd and QEMU.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../src/agent/agent.js";
import { REPLICA_CHECK_MS } from "../../src/pair/controller.js";
import { waitUntil } from "../support/wait.js";
import { bridgedNic, type LabBridge, labBridge } from "./bridge.js";
import { type DiskPair, startDiskPair } from "./disk-pair.js";

const MINUTE = 60_000;

describe("the agent of a pair with a disk", () => {
  let net: LabBridge;
  let pair: DiskPair;
  let agent: Agent | undefined;
  const logs: string[] = [];

  beforeAll(async () => {
    net = await labBridge(randomBytes(3).toString("hex"));
    pair = await startDiskPair({
      nic: bridgedNic(net.bridge, "52:54:00:c0:10:46"),
      period: 3000,
      replication: "agent",
      // Not a liveness test: under CI's load (two TCG guests writing on two cores) the
      // secondary's QEMU once took more than the default 800 ms to answer, and the agent
      // declared it hung (hung-secondary.test.ts tests that path).
      params: { "peer-timeout": 3000 },
    });
  }, 5 * MINUTE);

  afterAll(async () => {
    await agent?.close();
    await pair?.teardown();
    await net?.close();
  }, 2 * MINUTE);

  it(
    "starts replication itself, copying the disk, and finds the replica in step while the guest writes",
    async () => {
      agent = await Agent.start({
        uri: "qemu:///system",
        uuid: pair.primary.dom.uuid,
        log: (_, text) => logs.push(text),
      });
      const a = agent;
      await waitUntil("the agent in COLO", () => a.status().colo === "colo", 2 * MINUTE, 200);
      expect(logs.join("\n")).toMatch(/starting replication to '.*-secondary'/);
      const write = () => net.get("/cgi-bin/write");
      await waitUntil(
        "the guest to write",
        async () => /^\d+\n$/.test(await write().catch(() => "")),
        3 * MINUTE,
        500,
      );
      // Writes through two looks at both sides' counters and more.
      const until = Date.now() + 2.5 * REPLICA_CHECK_MS;
      while (Date.now() < until) expect(await write()).toMatch(/^\d+\n$/);
      expect(a.status()).toMatchObject({ colo: "colo", lastError: "" });
    },
    6 * MINUTE,
  );
});
