// A COLO pair across the two lab hosts (test/lab/hosts/, docs/lab-hosts.md), the product run
// the user's way on host A: `pair create` defines the secondary on B over qemu+tls with the
// addresses the hosts' routes give, each host's own hook starts its own agent, `protect` on A
// reaches COLO across the LAN; under divergent load from the guests' LAN the primary's agent goes
// passive and back, and when the secondary's QEMU on B dies it fails A over by itself, and the
// client is answered at the guest's address again. Stopping the lab leaves nothing of it.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentProperties } from "../../src/dbus/values.js";
import { commandLine, isAlive } from "../support/processes.js";
import { waitUntil } from "../support/wait.js";
import { type Forward, GUEST_ADDRESS } from "./bridge.js";
import { FIXED_BODY } from "./guest.js";
import { processesIn } from "./hosts/host.js";
import { mountsUnder, stopLabHosts } from "./hosts/hosts.js";
import { hostLayout, LAB_DIR } from "./hosts/layout.js";
import { GUEST_LAN_CLIENT } from "./hosts/network.js";
import { type HostsPair, startHostsPair } from "./hosts/pair.js";
import { runLoad } from "./load.js";

const MINUTE = 60_000;
const BASE_PORT = 9000;

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe("a COLO pair across two lab hosts", () => {
  let pair: HostsPair;
  let forward: Forward | undefined;
  const log = (line: string) => console.log(`two-hosts: ${line}`);
  const waitFor = (what: string, ok: (p: AgentProperties) => boolean, timeoutMs = MINUTE) =>
    waitUntil(what, async () => ok(await pair.props()), timeoutMs, 200);

  beforeAll(async () => {
    pair = await startHostsPair({ period: 3000, passiveCount: 20, basePort: BASE_PORT, log });
    forward = await pair.lan.client.forward(80);
  }, 6 * MINUTE);

  afterAll(async () => {
    await forward?.close();
    await pair?.teardown();
  }, 2 * MINUTE);

  it("pair create chose the hosts' addresses, not loopback", async () => {
    expect(pair.created).toContain(
      `reaches this one at ${pair.a.address} and its agent by qemu+tls://${pair.a.address}/system`,
    );
    const primary = (await pair.a.run("virsh", ["dumpxml", pair.name])).stdout;
    const secondary = (await pair.b.run("virsh", ["dumpxml", pair.secondaryName])).stdout;
    // The primary serves the secondary's connections on A's LAN address ...
    expect(primary).toContain(`host=${pair.a.address},port=${BASE_PORT},server=on`);
    // ... and the secondary dials them there, and waits for the stream on B's.
    expect(secondary).toContain(`host=${pair.a.address},port=${BASE_PORT},reconnect=1`);
    expect(secondary).toContain(`tcp:${pair.b.address}:${BASE_PORT + 4}`);
    expect(secondary).not.toContain("127.0.0.1");
  });

  it(
    "reaches COLO; each host's hook started its agent there, both on the bus",
    async () => {
      log(`COLO ${pair.protectedAfterMs} ms after protect started`);
      await waitFor("the primary's agent in COLO", (p) => p.ColoState === "colo");
      await waitUntil(
        "the secondary's agent in COLO",
        async () => (await pair.props(pair.secondaryBus)).ColoState === "colo",
        MINUTE,
      );

      // `colo-hybrid status` on A sees both agents, the one on B too (the bus is shared).
      const status = JSON.parse(
        (await pair.colo(pair.a, ["status", "--json"])).stdout,
      ) as AgentProperties[];
      const byUuid = new Map(status.map((p) => [p.Uuid, p]));
      expect(byUuid.get(pair.primaryUuid)).toMatchObject({
        Domain: pair.name,
        Role: "primary",
        PeerUri: pair.b.tlsUri,
        PeerDomain: pair.secondaryName,
        ColoState: "colo",
        Mode: "colo",
      });
      expect(byUuid.get(pair.secondaryUuid)).toMatchObject({
        Domain: pair.secondaryName,
        Role: "secondary",
        PeerUri: pair.a.tlsUri,
        ColoState: "colo",
      });
      // The primary's agent read the secondary's QEMU over the LAN.
      expect(byUuid.get(pair.primaryUuid)?.QemuSecondary).toMatch(/^\d+\.\d+\.\d+/);

      // Each agent runs on its domain's host: in that host's namespaces.
      for (const [host, uuid] of [
        [pair.a, pair.primaryUuid],
        [pair.b, pair.secondaryUuid],
      ] as const) {
        const h = hostLayout(pair.lab.hosts.indexOf(host));
        const agents = processesIn([`/run/netns/${h.netns}`, h.mntFile]).filter((pid) =>
          commandLine(pid)
            ?.join(" ")
            .includes(`agent --supervised --uuid ${uuid.replaceAll("-", "")}`),
        );
        expect(agents, `the agent of ${uuid} on ${host.name}`).toHaveLength(1);
      }
    },
    2 * MINUTE,
  );

  it(
    "under divergent load the primary's agent goes passive and back to COLO; answers stay right",
    async () => {
      const since = Date.now();
      const load = runLoad({
        socketPath: (forward as Forward).socketPath,
        phases: [{ kind: "divergent", seconds: 30, rate: 3 }],
        maxRequests: 90,
        timeoutMs: 2 * MINUTE,
      });
      const transitions = (p: AgentProperties) =>
        p.History.filter((h) => h.kind === "transition" && h.t >= since);
      const seen = (p: AgentProperties, change: string) =>
        transitions(p).find((h) => h.message.startsWith(change));
      await waitFor("passive mode", (p) => seen(p, "colo → passive") !== undefined);
      await waitFor(
        "COLO again after the passive spell",
        (p) => seen(p, "passive → colo") !== undefined,
      );
      const history = await pair.props();
      const secondsTo = (change: string) =>
        (((seen(history, change)?.t ?? 0) - since) / 1000).toFixed(1);
      log(
        `load started; passive after ${secondsTo("colo → passive")} s, COLO again after ${secondsTo("passive → colo")} s`,
      );
      const result = await load;
      const phase = result.phases[0];
      log(`divergent load: ${JSON.stringify(phase)}`);
      expect(phase?.wrong).toBe(0);
      expect(phase?.correct).toBeGreaterThan(0);

      const checkpoints = await pair.client.recentCheckpoints(pair.primaryBus);
      const pauses = (mode: string) =>
        checkpoints
          .filter((c) => c.mode === mode && c.pause !== undefined)
          .map((c) => c.pause as number);
      const summary = (mode: string) =>
        `${mode} ${median(pauses(mode))?.toFixed(0)} ms (${pauses(mode).length})`;
      log(`checkpoint pauses, median: ${summary("colo")}, ${summary("passive")}`);
    },
    3 * MINUTE,
  );

  it(
    "the secondary's QEMU on B killed: A's agent fails over by itself, the client is answered again",
    async () => {
      const pid = await pair.qemuPid(pair.b, pair.secondaryName);
      const t0 = Date.now();
      process.kill(pid, "SIGKILL");
      await waitFor("failover", (p) => p.ColoState === "failed-over", MINUTE);
      const failedOverMs = Date.now() - t0;
      await waitUntil(
        `an answer at ${GUEST_ADDRESS} after the failover`,
        async () => (await pair.lan.client.get("/cgi-bin/fixed", 2)) === FIXED_BODY,
        MINUTE,
        100,
      );
      log(
        `secondary killed: failed over after ${failedOverMs} ms, answered after ${Date.now() - t0} ms`,
      );
      expect((await pair.props()).History.some((h) => h.kind === "failover")).toBe(true);
    },
    2 * MINUTE,
  );

  it(
    "stopping the lab ends every QEMU, gdb and agent on the hosts, and leaves nothing",
    async () => {
      const files = pair.lab.hosts.flatMap((_, i) => {
        const h = hostLayout(i);
        return [`/run/netns/${h.netns}`, h.mntFile];
      });
      const pids = processesIn(files);
      const qemus = pids.filter((p) => commandLine(p)?.[0]?.includes("qemu-system"));
      expect(qemus).toHaveLength(1); // the primary, running alone
      await forward?.close();
      forward = undefined;
      await stopLabHosts();
      expect(pids.filter(isAlive)).toEqual([]);
      expect(existsSync(`/run/netns/${GUEST_LAN_CLIENT}`)).toBe(false);
      expect(mountsUnder(LAB_DIR)).toEqual([]);
      expect(existsSync(LAB_DIR)).toBe(false);
      expect((await pair.client.agents()).map((x) => x.busName)).not.toContain(pair.primaryBus);
    },
    2 * MINUTE,
  );
});
