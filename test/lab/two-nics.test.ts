// A COLO pair of a guest with two bridged virtio NICs, each on its own lab bridge and subnet,
// planned by the product (each NIC its own filters, colo-compare and ports; one IOThread): COLO
// compares the output of each NIC, and after the secondary's death the primary serves on both.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { primaryFailover, runFailover } from "../../src/pair/failover.js";
import { waitUntil } from "../support/wait.js";
import { bridgedNic, type LabBridge, labBridge } from "./bridge.js";
import { FIXED_BODY } from "./guest.js";
import { type LabSides, startSides } from "./pair.js";

const MINUTE = 60_000;
const PERIOD = 3000;
const MACS = ["52:54:00:c0:20:01", "52:54:00:c0:20:02"] as const;
/** Each NIC's bridge's subnet: the guest is .15 on it (test/lab/guest.ts), its client .2. */
const NICS = ["10.0.2", "10.0.3"] as const;
const REQUESTS = 5;

const qemuPid = (name: string) =>
  Number(readFileSync(`/run/libvirt/qemu/${name}.pid`, "utf8").trim());

describe("a COLO pair of a guest with two NICs", () => {
  const nets: LabBridge[] = [];
  let pair: LabSides;
  const get = (k: number, path: string) => (nets[k] as LabBridge).get(path);
  const serves = async (k: number) =>
    (await get(k, "/cgi-bin/fixed").catch(() => "")) === FIXED_BODY;

  beforeAll(async () => {
    const tag = randomBytes(3).toString("hex");
    for (const [k, subnet] of NICS.entries()) nets.push(await labBridge(`${tag}${k}`, subnet));
    const interfaces = nets.map((n, k) => bridgedNic(n.bridge, MACS[k] ?? ""));
    pair = await startSides({ period: PERIOD }, interfaces, async () => {
      for (const k of NICS.keys()) {
        await waitUntil(`the guest to serve on NIC ${k}`, () => serves(k), 180_000, 500);
      }
    });
  }, 5 * MINUTE);

  afterAll(async () => {
    await pair?.teardown();
    for (const n of nets) await n.close();
  }, 2 * MINUTE);

  it("runs each NIC's filters and colo-compare, in one IOThread, on the primary", async () => {
    const objects = (await pair.lv.qmp(pair.primary.dom, "qom-list", { path: "/objects" })) as {
      name: string;
    }[];
    const names = objects.map((o) => o.name);
    for (const id of ["comp0", "m0", "redire0", "redire1", "iothread1"]) {
      expect(names).toContain(id);
      if (id !== "iothread1") expect(names).toContain(`${id}-nic1`);
    }
  });

  it(
    "compares each NIC's output: a divergent answer waits for a checkpoint, a fixed one does not",
    async () => {
      let checkpoints = 0;
      const sub = await pair.lv.onQemuMonitorEvent(pair.primary.dom, "STOP", () => {
        checkpoints++;
      });
      const during = async (task: () => Promise<void>) => {
        const before = checkpoints;
        const started = performance.now();
        await task();
        return { checkpoints: checkpoints - before, ms: Math.round(performance.now() - started) };
      };
      try {
        for (const k of NICS.keys()) {
          // One at a time, so that each answer's checkpoint is its own.
          const divergent = await during(async () => {
            for (let i = 0; i < REQUESTS; i++) {
              expect(await get(k, "/cgi-bin/divergent")).toMatch(/^now at /);
            }
          });
          const fixed = await during(async () => {
            for (let i = 0; i < REQUESTS; i++)
              expect(await get(k, "/cgi-bin/fixed")).toBe(FIXED_BODY);
          });
          console.log(
            `lab: NIC ${k}: ${REQUESTS} divergent requests, ${divergent.checkpoints} checkpoints in ${divergent.ms} ms; ` +
              `${REQUESTS} fixed, ${fixed.checkpoints} in ${fixed.ms} ms (period ${PERIOD} ms)`,
          );
          expect(divergent.checkpoints).toBeGreaterThanOrEqual(REQUESTS);
          // At most the periodic checkpoints of the time the fixed requests took, and one spare.
          expect(fixed.checkpoints).toBeLessThanOrEqual(Math.ceil(fixed.ms / PERIOD) + 1);
        }
      } finally {
        await sub.close();
      }
    },
    3 * MINUTE,
  );

  it(
    "fails over to the primary when the secondary's QEMU dies, and serves on both NICs",
    async () => {
      process.kill(qemuPid(pair.secondary.dom.name), "SIGKILL");
      const started = performance.now();
      await runFailover(pair.lv, pair.primary.dom, primaryFailover(0, NICS.length));
      for (const k of NICS.keys()) {
        await waitUntil(`the primary to serve on NIC ${k}`, () => serves(k), 30_000, 250);
      }
      console.log(
        `lab: both NICs serve ${Math.round(performance.now() - started)} ms after the kill`,
      );
      const objects = (await pair.lv.qmp(pair.primary.dom, "qom-list", { path: "/objects" })) as {
        name: string;
      }[];
      expect(
        objects.map((o) => o.name).filter((n) => /^(comp|m0|redire|iothread1)/.test(n)),
      ).toEqual([]);
    },
    2 * MINUTE,
  );
});
