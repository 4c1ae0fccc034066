// A COLO pair across the two lab hosts (test/lab/hosts/, docs/lab-hosts.md), the product run
// the user's way on host A: `pair create` defines the secondary on B over qemu+tls with the
// addresses the hosts' routes give, each host's own hook starts its own agent, `protect` on A
// reaches COLO across the LAN; under divergent load from the guests' LAN the primary's agent goes
// passive and back, and when the secondary's QEMU on B dies it fails A over by itself, and the
// client is answered at the guest's address again. Stopping the lab leaves nothing of it.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentClient } from "../../src/dbus/client.js";
import { busNameForUuid } from "../../src/dbus/names.js";
import type { AgentProperties } from "../../src/dbus/values.js";
import { installPolicy } from "../dbus/host.js";
import { TEST_DOMAIN_PREFIX } from "../support/domains.js";
import { commandLine, isAlive } from "../support/processes.js";
import { waitUntil } from "../support/wait.js";
import { bridgedNic, type Forward, GUEST_ADDRESS } from "./bridge.js";
import { buildGuest, FIXED_BODY } from "./guest.js";
import { guestDomainXml } from "./guest-domain.js";
import { processesIn } from "./hosts/host.js";
import {
  type GuestLan,
  type LabHost,
  type LabHosts,
  mountsUnder,
  startLabHosts,
  stopLabHosts,
} from "./hosts/hosts.js";
import { hostLayout, LAB_DIR, REPO_DIR } from "./hosts/layout.js";
import { GUEST_LAN_CLIENT } from "./hosts/network.js";
import { applyTcgWorkaroundOn } from "./hosts/tcg.js";
import { runLoad } from "./load.js";

const MINUTE = 60_000;
const PERIOD = 3000;
const PASSIVE_COUNT = 20;
const BASE_PORT = 9000;
const MAC = "52:54:00:c0:77:01";
const COMMAND = join(REPO_DIR, "dist", "colo-hybrid.mjs");

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe("a COLO pair across two lab hosts", () => {
  let removePolicy: (() => Promise<void>) | undefined;
  let lab: LabHosts;
  let a: LabHost;
  let b: LabHost;
  let lan: GuestLan;
  let client: AgentClient;
  let forward: Forward | undefined;
  const name = `${TEST_DOMAIN_PREFIX}hosts-${randomBytes(3).toString("hex")}`;
  const secondaryName = `${name}-secondary`;
  let created = "";
  let protectedAfterMs = 0;
  let primaryBus = "";
  let secondaryBus = "";
  const log = (line: string) => console.log(`two-hosts: ${line}`);
  /** colo-hybrid on a host, as its admin runs it there. */
  const colo = (host: LabHost, args: readonly string[]) =>
    host.run(process.execPath, [COMMAND, ...args], { timeoutMs: 3 * MINUTE });
  const props = (bus = primaryBus): Promise<AgentProperties> => client.properties(bus);
  const waitFor = (what: string, ok: (p: AgentProperties) => boolean, timeoutMs = MINUTE) =>
    waitUntil(what, async () => ok(await props()), timeoutMs, 200);
  const qemuPid = async (host: LabHost, domain: string) =>
    Number((await host.run("cat", [`/run/libvirt/qemu/${domain}.pid`])).stdout.trim());

  beforeAll(async () => {
    removePolicy = await installPolicy();
    lab = await startLabHosts({ guestLan: true, agents: true });
    [a, b] = lab.hosts as [LabHost, LabHost];
    lan = lab.guestLan as GuestLan;
    client = await AgentClient.connect();

    // The plain domain on A, as its admin has it: a virtio NIC on the host's guest bridge.
    const guest = await buildGuest();
    // In the lab's directory: the stop removes it.
    const xmlFile = join(LAB_DIR, `${name}.xml`);
    await writeFile(xmlFile, guestDomainXml({ name, ...guest, nic: bridgedNic(lan.bridge, MAC) }));
    await a.run("virsh", ["define", xmlFile]);
    const create = await colo(a, [
      ...["pair", "create", name, "--secondary-uri", b.tlsUri],
      ...["--base-port", `${BASE_PORT}`, "--colo-period", `${PERIOD}`],
      ...["--passive-count", `${PASSIVE_COUNT}`],
    ]);
    created = create.stderr + create.stdout;
    log(`pair create on ${a.name}: ${created.trim()}`);

    // The secondary first, paused (the primary's start waits for it to connect); the hooks
    // start an agent on each host.
    await b.run("virsh", ["start", secondaryName, "--paused"]);
    await a.run("virsh", ["start", name, "--paused"]);
    await applyTcgWorkaroundOn(a, name, log);
    const t0 = Date.now();
    const r = await colo(a, ["protect", name]);
    protectedAfterMs = Date.now() - t0;
    log(`colo-hybrid protect on ${a.name} (${protectedAfterMs} ms): ${r.stdout.trim()}`);
    await waitUntil(
      `${name} to boot under COLO and answer on ${GUEST_ADDRESS} from ${lan.client.netns}`,
      async () => (await lan.client.get("/cgi-bin/fixed")) === FIXED_BODY,
      3 * MINUTE,
      500,
    );
    forward = await lan.client.forward(80);
  }, 6 * MINUTE);

  afterAll(async () => {
    client?.close();
    await forward?.close();
    await stopLabHosts();
    await removePolicy?.();
  }, 2 * MINUTE);

  it("pair create chose the hosts' addresses, not loopback", async () => {
    expect(created).toContain(
      `reaches this one at ${a.address} and its agent by qemu+tls://${a.address}/system`,
    );
    const primary = (await a.run("virsh", ["dumpxml", name])).stdout;
    const secondary = (await b.run("virsh", ["dumpxml", secondaryName])).stdout;
    // The primary serves the secondary's connections on A's LAN address ...
    expect(primary).toContain(`host=${a.address},port=${BASE_PORT},server=on`);
    // ... and the secondary dials them there, and waits for the stream on B's.
    expect(secondary).toContain(`host=${a.address},port=${BASE_PORT},reconnect=1`);
    expect(secondary).toContain(`tcp:${b.address}:${BASE_PORT + 4}`);
    expect(secondary).not.toContain("127.0.0.1");
  });

  it(
    "reaches COLO; each host's hook started its agent there, both on the bus",
    async () => {
      log(`COLO ${protectedAfterMs} ms after protect started`);
      const uuids = await Promise.all(
        [
          [a, name],
          [b, secondaryName],
        ].map(async ([host, domain]) =>
          (await (host as LabHost).run("virsh", ["domuuid", domain as string])).stdout.trim(),
        ),
      );
      const [primaryUuid, secondaryUuid] = uuids as [string, string];
      primaryBus = busNameForUuid(primaryUuid);
      secondaryBus = busNameForUuid(secondaryUuid);
      await waitFor("the primary's agent in COLO", (p) => p.ColoState === "colo");
      await waitUntil(
        "the secondary's agent in COLO",
        async () => (await props(secondaryBus)).ColoState === "colo",
        MINUTE,
      );

      // `colo-hybrid status` on A sees both agents, the one on B too (the bus is shared).
      const status = JSON.parse((await colo(a, ["status", "--json"])).stdout) as AgentProperties[];
      const byUuid = new Map(status.map((p) => [p.Uuid, p]));
      expect(byUuid.get(primaryUuid)).toMatchObject({
        Domain: name,
        Role: "primary",
        PeerUri: b.tlsUri,
        PeerDomain: secondaryName,
        ColoState: "colo",
        Mode: "colo",
      });
      expect(byUuid.get(secondaryUuid)).toMatchObject({
        Domain: secondaryName,
        Role: "secondary",
        PeerUri: a.tlsUri,
        ColoState: "colo",
      });
      // The primary's agent read the secondary's QEMU over the LAN.
      expect(byUuid.get(primaryUuid)?.QemuSecondary).toMatch(/^\d+\.\d+\.\d+/);

      // Each agent runs on its domain's host: in that host's namespaces.
      for (const [host, uuid] of [
        [a, primaryUuid],
        [b, secondaryUuid],
      ] as const) {
        const h = hostLayout(lab.hosts.indexOf(host));
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
      const history = await props();
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

      const checkpoints = await client.recentCheckpoints(primaryBus);
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
      const pid = await qemuPid(b, secondaryName);
      const t0 = Date.now();
      process.kill(pid, "SIGKILL");
      await waitFor("failover", (p) => p.ColoState === "failed-over", MINUTE);
      const failedOverMs = Date.now() - t0;
      await waitUntil(
        `an answer at ${GUEST_ADDRESS} after the failover`,
        async () => (await lan.client.get("/cgi-bin/fixed", 2)) === FIXED_BODY,
        MINUTE,
        100,
      );
      log(
        `secondary killed: failed over after ${failedOverMs} ms, answered after ${Date.now() - t0} ms`,
      );
      expect((await props()).History.some((h) => h.kind === "failover")).toBe(true);
    },
    2 * MINUTE,
  );

  it(
    "stopping the lab ends every QEMU, gdb and agent on the hosts, and leaves nothing",
    async () => {
      const files = lab.hosts.flatMap((_, i) => {
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
      expect((await client.agents()).map((x) => x.busName)).not.toContain(primaryBus);
    },
    2 * MINUTE,
  );
});
