// The agent checks who calls its mutating methods itself, not only through the bus policy: with
// a second policy file of the test's own that lets everyone call this agent, a non-root caller
// (outside group libvirt, or in it) may still read, but SetParameters, Failover,
// ResetStatistics and Resync answer AccessDenied and change nothing; root's calls work; a caller
// the bus can no longer name is refused too.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { type MessageLike, Variant } from "@jellybrick/dbus-next";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type BusError, SystemBus } from "../../src/dbus/bus.js";
import { busNameForUuid, INTERFACE, OBJECT_PATH } from "../../src/dbus/names.js";
import { type PublishedAgent, publishAgent } from "../../src/dbus/service.js";
import { FakeAgent } from "./fake-agent.js";
import {
  allowEveryoneToCall,
  callAndLeaveSync,
  callsAs,
  ensureUser,
  installPolicy,
  uidOf,
} from "./host.js";

const READER = "colo-hybrid-test-reader";
const OUTSIDER = "colo-hybrid-test-outsider";
const UUID = randomUUID();
const DOMAIN = `dbus-caller-${UUID.slice(0, 8)}`;
const DENIED = "org.freedesktop.DBus.Error.AccessDenied";

let removePolicy: (() => Promise<void>) | undefined;
let removePermissive: (() => Promise<void>) | undefined;
let agent: FakeAgent;
let published: PublishedAgent | undefined;
let root: SystemBus | undefined;

beforeAll(async () => {
  removePolicy = await installPolicy();
  await ensureUser(READER, true);
  await ensureUser(OUTSIDER, false);
  agent = new FakeAgent(DOMAIN, UUID);
  published = await publishAgent(agent, UUID);
  removePermissive = await allowEveryoneToCall(published.busName);
  root = await SystemBus.connect();
});

afterAll(async () => {
  root?.close();
  await published?.close();
  try {
    await removePermissive?.();
  } finally {
    await removePolicy?.();
  }
});

const message = (iface: string, member: string, signature = "", body: unknown[] = []) => ({
  destination: busNameForUuid(UUID),
  path: OBJECT_PATH,
  interface: iface,
  member,
  signature,
  body,
});

const PROPS = "org.freedesktop.DBus.Properties";
const READS: MessageLike[] = [
  message(PROPS, "Get", "ss", [INTERFACE, "Domain"]),
  message(PROPS, "GetAll", "s", [INTERFACE]),
  message("org.freedesktop.DBus.Introspectable", "Introspect"),
  message("org.freedesktop.DBus.Peer", "Ping"),
  message(INTERFACE, "RecentCheckpoints"),
];
const SET = message(INTERFACE, "SetParameters", "a{sv}", [
  { "passive-limit": new Variant("s", "300"), enabled: new Variant("b", false) },
]);
const SECONDARY_URI = "qemu+ssh://host2/system";
const RESYNC = message(INTERFACE, "Resync", "s", [SECONDARY_URI]);
const MUTATIONS: MessageLike[] = [
  SET,
  message(INTERFACE, "Failover"),
  message(INTERFACE, "ResetStatistics"),
  RESYNC,
];

/** Spies on the agent's mutating calls (they still run). */
function spies() {
  return [
    vi.spyOn(agent, "setParams"),
    vi.spyOn(agent, "failover"),
    vi.spyOn(agent, "resetStats"),
    vi.spyOn(agent, "resync"),
  ] as const;
}

describe("the agent's own check of its callers", () => {
  it("lets anybody the policy lets through read: properties, introspection, Peer, recent checkpoints", async () => {
    for (const user of [OUTSIDER, READER])
      expect(await callsAs(user, READS)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
  });

  for (const [user, who] of [
    [OUTSIDER, "outside group libvirt"],
    [READER, "in group libvirt"],
  ] as const)
    it(`refuses SetParameters, Failover, ResetStatistics and Resync of a non-root caller ${who}, changing nothing`, async () => {
      const uid = await uidOf(user);
      const before = agent.status();
      const calls = spies();
      try {
        expect(await callsAs(user, MUTATIONS)).toEqual([
          `${DENIED}: SetParameters needs root: the caller is uid ${uid}`,
          `${DENIED}: Failover needs root: the caller is uid ${uid}`,
          `${DENIED}: ResetStatistics needs root: the caller is uid ${uid}`,
          `${DENIED}: Resync needs root: the caller is uid ${uid}`,
        ]);
        for (const call of calls) expect(call).not.toHaveBeenCalled();
        expect(agent.status()).toEqual(before);
      } finally {
        vi.restoreAllMocks();
      }
    });

  it("refuses a caller it cannot identify (gone from the bus before it could be asked), even root", async () => {
    const before = agent.status();
    const [setParams] = spies();
    try {
      callAndLeaveSync(SET);
      // It has read the call once it answered a later one (before, the library ran it then); it
      // asks the bus about the caller then, and is answered at once.
      await root?.call(message(PROPS, "Get", "ss", [INTERFACE, "Domain"]));
      await sleep(500);
      expect(setParams).not.toHaveBeenCalled();
      expect(agent.status()).toEqual(before);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("runs root's calls as before, with their own errors", async () => {
    const call = (m: MessageLike) => root?.call(m) ?? Promise.reject(new Error("no bus"));
    agent.update({ colo: "colo", samples: 7 });
    expect(await call(SET)).toEqual([]);
    expect(agent.status().params).toMatchObject({ "passive-limit": 300, enabled: false });
    const bad = message(INTERFACE, "SetParameters", "a{sv}", [{ weight: new Variant("s", "2") }]);
    expect(await call(bad).catch((e: BusError) => e)).toMatchObject({
      errorName: "org.freedesktop.DBus.Error.InvalidArgs",
      message: 'weight="2" is out of range: 0.01..1',
    });
    // A call that matches no method is the library's to answer, and runs nothing.
    const wrong = await call(message(INTERFACE, "ResetStatistics", "s", ["x"])).catch(
      (e: BusError) => e.errorName,
    );
    expect(wrong).toBe("org.freedesktop.DBus.Error.UnknownMethod");
    expect(agent.status().samples).toBe(7);

    expect(await call(message(INTERFACE, "ResetStatistics"))).toEqual([]);
    expect(agent.status().samples).toBe(0);
    expect(await call(message(INTERFACE, "Failover"))).toEqual([]);
    expect(agent.status().colo).toBe("failed-over");
    expect(await call(RESYNC)).toEqual([]);
    expect(agent.resyncs).toEqual([SECONDARY_URI]);
  });
});
