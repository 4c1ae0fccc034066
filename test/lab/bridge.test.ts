// A COLO pair of a bridged guest (virtio-net on a Linux bridge, a tap per side), planned by the
// product, with clients in a network namespace on the bridge and no port forward: what admins'
// guests look like. Both sides' taps are on one bridge, with one MAC address.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { runFailover, secondaryFailover } from "../../src/pair/failover.js";
import { waitUntil } from "../support/wait.js";
import { bridgedNic, GUEST_ADDRESS, type LabBridge, labBridge } from "./bridge.js";
import { FIXED_BODY } from "./guest.js";
import { type LabSides, startSides } from "./pair.js";

const MINUTE = 60_000;
const PERIOD = 3000;
const MAC = "52:54:00:c0:10:42";

const qemuPid = (name: string) =>
  Number(readFileSync(`/run/libvirt/qemu/${name}.pid`, "utf8").trim());
/**
 * The first RARP frame from the guest's MAC that reaches the client's namespace: only QEMU's
 * announcements are RARP (the guest's own traffic is IP and ARP). Resolves once tcpdump listens.
 * QEMU 7.2's secondary announces by itself when its incoming migration completes at takeover (5
 * frames measured); the failover's announce-self adds 5 more and does not depend on that.
 */
async function firstRarp(netns: string): Promise<{ frame: Promise<string> }> {
  const filter = `ether proto 0x8035 and ether src ${MAC}`;
  const dump = spawn("ip", [
    "netns",
    "exec",
    netns,
    "tcpdump",
    "-i",
    "eth0",
    "-c",
    "1",
    "-n",
    "-e",
    filter,
  ]);
  let out = "";
  dump.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const frame = new Promise<string>((resolve, reject) => {
    dump.on("error", reject);
    dump.on("exit", () => resolve(out));
  });
  await new Promise<void>((resolve, reject) => {
    dump.stderr.on("data", (d: Buffer) => d.toString().includes("listening on") && resolve());
    dump.on("exit", (code) =>
      reject(new Error(`tcpdump in ${netns} exited (${code}) before listening`)),
    );
  });
  onTestFinished(() => {
    dump.kill();
  });
  return { frame };
}

describe("a COLO pair on a bridge", () => {
  let net: LabBridge;
  let pair: LabSides;
  const get = async (path: string) => net.get(path);

  beforeAll(async () => {
    net = await labBridge(randomBytes(3).toString("hex"));
    pair = await startSides({ period: PERIOD }, [bridgedNic(net.bridge, MAC)], async (primary) => {
      await waitUntil(
        `${primary.dom.name} to boot and serve HTTP on ${GUEST_ADDRESS}, bridge ${net.bridge}`,
        async () => (await get("/cgi-bin/fixed")) === FIXED_BODY,
        180_000,
        500,
      );
    });
  }, 5 * MINUTE);

  afterAll(async () => {
    await pair?.teardown();
    await net?.close();
  }, 2 * MINUTE);

  it("runs the virtio NIC in QEMU on both sides: no vhost-net to carry packets past the filters", async () => {
    for (const side of [pair.primary, pair.secondary]) {
      const argv = readFileSync(`/proc/${qemuPid(side.dom.name)}/cmdline`, "utf8").split("\0");
      const netdev = argv[argv.indexOf("-netdev") + 1];
      expect(netdev).toMatch(/"type":"tap"/);
      expect(netdev).not.toMatch(/vhost/);
    }
  });

  it("compares the guests' output: each divergent answer waits for a checkpoint", async () => {
    let checkpoints = 0;
    const sub = await pair.lv.onQemuMonitorEvent(pair.primary.dom, "STOP", () => {
      checkpoints++;
    });
    try {
      // One at a time: each answer differs between the sides, so colo-compare releases it only
      // after a checkpoint, and the next request leaves after it. Without vnet_hdr_support on
      // the filters, colo-compare misreads virtio's packets and lets them all through unchecked.
      for (let i = 0; i < 5; i++) expect(await get("/cgi-bin/divergent")).toMatch(/^now at /);
      expect(checkpoints).toBeGreaterThanOrEqual(5);
      expect(await get("/cgi-bin/fixed")).toBe(FIXED_BODY);
    } finally {
      await sub.close();
    }
  });

  it(
    "takes over when the primary's QEMU dies, announces the guest's MAC, and serves at the same address",
    async () => {
      const { frame } = await firstRarp(net.netns);
      process.kill(qemuPid(pair.primary.dom.name), "SIGKILL");
      await runFailover(pair.lv, pair.secondary.dom, secondaryFailover(0));
      expect(await frame).toMatch(
        new RegExp(`^[\\d:.]+ ${MAC} > ff:ff:ff:ff:ff:ff, ethertype Reverse ARP`),
      );
      expect(await get("/cgi-bin/fixed")).toBe(FIXED_BODY);
    },
    2 * MINUTE,
  );
});
