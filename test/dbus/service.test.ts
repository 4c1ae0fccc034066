// The agent's D-Bus surface on the real system bus, as root: an agent published by
// src/dbus/service.ts, seen through src/dbus/client.ts and, for the wire types, raw messages.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Variant } from "@jellybrick/dbus-next";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
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

/** The agent's events, each with when it arrived (ms, monotonic). */
async function follow(): Promise<{ events: { at: number; event: AgentEvent }[]; stop(): void }> {
  const events: { at: number; event: AgentEvent }[] = [];
  const stop = await client.follow(published.busName, (event) =>
    events.push({ at: performance.now(), event }),
  );
  return { events, stop };
}

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

  it("sends PropertiesChanged only for properties whose value changed, a few a second at most", async () => {
    await publish();
    const { events, stop } = await follow();
    agent.update({ colo: "exited", coloReason: "COLO_EXIT reason=error" });
    // A burst of "changed", as the agent emits around each checkpoint.
    for (let i = 0; i < 50; i++) agent.update({ mean: i });
    await waitUntil("PropertiesChanged", () => events.length > 0, 2000);
    await sleep(600);
    const changes = ofType(events, "properties").map((e) => e.changed);
    expect(changes.length).toBeLessThanOrEqual(2);
    const names = new Set(changes.flatMap((c) => Object.keys(c)));
    expect([...names].sort()).toEqual(["ColoReason", "ColoState", "Mean"]);
    expect(changes.at(-1)?.Mean ?? changes[0]?.Mean).toBe(49);
    expect(changes.find((c) => c.ColoState)?.ColoState).toBe("exited");

    // Saying "changed" with nothing changed sends nothing.
    events.length = 0;
    for (let i = 0; i < 10; i++) agent.update({});
    await sleep(600);
    expect(events).toEqual([]);

    // Sustained changes: at most 4 a second (one per 250 ms).
    const start = performance.now();
    for (let i = 0; performance.now() - start < 1500; i++) {
      agent.update({ samples: i });
      await sleep(10);
    }
    await sleep(300);
    const sustained = ofType(events, "properties");
    expect(sustained.length).toBeGreaterThanOrEqual(4);
    expect(sustained.length).toBeLessThanOrEqual(8);
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
    await waitUntil("ModeChanged", () => ofType(events, "mode-changed").length > 0, 2000);
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

  it("Tick batches the checkpoints that ended, at most once a second, none when none ended", async () => {
    await publish();
    const { events, stop } = await follow();
    const sent = [];
    const start = performance.now();
    for (let i = 0; performance.now() - start < 2500; i++) {
      const c = checkpointAt(i, i % 2 === 0 ? "colo" : "passive");
      sent.push(c);
      agent.checkpoint(c);
      await sleep(50);
    }
    await sleep(1200);
    const ticks = events.filter((e) => e.event.type === "tick");
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    expect(ticks.length).toBeLessThanOrEqual(4);
    for (let i = 1; i < ticks.length; i++)
      expect((ticks[i]?.at ?? 0) - (ticks[i - 1]?.at ?? 0)).toBeGreaterThan(900);
    const received = ofType(events, "tick").flatMap((e) => e.checkpoints);
    // t is whole ms on the wire; an unknown length is -1 there, undefined here again.
    expect(received).toEqual(sent.map((c) => ({ ...c, t: Math.round(c.t) })));
    expect(received[0]?.length).toBeUndefined();

    events.length = 0;
    await sleep(1500);
    expect(events).toEqual([]);
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
      2000,
    );
    expect(ofType(events, "agent")).toEqual([
      { type: "agent", running: false },
      { type: "agent", running: true },
    ]);
    stop();
  });
});
