// The supervisor the hook starts where systemd does not run, with a stand-in agent (installed.ts).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logFile, pidFile, RUN_DIR } from "../../src/hook/paths.js";
import { isAlive, waitGone } from "../support/processes.js";
import { waitUntil } from "../support/wait.js";
import { domainXml, metadataElement, newUuid } from "./domains.js";
import { InstalledHook } from "./installed.js";

const uuids: string[] = [];
function uuid(): string {
  const u = newUuid();
  uuids.push(u);
  return u;
}

let hook: InstalledHook;
beforeAll(() => {
  hook = InstalledHook.install();
});
afterAll(async () => {
  await hook?.remove(uuids);
});

async function start(u: string): Promise<{ supervisor: number; agent: number }> {
  expect(hook.run("web1", "started", "begin", domainXml("web1", u, metadataElement())).status).toBe(
    0,
  );
  const agent = await hook.agentRuns(u);
  const [supervisor] = hook.supervisors(u);
  expect(readFileSync(pidFile(u), "utf8")).toBe(`${supervisor}\n`);
  return { supervisor: supervisor as number, agent };
}

const log = (u: string) => readFileSync(logFile(u), "utf8");

describe("the supervisor", () => {
  it("restarts an agent that dies, and on SIGTERM stops it and exits", async () => {
    const u = uuid();
    const { supervisor, agent } = await start(u);
    process.kill(agent, "SIGKILL");
    const next = await hook.agentRuns(u, 2);
    expect(next).not.toBe(agent);
    expect(log(u)).toContain("supervisor: agent was killed by SIGKILL; restarting it in 500 ms");

    process.kill(supervisor, "SIGTERM");
    await waitGone(supervisor, "supervisor", 10_000);
    expect(isAlive(next)).toBe(false);
    expect(hook.agentEvents(u).map((e) => e.event)).toEqual(["start", "start", "sigterm"]);
    expect(existsSync(pidFile(u))).toBe(false);
    expect(log(u)).toContain("supervisor: agent exited with status 0; exiting");
  });

  it("backs off further while the agent keeps failing", async () => {
    const u = uuid();
    const { supervisor, agent } = await start(u);
    process.kill(agent, "SIGKILL");
    process.kill(await hook.agentRuns(u, 2), "SIGKILL");
    await hook.agentRuns(u, 3);
    expect(log(u)).toMatch(/restarting it in 500 ms\n(.*\n)*.*restarting it in 1000 ms\n/);
    process.kill(supervisor, "SIGTERM");
    await waitGone(supervisor, "supervisor", 10_000);
  });

  it("does not restart an agent that ended cleanly, and leaves", async () => {
    const u = uuid();
    const { supervisor, agent } = await start(u);
    process.kill(agent, "SIGTERM");
    await waitGone(supervisor, "supervisor", 10_000);
    expect(log(u)).toContain("supervisor: agent exited with status 0; not restarted");
    expect(existsSync(pidFile(u))).toBe(false);
  });

  it("without the hook's word, leaves at once and touches nothing", () => {
    const u = uuid();
    mkdirSync(RUN_DIR, { recursive: true });
    writeFileSync(pidFile(u), "1\n");
    const r = spawnSync(
      process.execPath,
      [join(hook.libDir, "colo-hybrid-hook.mjs"), "supervise", "--uuid", u],
      { input: "", encoding: "utf8", timeout: 10_000 },
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    expect(readFileSync(pidFile(u), "utf8")).toBe("1\n");
    expect(hook.agentEvents(u)).toEqual([]);
  });

  it("takes over a pid file its process left behind", async () => {
    mkdirSync(RUN_DIR, { recursive: true });
    // A live process that is no supervisor of this domain (pids get reused), and a dead one.
    for (const stale of [process.pid, 0x3fffff]) {
      const u = uuid();
      writeFileSync(pidFile(u), `${stale}\n`);
      const { supervisor } = await start(u);
      expect(supervisor).not.toBe(stale);
      process.kill(supervisor, "SIGTERM");
      await waitGone(supervisor, "supervisor", 10_000);
    }
  });

  it("is stopped by the hook at once, even while the agent takes its time", async () => {
    const u = uuid();
    const { supervisor, agent } = await start(u);
    const release = hook.hold(u);
    const xml = domainXml("web1", u, metadataElement());
    expect(hook.run("web1", "stopped", "end", xml).status).toBe(0);
    // The pid file is out of the way at once; the stopping supervisor is named aside.
    expect(existsSync(pidFile(u))).toBe(false);
    expect(existsSync(join(RUN_DIR, `${u}.${supervisor}.stopping`))).toBe(true);
    await waitUntil("the agent to get SIGTERM", () => hook.agentEvents(u).length === 2, 10_000, 50);
    expect(isAlive(agent)).toBe(true);
    release();
    await waitGone(supervisor, "supervisor", 10_000);
    expect(existsSync(join(RUN_DIR, `${u}.${supervisor}.stopping`))).toBe(false);
  });
});
