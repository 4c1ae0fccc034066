// `colo-hybrid list|status|get|set|events|failover` end to end: the built bundle, run as root
// would run it, against an agent this test publishes on the real system bus.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SystemBus } from "../../src/dbus/bus.js";
import { busNameForUuid } from "../../src/dbus/names.js";
import { type PublishedAgent, publishAgent } from "../../src/dbus/service.js";
import { node18 } from "../support/cli.js";
import { checkpointAt, FakeAgent } from "./fake-agent.js";
import { installPolicy, runCli, startCli } from "./host.js";

const UUID = randomUUID();
const DOMAIN = `dbus-cli-${UUID.slice(0, 8)}`;

let removePolicy: () => Promise<void>;
let agent: FakeAgent;
let published: PublishedAgent;

beforeAll(async () => {
  removePolicy = await installPolicy();
  agent = new FakeAgent(DOMAIN, UUID);
  published = await publishAgent(agent, UUID);
});

afterAll(async () => {
  await published?.close();
  await removePolicy?.();
});

describe("the agent commands", () => {
  it("list: a table like virsh list, one row per agent", async () => {
    agent.update({ mode: "passive", passiveLeft: 42 });
    const r = await runCli(["list"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(
      /^ Domain +Role +COLO state +Mode +Passive left +Mean +Checkpoints\/min$/,
    );
    expect(lines[1]).toMatch(/^-+$/);
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^ ${DOMAIN} +primary +colo +passive +42 +512\\.3 ms +0\\.0$`),
      ),
    );
    expect(r.stdout.endsWith("\n\n")).toBe(true);
    // Out of COLO a primary has no mode, mean or rate to show.
    agent.update({ colo: "failed-over" });
    expect((await runCli(["list"])).stdout).toMatch(
      new RegExp(`^ ${DOMAIN} +primary +failed-over +- +- +- +-$`, "m"),
    );
    agent.update({ mode: "colo", passiveLeft: 0, colo: "colo" });
  });

  it("status: one agent by name or UUID, in full or as JSON; every agent without DOMAIN", async () => {
    const byName = await runCli(["status", DOMAIN]);
    expect(byName.status).toBe(0);
    expect(byName.stdout).toContain(`Domain:         ${DOMAIN}\nUUID:           ${UUID}\n`);
    expect(byName.stdout).toContain("COLO state:     colo\n");
    expect(byName.stdout).toContain(
      "Mean:           512.3 ms over 7 samples; passive below 400 ms\n",
    );
    expect(byName.stdout).toContain("QEMU:           7.2.22 (primary), 7.2.22 (secondary)\n");
    expect(byName.stdout).toContain(
      "History:        last 1 of 1\n  2023-11-14 22:13:20.123+0000  colo        COLO started\n",
    );
    expect((await runCli(["status", UUID.toUpperCase()])).stdout).toBe(byName.stdout);

    const json = JSON.parse((await runCli(["status", UUID, "--json"])).stdout);
    expect(json).toMatchObject({
      Domain: DOMAIN,
      Uuid: UUID,
      Parameters: { "passive-limit": 400, enabled: true, variant: "corrected" },
      History: [{ t: 1_700_000_000_123, kind: "colo", message: "COLO started" }],
    });

    const all = await runCli(["status", "--json"]);
    expect(all.status).toBe(0);
    expect(JSON.parse(all.stdout)).toContainEqual(json);
  });

  it("get: every parameter like virsh schedinfo, or the bare value of one", async () => {
    const all = await runCli(["get", DOMAIN]);
    expect(all.stdout).toContain("passive-limit : 400\n");
    expect(all.stdout).toContain("weight        : 0.3\n");
    expect(await runCli(["get", DOMAIN, "variant"])).toEqual({
      status: 0,
      stdout: "corrected\n",
      stderr: "",
    });
    const unknown = await runCli(["get", DOMAIN, "nope"]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/^error: unknown parameter 'nope'; known: passive-count, /);
  });

  it("set: all or nothing; the agent's own errors, one line each, exit 1", async () => {
    expect(await runCli(["set", DOMAIN, "passive-limit=300", "enabled=false"])).toEqual({
      status: 0,
      stdout: "",
      stderr: "",
    });
    expect(agent.status().params).toMatchObject({ "passive-limit": 300, enabled: false });

    expect(await runCli(["set", DOMAIN, "passive-limit=0", "weight=abc", "warmup=3"])).toEqual({
      status: 1,
      stdout: "",
      stderr:
        'error: passive-limit="0" is out of range: 1..600000 ms\nerror: weight="abc" is out of range: 0.01..1\n',
    });
    expect(agent.status().params).toMatchObject({ "passive-limit": 300, warmup: 5 });

    expect((await runCli(["set", DOMAIN, "warmup"])).stderr).toBe(
      "error: 'warmup' is not KEY=VALUE\n",
    );
    expect((await runCli(["set", DOMAIN, "warmup=1", "warmup=2"])).stderr).toBe(
      "error: 'warmup' is given twice\n",
    );
  });

  it("get: a key is a parameter only if the schema has it, never an Object property", async () => {
    for (const key of ["__proto__", "toString", "constructor", "hasOwnProperty"]) {
      const r = await runCli(["get", DOMAIN, key]);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(
        new RegExp(
          `^error: unknown parameter '${key}'; known: passive-count, [^\\n]*auto-failover, peer-timeout\\n$`,
        ),
      );
      expect(r.status).toBe(1);
    }
  });

  it("set: Object property names go to the agent as keys, which refuses them as unknown", async () => {
    for (const key of ["__proto__", "toString", "constructor"]) {
      expect(await runCli(["set", DOMAIN, `${key}=1`, "warmup=3"])).toEqual({
        status: 1,
        stdout: "",
        stderr: `error: unknown parameter '${key}'\n`,
      });
      expect(agent.status().params).toMatchObject({ warmup: 5 });
    }
    expect((await runCli(["set", DOMAIN, "__proto__=1", "__proto__=2"])).stderr).toBe(
      "error: '__proto__' is given twice\n",
    );
  });

  it("events: one line per mode change, per Tick, per COLO state or error change, until ^C", async () => {
    const events = startCli(["events", DOMAIN]);
    await events.waitFor(/domain '.*': primary, COLO state colo, mode colo, .*following/);
    const at = String.raw`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: `;
    const line = (kind: string, text: string) =>
      new RegExp(`${at}event '${kind}' for domain '${DOMAIN}': ${text}$`, "m");

    agent.transition({
      t: 1,
      from: "colo",
      to: "passive",
      reason: "mean-below-limit",
      mean: 212.5,
    });
    await events.waitFor(
      line("mode", String.raw`colo → passive \(mean-below-limit, mean 212\.5 ms\)`),
    );
    agent.checkpoint(checkpointAt(1, "passive"));
    agent.checkpoint(checkpointAt(2, "passive"));
    await events.waitFor(
      line(
        "checkpoints",
        String.raw`2 ended \(passive\), length 101\.0\.\.102\.0 ms, pause 11\.0\.\.12\.0 ms, mean 298\.0 ms`,
      ),
    );
    agent.update({ colo: "exited", coloReason: "COLO_EXIT reason=error" });
    await events.waitFor(line("colo-state", String.raw`colo → exited \(COLO_EXIT reason=error\)`));
    agent.update({ lastError: "failover failed: no QEMU" });
    await events.waitFor(line("error", "failover failed: no QEMU"));

    // The agent restarts (with its domain): the follower says so and goes on.
    await published.close();
    await events.waitFor(line("agent", "stopped"));
    agent.update({ colo: "colo", coloReason: "" });
    published = await publishAgent(agent, UUID);
    await events.waitFor(line("agent", "started"));
    await events.waitFor(line("colo-state", "exited → colo"));

    expect(await events.interrupt()).toBe(0);
    expect(events.stderr()).toBe("");
    // Nothing but the lines above: the Mean that changed with the transition is no event.
    expect(events.stdout().trim().split("\n")).toHaveLength(8);
  });

  it("failover: says so; its failure in virsh's two lines", async () => {
    agent.failoverError = "the secondary's QEMU does not answer";
    expect(await runCli(["failover", DOMAIN])).toEqual({
      status: 1,
      stdout: "",
      stderr: `error: Failed to fail over domain '${DOMAIN}'\nerror: the secondary's QEMU does not answer\n`,
    });
    agent.failoverError = undefined;
    expect(await runCli(["failover", DOMAIN])).toEqual({
      status: 0,
      stdout: `Domain '${DOMAIN}' failed over\n`,
      stderr: "",
    });
    expect(agent.status().colo).toBe("failed-over");
  });

  it("finds DOMAIN by name at once although another agent never answers", async () => {
    const hung = await SystemBus.connect();
    hung.bus.addMethodHandler(() => true); // takes every call, answers none
    await hung.callBus("RequestName", "su", [busNameForUuid(randomUUID()), 4]);
    try {
      const start = performance.now();
      expect((await runCli(["get", DOMAIN, "variant"])).stdout).toBe("corrected\n");
      expect(performance.now() - start).toBeLessThan(5000);
    } finally {
      hung.close();
    }
  });

  it("names a domain without an agent as virsh names a missing domain", async () => {
    const r = await runCli(["status", "no-such-domain"]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^error: no agent for domain 'no-such-domain'/);
    expect((await runCli(["get"])).stderr).toBe(
      "error: get: wrong arguments; see 'colo-hybrid help get'\n",
    );
  });

  it("prints the same under Debian 12's Node.js 18", async () => {
    for (const args of [
      ["status", DOMAIN],
      ["status", DOMAIN, "--json"],
      ["get", DOMAIN],
    ]) {
      const old = await runCli(args, { node: node18() });
      expect(old.stderr).toBe("");
      expect(old.stdout).toBe((await runCli(args)).stdout);
    }
    // Other agents on the bus may change between two runs: this one's row is compared.
    const row = (out: string) => out.split("\n").find((l) => l.startsWith(` ${DOMAIN} `));
    const list = await runCli(["list"], { node: node18() });
    expect(row(list.stdout)).toBe(row((await runCli(["list"])).stdout));
  });
});
