// The agent's D-Bus surface on the real system bus, as root: an agent published by
// src/dbus/service.ts, seen through src/dbus/client.ts and, for the wire types, raw messages.
import { randomUUID } from "node:crypto";
import { Variant } from "@jellybrick/dbus-next";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { DEFAULT_PARAMS, toExternal } from "../../src/colo/params.js";
import { BusError, SystemBus } from "../../src/dbus/bus.js";
import { AgentClient, type AgentEvent } from "../../src/dbus/client.js";
import { busNameForUuid, INTERFACE, OBJECT_PATH } from "../../src/dbus/names.js";
import { type PublishedAgent, publishAgent } from "../../src/dbus/service.js";
import { waitUntil } from "../support/wait.js";
import { checkpointAt, FakeAgent } from "./fake-agent.js";
import { installPolicy } from "./host.js";

let removePolicy: () => Promise<void>;
let client: AgentClient;
let raw: SystemBus;
let agent: FakeAgent;
let published: PublishedAgent;

beforeAll(async () => {
  removePolicy = await installPolicy();
  client = await AgentClient.connect();
  raw = await SystemBus.connect();
});

afterAll(async () => {
  client?.close();
  raw?.close();
  await removePolicy?.();
});

async function publish(): Promise<void> {
  const uuid = randomUUID();
  agent = new FakeAgent(`dbus-test-${uuid.slice(0, 8)}`, uuid);
  published = await publishAgent(agent, uuid);
}

afterEach(async () => {
  await published?.close();
});

/** The agent's events, in the order they arrived. */
async function follow(): Promise<{ events: { event: AgentEvent }[]; stop(): void }> {
  const events: { event: AgentEvent }[] = [];
  const stop = await client.follow(published.busName, (event) => events.push({ event }));
  return { events, stop };
}

/** How long a wait for a signal may take before the test fails: a limit, never a measure. */
const WAIT_MS = 10_000;

const ofType = <T extends AgentEvent["type"]>(
  events: { event: AgentEvent }[],
  type: T,
): Extract<AgentEvent, { type: T }>[] =>
  events.flatMap(({ event }) =>
    event.type === type ? [event as Extract<AgentEvent, { type: T }>] : [],
  );

const agentCall = (member: string, iface = INTERFACE, signature = "", body: unknown[] = []) =>
  raw.call({
    destination: published.busName,
    path: OBJECT_PATH,
    interface: iface,
    member,
    signature,
    body,
  });

describe("an agent on the system bus", () => {
  it("is found by its bus name and has every property, typed as docs/dbus.md says", async () => {
    await publish();
    const uuid = agent.status().uuid;
    expect(published.busName).toBe(busNameForUuid(uuid));
    expect(await client.agents()).toContainEqual({ busName: published.busName, uuid });

    const p = await client.properties(published.busName);
    expect(p).toEqual({
      Domain: agent.status().domain,
      Uuid: uuid,
      Role: "primary",
      PeerUri: "qemu+ssh://peer/system",
      PeerDomain: `${agent.status().domain}-secondary`,
      ColoState: "colo",
      ColoReason: "",
      Mode: "colo",
      PassiveLeft: 0,
      Mean: 512.25,
      Samples: 7,
      Parameters: toExternal(DEFAULT_PARAMS),
      Statistics: expect.any(Object),
      QemuPrimary: "7.2.22",
      QemuSecondary: "7.2.22",
      LastError: "",
      History: [{ t: 1_700_000_000_123, kind: "colo", message: "COLO started" }],
    });
    expect(Object.keys(p.Statistics).sort()).toEqual(
      [
        "checkpoints",
        "checkpoints-colo",
        "checkpoints-passive",
        "per-minute",
        "length-min",
        "length-avg",
        "length-max",
        "pause-min",
        "pause-avg",
        "pause-max",
        "time-colo",
        "time-passive",
        "window-ms",
      ].sort(),
    );
    expect(p.Statistics["window-ms"]).toBe(60_000);

    const [all] = await agentCall("GetAll", "org.freedesktop.DBus.Properties", "s", [INTERFACE]);
    const wire = all as Record<string, Variant>;
    const signatures = Object.fromEntries(Object.entries(wire).map(([k, v]) => [k, v.signature]));
    expect(signatures).toMatchObject({
      PassiveLeft: "u",
      Mean: "d",
      Samples: "u",
      Parameters: "a{sv}",
      Statistics: "a{sv}",
      History: "a(tss)",
    });
    const params = wire.Parameters?.value as Record<string, Variant>;
    expect(params["passive-count"]?.signature).toBe("u");
    expect(params["passive-limit"]?.signature).toBe("u");
    expect(params.weight?.signature).toBe("d");
    expect(params.enabled?.signature).toBe("b");
    expect(params.variant?.signature).toBe("s");
    const stats = wire.Statistics?.value as Record<string, Variant>;
    expect(new Set(Object.values(stats).map((v) => v.signature))).toEqual(new Set(["d"]));

    expect(await client.property(published.busName, "ColoState")).toBe("colo");
    const [xml] = await agentCall("Introspect", "org.freedesktop.DBus.Introspectable");
    expect(xml).toContain(`<interface name="${INTERFACE}">`);
    expect(xml).toMatch(/<property name="History" type="a\(tss\)" access="read"/);
    expect(xml).toMatch(/<signal name="Tick">/);
  });

  // How often it may send (a few times a second at most) is throttle.test.ts's, on a fake clock;
  // here, what one batch of changes sends, each batch ended by the signal of the next change.
  it("sends PropertiesChanged only for properties whose value changed, one per batch of changes", async () => {
    await publish();
    const { events, stop } = await follow();
    const changes = () => ofType(events, "properties").map((e) => e.changed);
    const signalled = (n: number) =>
      waitUntil(`PropertiesChanged #${n}`, () => changes().length >= n, WAIT_MS);

    // A burst of "changed", as the agent emits around each checkpoint: one signal says it all.
    agent.update({ colo: "exited", coloReason: "COLO_EXIT reason=error" });
    for (let i = 0; i < 50; i++) agent.update({ mean: i });
    await signalled(1);
    agent.update({ samples: 8 });
    await signalled(2);
    expect(changes()).toEqual([
      { ColoState: "exited", ColoReason: "COLO_EXIT reason=error", Mean: 49 },
      { Samples: 8 },
    ]);

    // Saying "changed" with nothing changed sends nothing. The service reads the agent's status
    // once per batch: once it has read it for these, the next change's signal is the next one.
    const reads = vi.spyOn(agent, "status");
    for (let i = 0; i < 10; i++) agent.update({});
    await waitUntil("the batch of no changes", () => reads.mock.calls.length > 0, WAIT_MS);
    agent.update({ samples: 9 });
    await signalled(3);
    expect(changes().slice(2)).toEqual([{ Samples: 9 }]);
    stop();
  });

  it("SetParameters applies a valid patch, typed or as text", async () => {
    await publish();
    await client.setParameters(published.busName, { "passive-limit": "300", weight: 0.5 });
    await agentCall("SetParameters", INTERFACE, "a{sv}", [
      { "passive-count": new Variant("u", 42), enabled: new Variant("b", false) },
    ]);
    const params = await client.property(published.busName, "Parameters");
    expect(params).toMatchObject({
      "passive-limit": 300,
      weight: 0.5,
      "passive-count": 42,
      enabled: false,
    });
  });

  it("SetParameters with any bad field changes nothing and names every bad field, one a line", async () => {
    await publish();
    const before = await client.property(published.busName, "Parameters");
    const error = await client
      .setParameters(published.busName, {
        "passive-limit": "0",
        weight: "2",
        bogus: "1",
        warmup: "7",
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(BusError);
    expect((error as BusError).errorName).toBe("org.freedesktop.DBus.Error.InvalidArgs");
    expect((error as BusError).message.split("\n")).toEqual([
      'passive-limit="0" is out of range: 1..600000 ms',
      'weight="2" is out of range: 0.01..1',
      "unknown parameter 'bogus'",
    ]);
    const typed = await agentCall("SetParameters", INTERFACE, "a{sv}", [
      { "passive-count": new Variant("u", 0) },
    ]).catch((e: BusError) => e.message);
    expect(typed).toBe("passive-count=0 is out of range: 1..100000 checkpoints");
    expect(await client.property(published.busName, "Parameters")).toEqual(before);

    // Valid, but the agent cannot store them.
    agent.storeError = "libvirt: domain not found";
    const failed = await client
      .setParameters(published.busName, { warmup: "7" })
      .catch((e: BusError) => e);
    expect(failed).toMatchObject({
      errorName: "org.colo_hybrid.Error.Failed",
      message: "libvirt: domain not found",
    });
  });

  it("Failover calls the agent; its failure is org.colo_hybrid.Error.Failed with the reason", async () => {
    await publish();
    agent.failoverError = "the secondary's QEMU does not answer";
    const error = await client.failover(published.busName).catch((e: BusError) => e);
    expect(error).toMatchObject({
      errorName: "org.colo_hybrid.Error.Failed",
      message: "the secondary's QEMU does not answer",
    });
    agent.failoverError = undefined;
    await client.failover(published.busName);
    expect(await client.property(published.busName, "ColoState")).toBe("failed-over");
  });

  it("Resync hands the agent the secondary's URI (empty: its peer's host); its refusal is org.colo_hybrid.Error.Failed with the reason", async () => {
    await publish();
    await client.resync(published.busName, "qemu+ssh://host2/system");
    await client.resync(published.busName);
    expect(agent.resyncs).toEqual(["qemu+ssh://host2/system", ""]);
    agent.resyncError = "'web1' is in COLO already (colo): there is nothing to resync";
    const error = await client.resync(published.busName).catch((e: BusError) => e);
    expect(error).toMatchObject({
      errorName: "org.colo_hybrid.Error.Failed",
      message: "'web1' is in COLO already (colo): there is nothing to resync",
    });
  });

  it("ResetStatistics resets the agent's statistics", async () => {
    await publish();
    expect(await client.property(published.busName, "Samples")).toBe(7);
    await client.resetStatistics(published.busName);
    expect(await client.property(published.busName, "Samples")).toBe(0);
  });

  it("ModeChanged carries from, to, reason and mean", async () => {
    await publish();
    const { events, stop } = await follow();
    agent.transition({
      t: 1,
      from: "colo",
      to: "passive",
      reason: "mean-below-limit",
      mean: 212.5,
    });
    await waitUntil("ModeChanged", () => ofType(events, "mode-changed").length > 0, WAIT_MS);
    expect(ofType(events, "mode-changed")).toEqual([
      {
        type: "mode-changed",
        from: "colo",
        to: "passive",
        reason: "mean-below-limit",
        mean: 212.5,
      },
    ]);
    stop();
  });

  // At most once a second, and none when none ended: throttle.test.ts, on a fake clock.
  it("Tick carries the checkpoints that ended, in order, one signal per batch of them", async () => {
    await publish();
    const { events, stop } = await follow();
    const ticks = () => ofType(events, "tick").map((e) => e.checkpoints);
    const batches = [[0, 1, 2], [3], [4, 5, 6, 7, 8, 9]].map((batch) =>
      batch.map((i) => checkpointAt(i, i % 2 === 0 ? "colo" : "passive")),
    );
    for (const [n, batch] of batches.entries()) {
      for (const c of batch) agent.checkpoint(c);
      await waitUntil(`Tick #${n + 1}`, () => ticks().length > n, WAIT_MS);
    }
    // t is whole ms on the wire; an unknown length is -1 there, undefined here again.
    expect(ticks()).toEqual(batches.map((b) => b.map((c) => ({ ...c, t: Math.round(c.t) }))));
    expect(ticks()[0]?.[0]?.length).toBeUndefined();
    stop();
  });

  it("RecentCheckpoints returns the agent's recent checkpoints, -1 for what is unknown", async () => {
    await publish();
    agent.checkpoint(checkpointAt(0));
    agent.checkpoint({ ...checkpointAt(1), pause: undefined });
    const [tuples] = await agentCall("RecentCheckpoints");
    expect(tuples).toEqual([
      [1_700_000_000_000n, -1, 10, 300, "colo"],
      [1_700_000_001_001n, 101, -1, 299, "colo"],
    ]);
    expect(await client.recentCheckpoints(published.busName)).toEqual([
      { t: 1_700_000_000_000, mode: "colo", length: undefined, pause: 10, mean: 300 },
      { t: 1_700_000_001_001, mode: "colo", length: 101, pause: undefined, mean: 299 },
    ]);
  });

  it("refuses a second agent for the same domain, saying who holds the name", async () => {
    await publish();
    const uuid = agent.status().uuid;
    const second = publishAgent(new FakeAgent("twin", uuid), uuid);
    await expect(second).rejects.toThrow(
      new RegExp(
        `^cannot own ${published.busName.replaceAll(".", "\\.")} on the system bus: process ${process.pid} holds it`,
      ),
    );
    expect(await client.property(published.busName, "Domain")).toBe(agent.status().domain);
  });

  it("gives its name up on close; a follower sees it go and come back", async () => {
    await publish();
    const { busName } = published;
    const { events, stop } = await follow();
    await published.close();
    expect((await client.agents()).map((a) => a.busName)).not.toContain(busName);
    published = await publishAgent(agent, agent.status().uuid);
    agent.transition({ t: 2, from: "colo", to: "passive", reason: "mean-below-limit", mean: 1 });
    await waitUntil(
      "ModeChanged from the new agent",
      () => ofType(events, "mode-changed").length > 0,
      WAIT_MS,
    );
    expect(ofType(events, "agent")).toEqual([
      { type: "agent", running: false },
      { type: "agent", running: true },
    ]);
    stop();
  });
});
