// agents.ts against a fake cockpit.dbus: discovery by bus-name prefix, properties and signals
// into the store, and the calls it makes (types, superuser, errors), as docs/dbus.md has them.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { connectAgents } from "../../cockpit/src/agents.js";
import { Store } from "../../cockpit/src/state.js";
import { type FakeCockpit, installFakeCockpit } from "./fake-cockpit.js";
import { BUS_NAME, UUID } from "./fixtures.js";

const PATH = "/org/colo_hybrid/Agent";
const IFACE = "org.colo_hybrid.Agent1";
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

let fake: FakeCockpit;
let store: Store;

async function discover(names: string[]) {
  const actions = connectAgents(store);
  const [listNames] = fake.bus.callsOf("ListNames");
  listNames?.resolve([names]);
  await flush();
  return actions;
}

function ownerChanged(name: string, owner: string) {
  fake.bus
    .client("org.freedesktop.DBus")
    .signal("/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged", [
      name,
      owner ? "" : ":1.9",
      owner,
    ]);
}

beforeEach(() => {
  fake = installFakeCockpit();
  store = new Store();
});

describe("discovery", () => {
  it("follows NameOwnerChanged before listing names, and keeps only agents", async () => {
    connectAgents(store);
    const bus = fake.bus.client("org.freedesktop.DBus");
    expect(bus.options).toEqual({ bus: "system" });
    expect(bus.subscriptions[0]?.match).toMatchObject({ member: "NameOwnerChanged" });
    const [listNames] = fake.bus.callsOf("ListNames");
    expect(store.get().discovery.state).toBe("starting");
    listNames?.resolve([["org.freedesktop.DBus", ":1.4", BUS_NAME, "org.colo_hybrid.Agent.bogus"]]);
    await flush();
    expect(store.get().discovery.state).toBe("ready");
    expect([...store.get().agents.keys()]).toEqual([BUS_NAME]);
    expect(store.get().agents.get(BUS_NAME)).toMatchObject({ uuid: UUID, running: true });
    const client = fake.bus.client(BUS_NAME);
    expect(client.watches).toEqual([{ path: PATH, interface: IFACE }]);
  });

  it("marks an agent stopped when its name loses its owner, and follows it again when back", async () => {
    await discover([BUS_NAME]);
    const first = fake.bus.client(BUS_NAME);
    ownerChanged(BUS_NAME, "");
    expect(first.closed).toBe(true);
    expect(store.get().agents.get(BUS_NAME)?.running).toBe(false);
    ownerChanged(BUS_NAME, ":1.20");
    expect(store.get().agents.get(BUS_NAME)?.running).toBe(true);
    expect(fake.bus.client(BUS_NAME)).not.toBe(first);
  });

  it("ignores other names coming and going", async () => {
    await discover([]);
    ownerChanged("org.example.Other", ":1.30");
    expect(store.get().agents.size).toBe(0);
  });

  it("says so when the bus does not answer, and recovers when it does", async () => {
    vi.useFakeTimers();
    try {
      connectAgents(store);
      await vi.advanceTimersByTimeAsync(15_000);
      expect(store.get().discovery).toEqual({
        state: "failed",
        message: "The system bus does not answer.",
      });
      fake.bus.callsOf("ListNames")[0]?.resolve([[BUS_NAME]]);
      await vi.advanceTimersByTimeAsync(0);
      expect(store.get().discovery.state).toBe("ready");
      expect(store.get().agents.size).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("says why when the bus cannot be listed", async () => {
    connectAgents(store);
    fake.bus.callsOf("ListNames")[0]?.reject({
      name: null,
      problem: "disconnected",
      message: "Server has closed the connection.",
    });
    await flush();
    expect(store.get().discovery).toEqual({
      state: "failed",
      message: "Cannot list the system bus: Server has closed the connection.",
    });
  });
});

describe("properties and signals", () => {
  it("decodes the properties as the dbus-json3 channel delivers them", async () => {
    await discover([BUS_NAME]);
    fake.bus.client(BUS_NAME).emit("notify", {
      [PATH]: {
        [IFACE]: {
          Domain: "web1",
          Role: "primary",
          ColoState: "colo",
          Mode: "passive",
          PassiveLeft: 37,
          Mean: 212.5,
          Parameters: {
            "passive-limit": { t: "u", v: 400 },
            weight: { t: "d", v: 0.3 },
            enabled: { t: "b", v: true },
            variant: { t: "s", v: "corrected" },
          },
          Statistics: { "per-minute": { t: "d", v: 42 } },
          History: [
            [1_700_000_000_000, "transition", "passive: mean 212 ms < passive-limit 400 ms"],
          ],
          Unknown: 1,
        },
      },
    });
    const info = store.get().agents.get(BUS_NAME)?.info;
    expect(info).toMatchObject({
      domain: "web1",
      colo: "colo",
      mode: "passive",
      passiveLeft: 37,
      mean: 212.5,
      params: { "passive-limit": 400, weight: 0.3, enabled: true, variant: "corrected" },
      stats: { "per-minute": 42 },
      history: [
        {
          t: 1_700_000_000_000,
          kind: "transition",
          message: "passive: mean 212 ms < passive-limit 400 ms",
        },
      ],
    });
    // A PropertiesChanged carries only what changed.
    fake.bus
      .client(BUS_NAME)
      .emit("notify", { [PATH]: { [IFACE]: { Mode: "colo", PassiveLeft: 0 } } });
    expect(store.get().agents.get(BUS_NAME)?.info).toMatchObject({ domain: "web1", mode: "colo" });
  });

  it("keeps checkpoints only while followed: RecentCheckpoints, then Ticks", async () => {
    const actions = await discover([BUS_NAME]);
    const client = fake.bus.client(BUS_NAME);
    client.signal(PATH, IFACE, "Tick", [[[1000, 150, 20, 300, "colo"]]]);
    expect(store.get().agents.get(BUS_NAME)?.checkpoints).toBeUndefined();

    const unfollow = actions.followCheckpoints(BUS_NAME);
    const [recent] = fake.bus.callsOf("RecentCheckpoints");
    expect(recent?.client).toBe(client);
    recent?.resolve([
      [
        [1000, 150, 20, 300, "colo"],
        [2000, -1, -1, 280, "passive"],
      ],
    ]);
    await flush();
    client.signal(PATH, IFACE, "Tick", [
      [
        [2000, -1, 25, 280, "passive"],
        [3000, 250, 22, 280, "passive"],
      ],
    ]);
    expect(store.get().agents.get(BUS_NAME)?.checkpoints).toEqual([
      { t: 1000, length: 150, pause: 20, mean: 300, mode: "colo" },
      { t: 2000, length: undefined, pause: 25, mean: 280, mode: "passive" },
      { t: 3000, length: 250, pause: 22, mean: 280, mode: "passive" },
    ]);
    unfollow();
    expect(store.get().agents.get(BUS_NAME)?.checkpoints).toBeUndefined();
  });

  it("says when the agent may not be read", async () => {
    await discover([BUS_NAME]);
    fake.bus.client(BUS_NAME).emit("close", { problem: "access-denied" });
    expect(store.get().agents.get(BUS_NAME)?.failure).toMatch(/group libvirt/);
  });
});

describe("calls", () => {
  it("sets parameters in one call through the administrative bridge, numbers as typed", async () => {
    const actions = await discover([BUS_NAME]);
    fake.bus.onCall = (call) => {
      if (call.method === "SetParameters") call.resolve([]);
    };
    await actions.setParameters(BUS_NAME, { "passive-limit": "300", enabled: false });
    const [call] = fake.bus.callsOf("SetParameters");
    expect(call?.client.options).toEqual({ bus: "system", superuser: "try" });
    expect(call?.options).toEqual({ type: "a{sv}" });
    expect(call?.args).toEqual([
      { "passive-limit": { t: "s", v: "300" }, enabled: { t: "b", v: false } },
    ]);
    expect(call?.client.closed).toBe(true);
  });

  it("rejects with the agent's own message when it refuses", async () => {
    const actions = await discover([BUS_NAME]);
    const message = 'passive-limit="0" is out of range: 1..600000 ms';
    fake.bus.onCall = (call) =>
      call.reject({ name: "org.freedesktop.DBus.Error.InvalidArgs", problem: null, message });
    await expect(actions.setParameters(BUS_NAME, { "passive-limit": "0" })).rejects.toThrow(
      message,
    );
    fake.bus.onCall = (call) =>
      call.reject({
        name: "org.colo_hybrid.Error.Failed",
        problem: null,
        message: "peer unreachable",
      });
    await expect(actions.failover(BUS_NAME)).rejects.toThrow("peer unreachable");
  });
});
