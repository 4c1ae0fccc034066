// packaging/dbus/org.colo_hybrid.Agent.conf on the real system bus: what a member of group
// libvirt and what anybody else may do with an agent, through raw calls, a raw signal listener
// and the CLI bundle, each run as that user.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INTERFACE, OBJECT_PATH } from "../../src/dbus/names.js";
import { type PublishedAgent, publishAgent } from "../../src/dbus/service.js";
import { FakeAgent } from "./fake-agent.js";
import { callAs, ensureUser, installPolicy, listenAs, runCli } from "./host.js";

const READER = "colo-hybrid-test-reader";
const OUTSIDER = "colo-hybrid-test-outsider";
const UUID = randomUUID();
const DOMAIN = `dbus-policy-${UUID.slice(0, 8)}`;

let removePolicy: () => Promise<void>;
let agent: FakeAgent;
let published: PublishedAgent;

beforeAll(async () => {
  removePolicy = await installPolicy();
  await ensureUser(READER, true);
  await ensureUser(OUTSIDER, false);
  agent = new FakeAgent(DOMAIN, UUID);
  published = await publishAgent(agent, UUID);
});

afterAll(async () => {
  await published?.close();
  await removePolicy?.();
});

const PROPS = "org.freedesktop.DBus.Properties";
const CALLS: [string, string, string, unknown[]][] = [
  [PROPS, "Get", "ss", [INTERFACE, "Domain"]],
  [PROPS, "GetAll", "s", [INTERFACE]],
  ["org.freedesktop.DBus.Introspectable", "Introspect", "", []],
  ["org.freedesktop.DBus.Peer", "Ping", "", []],
  [INTERFACE, "RecentCheckpoints", "", []],
  [INTERFACE, "SetParameters", "a{sv}", [{}]],
  [INTERFACE, "Failover", "", []],
  [INTERFACE, "ResetStatistics", "", []],
  [INTERFACE, "Resync", "s", [""]],
];
const READS = new Set(["Get", "GetAll", "Introspect", "Ping", "RecentCheckpoints"]);
const DENIED = "org.freedesktop.DBus.Error.AccessDenied";

async function answers(user: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [iface, member, signature, body] of CALLS) {
    const message = { destination: published.busName, path: OBJECT_PATH, interface: iface };
    out[member] = await callAs(user, { ...message, member, signature, body });
  }
  return out;
}

describe("the agents' bus policy", () => {
  it("lets group libvirt read (properties, introspection, Peer, recent checkpoints) and nothing else", async () => {
    const expected = Object.fromEntries(
      CALLS.map(([, member]) => [member, READS.has(member) ? "ok" : DENIED]),
    );
    expect(await answers(READER)).toEqual(expected);
    expect(agent.status().colo).toBe("colo");
  });

  it("lets nobody else call anything", async () => {
    const expected = Object.fromEntries(CALLS.map(([, member]) => [member, DENIED]));
    expect(await answers(OUTSIDER)).toEqual(expected);
  });

  it("delivers the agents' signals to group libvirt only", async () => {
    const reader = listenAs(READER);
    const outsider = listenAs(OUTSIDER);
    await Promise.all([reader.waitFor(/ready/), outsider.waitFor(/ready/)]);
    agent.transition({ t: 1, from: "colo", to: "passive", reason: "mean-below-limit", mean: 9 });
    await reader.waitFor(/ModeChanged\n[\s\S]*PropertiesChanged/);
    await sleep(500);
    await Promise.all([reader.interrupt(), outsider.interrupt()]);
    expect(outsider.stdout()).toBe("ready\n");
  });

  it("shows in the CLI: group libvirt reads but cannot set; anybody else cannot even read", async () => {
    const status = await runCli(["status", DOMAIN, "--json"], { user: READER });
    expect(status.stderr).toBe("");
    expect(JSON.parse(status.stdout)).toMatchObject({ Domain: DOMAIN, Uuid: UUID });

    const set = await runCli(["set", UUID, "passive-limit=300"], { user: READER });
    expect(set).toEqual({
      status: 1,
      stdout: "",
      stderr:
        "error: permission denied: only root may call SetParameters (group 'libvirt' may only read)\n",
    });
    expect(agent.status().params["passive-limit"]).toBe(400);

    const denied =
      "error: permission denied: only root and members of group 'libvirt' may read the agents\n";
    expect(await runCli(["status", UUID], { user: OUTSIDER })).toEqual({
      status: 1,
      stdout: "",
      stderr: denied,
    });
    const list = await runCli(["list"], { user: OUTSIDER });
    expect(list.status).toBe(1);
    expect(list.stderr).toBe(denied);
  });
});
