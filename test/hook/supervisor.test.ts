// The supervisor the hook starts where systemd does not run, with a stand-in agent (installed.ts).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logFile, pidFile, RUN_DIR } from "../../src/hook/paths.js";
import { ensureUser } from "../dbus/host.js";
import { commandLine, isAlive, waitGone } from "../support/processes.js";
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
const OUTSIDER = "colo-hybrid-test-outsider";
const HANG = "setInterval(() => {}, 1 << 30)";

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

  it("leaves at once, starting nothing, when another supervisor holds the pid file", async () => {
    const u = uuid();
    const { supervisor, agent } = await start(u);
    const r = spawnSync(
      process.execPath,
      [join(hook.libDir, "colo-hybrid-hook.mjs"), "supervise", "--uuid", u],
      { input: "", encoding: "utf8", timeout: 10_000 },
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(
        `supervisor: another supervisor \\(pid ${supervisor}\\) runs the agent; leaving\n$`,
      ),
    );
    expect(readFileSync(pidFile(u), "utf8")).toBe(`${supervisor}\n`);
    expect(hook.liveAgents(u)).toEqual([agent]);
    process.kill(supervisor, "SIGTERM");
    await waitGone(supervisor, "supervisor", 10_000);
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

  it("takes over a pid file naming a look-alike: another user's, or another program's", async () => {
    await ensureUser(OUTSIDER, false);
    for (const lookAlike of [
      // Run as an unprivileged user, by this same node: its command line ends as a supervisor's.
      (u: string) => [
        "runuser",
        "-u",
        OUTSIDER,
        "--",
        process.execPath,
        "-e",
        HANG,
        "supervise",
        "--uuid",
        u,
      ],
      // Root's, but not node: perl takes the same trailing arguments.
      (u: string) => ["perl", "-e", "sleep 600", "supervise", "--uuid", u],
    ]) {
      const u = uuid();
      const [file = "", ...args] = lookAlike(u);
      const impostor = spawn(file, args, { stdio: "ignore" });
      try {
        await waitUntil(
          "the look-alike to run",
          () => commandLine(impostor.pid as number)?.at(-1) === u,
          10_000,
          20,
        );
        mkdirSync(RUN_DIR, { recursive: true });
        writeFileSync(pidFile(u), `${impostor.pid}\n`);
        const { supervisor } = await start(u);
        expect(supervisor).not.toBe(impostor.pid);
        process.kill(supervisor, "SIGTERM");
        await waitGone(supervisor, "supervisor", 10_000);
      } finally {
        impostor.kill("SIGKILL");
      }
    }
  });

  it("killed, leaves no agent behind: the domain's stop finds it by what it runs", async () => {
    // The stand-in ignores its lifeline (a real agent leaves when it ends: test/lab/agent.test.ts).
    const u = uuid();
    const { supervisor, agent } = await start(u);
    process.kill(supervisor, "SIGKILL");
    await waitGone(supervisor, "supervisor", 10_000);
    expect(isAlive(agent)).toBe(true);
    const xml = domainXml("web1", u, metadataElement());
    expect(hook.run("web1", "stopped", "end", xml).status).toBe(0);
    await waitGone(agent, "agent", 10_000);
    expect(hook.agentEvents(u).map((e) => e.event)).toEqual(["start", "sigterm"]);
    expect(log(u)).toContain(`hook: stopping its agent (pid ${agent}), which had no supervisor`);
    // The dead supervisor's pid file went with the stop; the next start runs as ever.
    expect(existsSync(pidFile(u))).toBe(false);
    expect(hook.run("web1", "started", "begin", xml).status).toBe(0);
    await hook.agentRuns(u, 2);
    const [next] = hook.supervisors(u);
    expect(next).not.toBe(supervisor);
    expect(readFileSync(pidFile(u), "utf8")).toBe(`${next}\n`);
    process.kill(next as number, "SIGTERM");
    await waitGone(next as number, "supervisor", 10_000);
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
