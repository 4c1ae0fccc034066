// Re-protection by hand, `colo-hybrid protect --resync`, on a pair with a disk across lab hosts A
// and B (hosts/pair.ts), for each survivor: one side's host loses power, the other is failed
// over by hand and runs alone, the lost host comes back, and the survivor is protected again with
// a new secondary there while its guest runs on. Acknowledged writes before, during and after;
// then the survivor's host loses power too, the new secondary fails over, answers, and its disk
// holds every acknowledged record: what re-protection copied, and what COLO replicated since.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_IMAGE_DIR } from "../../src/pair/disks.js";
import { waitUntil } from "../support/wait.js";
import { recordsOn } from "./disk-pair.js";
import { powerOff, powerOn } from "./hosts/cluster.js";
import { answeredAfter } from "./hosts/cluster-pair.js";
import type { LabHost } from "./hosts/hosts.js";
import { LAB_DIR } from "./hosts/layout.js";
import { type HostsPair, startHostsPair } from "./hosts/pair.js";
import { applyTcgWorkaroundOn } from "./hosts/tcg.js";

const MINUTE = 60_000;

describe.each([
  { survivor: "the secondary, which took over", lost: "a" as const },
  { survivor: "the primary, left alone", lost: "b" as const },
])("protect --resync: $survivor", ({ lost }) => {
  let pair: HostsPair;
  let acked = 0;
  const log = (line: string) => console.log(`reprotect: ${line}`);
  /** Writes a record through the guest; its answer is how many its disk holds. */
  const write = async (times: number) => {
    for (let i = 0; i < times; i++) {
      expect((await pair.lan.client.get("/cgi-bin/write", 10)).trim()).toBe(`${acked + 1}`);
      acked++;
    }
  };
  // Who is where: the survivor keeps its name; the new secondary takes the pair's other one.
  const sides = () => {
    const [gone, stays] = lost === "a" ? [pair.a, pair.b] : [pair.b, pair.a];
    const [goneName, staysName] =
      lost === "a" ? [pair.name, pair.secondaryName] : [pair.secondaryName, pair.name];
    const [goneBus, staysBus] =
      lost === "a" ? [pair.primaryBus, pair.secondaryBus] : [pair.secondaryBus, pair.primaryBus];
    return { gone, stays, goneName, staysName, goneBus, staysBus };
  };

  beforeAll(async () => {
    pair = await startHostsPair({
      ...{ period: 3000, passiveCount: 20, basePort: 9000, log, disk: true },
    });
    await write(10);
  }, 5 * MINUTE);

  afterAll(() => pair?.teardown(), 2 * MINUTE);

  it(
    "after a failover and the lost host's return, copies the disks and starts COLO while the guest runs",
    async () => {
      const { gone, stays, goneName, staysName, goneBus, staysBus } = sides();
      await powerOff(gone);
      await pair.colo(stays, ["failover", staysName]);
      await write(2);
      await powerOn(gone, { cluster: false });
      // The lab's: a survivor that was the secondary becomes a primary under TCG.
      if (lost === "a") await applyTcgWorkaroundOn(stays, staysName, log);

      const t0 = Date.now();
      const r = await pair.colo(stays, [
        ...["protect", "--resync", staysName, "--secondary-uri", gone.tlsUri],
      ]);
      log(`protect --resync on ${stays.name} (${Date.now() - t0} ms):\n${r.stderr}${r.stdout}`);
      expect(r.stdout).toContain(`Domain '${staysName}' protected again: COLO with '${goneName}'`);
      expect(r.stderr).toContain(
        lost === "a"
          ? `replacing the stale '${goneName}' with a new secondary '${goneName}' on ${gone.tlsUri}`
          : // The lost secondary's own definition: the cluster's start, or an admin's, or this.
            "a new secondary",
      );
      // The guest ran on: writes never waited for the copy.
      await write(5);

      // The survivor's agent carries on as the primary; the new secondary's agent (its UUID
      // kept) reports COLO; both persistent definitions say so.
      const props = await pair.props(staysBus);
      expect(props).toMatchObject({
        Role: "primary",
        ColoState: "colo",
        PeerDomain: goneName,
        PeerUri: gone.tlsUri,
      });
      await waitUntil(
        `${goneName}'s agent in COLO as the secondary`,
        async () => {
          const p = await pair.props(goneBus).catch(() => undefined);
          return p?.ColoState === "colo" && p.Role === "secondary";
        },
        MINUTE,
        200,
      );
      const persistent = async (host: LabHost, name: string) =>
        (await host.run("virsh", ["dumpxml", "--inactive", name])).stdout;
      expect(await persistent(stays, staysName)).toContain("colo-compare,id=comp0");
      expect(await persistent(gone, goneName)).toContain("<colo:role>secondary</colo:role>");
    },
    4 * MINUTE,
  );

  it(
    "fails back: the survivor's host lost, the new secondary answers with every acknowledged record",
    async () => {
      const { gone, stays, goneName } = sides();
      const t0 = Date.now();
      await powerOff(stays);
      await pair.colo(gone, ["failover", goneName]);
      log(`failed back to ${gone.name}: answered after ${await answeredAfter(pair, t0)} ms`);
      await write(1);
      await gone.run("virsh", ["destroy", goneName]);
      const base = `${DEFAULT_IMAGE_DIR}/${goneName}-vda-base.qcow2`;
      expect(await recordsOn(base, LAB_DIR, gone.run)).toEqual({ records: acked, pattern: true });
    },
    3 * MINUTE,
  );
});
