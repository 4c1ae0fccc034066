// The hook as installed, run directly as libvirt runs it: HOOK NAME OPERATION SUB-OPERATION -,
// the domain XML on stdin. Its supervisor runs a stand-in agent (installed.ts).

import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CALLS, shownName } from "../../src/hook/decide.js";
import { logFile, pidFile } from "../../src/hook/paths.js";
import { AGENT_NODE_OPTIONS } from "../../src/hook/pidfile.js";
import { METADATA_NS } from "../../src/libvirt/xml/metadata.js";
import { node18 } from "../support/cli.js";
import { commandLine, isAlive, waitGone } from "../support/processes.js";
import { waitUntil } from "../support/wait.js";
import {
  CANARY,
  domainXml,
  HOSTILE_NAMES,
  INVALID_METADATA,
  metadataElement,
  newUuid,
  OPERATIONS,
  SUB_OPERATIONS,
  UNDEFINABLE_NAMES,
} from "./domains.js";
import { InstalledHook } from "./installed.js";

const uuids: string[] = [];
/** A fresh domain UUID, its files removed after the tests. */
function uuid(): string {
  const u = newUuid();
  uuids.push(u);
  return u;
}
const hex = (u: string) => u.replaceAll("-", "");
const regexEscape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

let hook: InstalledHook;
beforeAll(() => {
  hook = InstalledHook.install();
});
afterAll(async () => {
  await hook?.remove(uuids);
});

/** The pid in the domain's pid file, once it names a live supervisor of the domain. */
async function supervisorOf(u: string): Promise<number> {
  let pid = 0;
  await waitUntil(
    `a supervisor for ${u} in its pid file`,
    () => {
      pid = Number(readFileSync(pidFile(u), "utf8"));
      return commandLine(pid)?.slice(2).join(" ") === `supervise --uuid ${u}`;
    },
    10_000,
    50,
  );
  return pid;
}

async function started(name: string, u: string, h = hook) {
  const xml = domainXml(name, u, metadataElement());
  const r = h.run(name, "started", "begin", xml);
  expect(r).toEqual({ status: 0, stdout: "", stderr: "" });
  const supervisor = await supervisorOf(u);
  const agent = await h.agentRuns(u);
  return { xml, supervisor, agent };
}

async function stopped(name: string, u: string, xml: string, pids: number[], h = hook) {
  expect(h.run(name, "stopped", "end", xml)).toEqual({ status: 0, stdout: "", stderr: "" });
  for (const pid of pids) await waitGone(pid, "supervisor or agent", 10_000);
  expect(existsSync(pidFile(u))).toBe(false);
  expect(h.supervisors(u)).toEqual([]);
}

describe("the installed hook's shell front", () => {
  // NODE is a script that records how it was run: what reaches node, and what does not. The
  // record appears whole (renamed into place), since a supervisor's start is not waited for.
  const dir = mkdtempSync(join(tmpdir(), "colo-hybrid-fake-node-"));
  const fakeNode = join(dir, "node");
  let front: InstalledHook;
  beforeAll(() => {
    writeFileSync(
      fakeNode,
      `#!/bin/sh\ncat > "${dir}/stdin.$$"\nprintf '%s\\0' "$@" > "${dir}/.args.$$"\nmv "${dir}/.args.$$" "${dir}/args.$$"\nexit 3\n`,
      { mode: 0o755 },
    );
    front = InstalledHook.install({ node: { path: fakeNode, env: process.env } });
  });
  afterAll(async () => {
    await front?.remove([]);
    rmSync(dir, { recursive: true, force: true });
  });
  const calls = () => {
    const found = readdirSync(dir).filter((f) => f.startsWith("args."));
    const read = found.map((f) => ({
      args: readFileSync(join(dir, f), "utf8").split("\0").slice(0, -1),
      stdin: readFileSync(join(dir, f.replace("args.", "stdin.")), "utf8"),
    }));
    // Only what was read: a run still under way (its stdin written, its args not yet) stays.
    for (const f of found) {
      rmSync(join(dir, f));
      rmSync(join(dir, f.replace("args.", "stdin.")));
    }
    return read;
  };

  it("runs node only for our domains' calls, and starts their supervisors in the background", async () => {
    const u = newUuid();
    const ours = [
      domainXml("web1", u, metadataElement()),
      domainXml("web1", u, INVALID_METADATA),
      domainXml("web1", u, `<other:x xmlns:other="urn:x"/>\n${metadataElement()}`),
    ];
    const others = [
      domainXml("web2", newUuid()),
      domainXml("web3", newUuid(), "<x xmlns='u:x'/>"),
      // Our namespace named, but no element of ours: in text, in a foreign element, nested.
      domainXml("web4", newUuid(), `<x:hybrid xmlns:x="urn:x" ns="${METADATA_NS}"/>`).replace(
        "</name>",
        `</name>\n  <description>${METADATA_NS} &lt;hybrid xmlns="${METADATA_NS}"&gt;</description>`,
      ),
      domainXml(
        "web5",
        newUuid(),
        `<x:a xmlns:x="urn:x">\n  <hybrid xmlns="${METADATA_NS}"/>\n</x:a>`,
      ),
    ];
    const bundle = `${front.libDir}/colo-hybrid-hook.mjs`;
    for (const op of OPERATIONS) {
      for (const sub of SUB_OPERATIONS) {
        const call = `${op} ${sub}`;
        const starts = call === "started begin" || call === "reconnect begin";
        for (const xml of [...ours, ...others]) {
          const r = front.run("web1", op, sub, xml);
          expect(r.stdout).toBe("");
          if (!ours.includes(xml) || (!CALLS.has(call) && !starts)) {
            expect(r).toEqual({ status: 0, stdout: "", stderr: "" });
            expect(calls()).toEqual([]);
          } else if (starts) {
            expect(r).toEqual({ status: 0, stdout: "", stderr: "" });
            const reached: ReturnType<typeof calls> = [];
            await waitUntil(
              "the supervisor's start",
              () => reached.push(...calls()) > 0,
              10_000,
              20,
            );
            expect(reached).toEqual([{ args: [bundle, "supervise", "--uuid", u], stdin: "" }]);
          } else {
            // The node part's status counts for prepare only.
            expect(r.status).toBe(op === "prepare" ? 3 : 0);
            expect(calls()).toEqual([{ args: [bundle, op, sub], stdin: xml }]);
          }
        }
      }
    }
  });

  it("lets protected domains start when the package was removed but its hook kept", () => {
    // dpkg keeps a conffile until purge: the script stays, the bundles are gone.
    const bundle = join(front.libDir, "colo-hybrid-hook.mjs");
    renameSync(bundle, `${bundle}.removed`);
    try {
      for (const op of ["prepare", "started"]) {
        const r = front.run("web1", op, "begin", domainXml("web1", newUuid(), metadataElement()));
        expect(r).toEqual({ status: 0, stdout: "", stderr: "" });
      }
      expect(calls()).toEqual([]);
    } finally {
      renameSync(`${bundle}.removed`, bundle);
    }
  });

  it("hands node the XML exactly as libvirt gave it, whatever it holds", () => {
    const name = `$(touch ${CANARY}) \`x\` \\ \\\\ \\n $HOME %s END_OF_XML`;
    const xml = domainXml(name, newUuid(), metadataElement()).replace("\n", "\n\n\t \\\n");
    front.run(name, "prepare", "begin", xml);
    expect(calls()).toEqual([{ args: expect.any(Array), stdin: xml }]);
  });
});

describe("prepare begin", () => {
  it("refuses a domain with invalid metadata, saying why on stderr", () => {
    const r = hook.run("web1", "prepare", "begin", domainXml("web1", uuid(), INVALID_METADATA));
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^colo-hybrid: domain 'web1' has invalid colo-hybrid metadata/);
    expect(r.stderr).toContain('hybrid/role: role="tertiary" is not allowed: primary or secondary');
  });

  it("lets a domain with valid metadata, or without ours, start", () => {
    for (const meta of [metadataElement(), undefined]) {
      const r = hook.run("web1", "prepare", "begin", domainXml("web1", uuid(), meta));
      expect(r).toEqual({ status: 0, stdout: "", stderr: "" });
    }
  });
});

describe("started begin and stopped end", () => {
  it("start a supervisor that holds the pid file and runs the agent, and stop both", async () => {
    const u = uuid();
    const { xml, supervisor, agent } = await started("web1", u);
    expect(commandLine(agent)?.slice(1)).toEqual([
      ...AGENT_NODE_OPTIONS,
      `${hook.libDir}/colo-hybrid.mjs`,
      "agent",
      "--supervised",
      "--uuid",
      hex(u),
    ]);
    const log = readFileSync(logFile(u), "utf8");
    expect(log).toMatch(new RegExp(` info ${u}: supervisor: started \\(pid ${supervisor}\\)`));
    expect(log).toContain(`${u}: supervisor: agent started (pid ${agent})`);

    await stopped("web1", u, xml, [supervisor, agent]);
    expect(readFileSync(logFile(u), "utf8")).toContain(
      ` info web1: hook: stopping its supervisor (pid ${supervisor})`,
    );
    expect(hook.agentEvents(u).map((e) => e.event)).toEqual(["start", "sigterm"]);
  });

  it("start one agent however often, and at once, the domain is started", async () => {
    const u = uuid();
    const { xml, supervisor, agent } = await started("web1", u);
    for (const op of ["started", "reconnect"]) {
      expect(hook.run("web1", op, "begin", xml).status).toBe(0);
    }
    // The supervisors these started find the pid file held, and leave.
    await waitUntil(
      "the new supervisors to leave",
      () => hook.supervisors(u).length === 1,
      10_000,
      50,
    );
    expect(hook.supervisors(u)).toEqual([supervisor]);
    expect(hook.liveAgents(u)).toEqual([agent]);
    await stopped("web1", u, xml, [supervisor, agent]);

    const v = uuid();
    const xmlV = domainXml("web2", v, metadataElement());
    const runs = await Promise.all(
      [1, 2, 3, 4].map(() => hook.runAsync("web2", "started", "begin", xmlV)),
    );
    expect(runs.map((r) => r.status)).toEqual([0, 0, 0, 0]);
    // The supervisors that lost the race leave without starting anything.
    await waitUntil("one supervisor left", () => hook.supervisors(v).length === 1, 10_000, 50);
    const only = await hook.agentRuns(v);
    expect(await supervisorOf(v)).toBe(hook.supervisors(v)[0]);
    await stopped("web2", v, xmlV, [...hook.supervisors(v), only]);
  });

  it("release end stops too; stopping when nothing runs is fine", async () => {
    const u = uuid();
    const { xml, supervisor, agent } = await started("web1", u);
    expect(hook.run("web1", "release", "end", xml)).toEqual({ status: 0, stdout: "", stderr: "" });
    await waitGone(supervisor, "supervisor", 10_000);
    expect(isAlive(agent)).toBe(false);
    for (const [op, sub] of [
      ["stopped", "end"],
      ["release", "end"],
    ] as const) {
      expect(hook.run("web1", op, sub, xml)).toEqual({ status: 0, stdout: "", stderr: "" });
    }
  });

  it("a start right after a stop runs the new agent once the old one has stopped", async () => {
    const u = uuid();
    const first = await started("web1", u);
    const release = hook.hold(u);
    try {
      expect(hook.run("web1", "stopped", "end", first.xml).status).toBe(0);
      expect(hook.run("web1", "started", "begin", first.xml).status).toBe(0);
      const second = await supervisorOf(u);
      expect(second).not.toBe(first.supervisor);
      await waitUntil(
        "the new supervisor to wait for the old one",
        () =>
          readFileSync(logFile(u), "utf8").includes(
            `waiting for the previous one (pid ${first.supervisor})`,
          ),
        10_000,
        50,
      );
      expect(isAlive(first.agent)).toBe(true);
      expect(hook.agentEvents(u).filter((e) => e.event === "start")).toHaveLength(1);
    } finally {
      release();
    }
    await waitGone(first.supervisor, "old supervisor", 10_000);
    const agent = await hook.agentRuns(u, 2);
    await stopped("web1", u, first.xml, [await supervisorOf(u), agent]);
  });
});

describe("any domain name", () => {
  const canaries = [join(process.cwd(), CANARY), `/tmp/${CANARY}`, `/${CANARY}`];

  it("is only data: no shell runs it, every message quotes it", async () => {
    for (const name of [...HOSTILE_NAMES, ...UNDEFINABLE_NAMES]) {
      const u = uuid();
      const refused = hook.run(name, "prepare", "begin", domainXml(name, u, INVALID_METADATA));
      expect(refused.status).toBe(1);
      expect(refused.stderr.split("\n")[0]).toBe(
        `colo-hybrid: domain ${shownName(name)} has invalid colo-hybrid metadata (namespace http://colo-hybrid.org/xmlns/domain/1.0):`,
      );
      const { xml, supervisor, agent } = await started(name, u);
      await stopped(name, u, xml, [supervisor, agent]);
      // One line per entry, the name in it as it is or quoted: never a line of its own making.
      const lines = readFileSync(logFile(u), "utf8").trimEnd().split("\n");
      for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z (info|warning) /);
      const shown = `(${regexEscape(name)}|${regexEscape(JSON.stringify(name))})`;
      expect(lines.some((l) => new RegExp(` info ${shown}: hook: stopping `).test(l))).toBe(true);
    }
    for (const canary of canaries) expect(existsSync(canary)).toBe(false);
  });
});

describe("under Debian 12's Node.js 18", () => {
  it("refuses, starts and stops as under the host's", async () => {
    const old = node18();
    const h = InstalledHook.install({ node: old });
    const u = uuid();
    try {
      const refused = h.run("web1", "prepare", "begin", domainXml("web1", u, INVALID_METADATA));
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain("has invalid colo-hybrid metadata");
      const { xml, supervisor, agent } = await started("web1", u, h);
      const version = execFileSync(commandLine(supervisor)?.[0] ?? "", ["--version"], {
        env: old.env,
        encoding: "utf8",
      });
      expect(version).toMatch(/^v18\./);
      expect(commandLine(agent)?.[0]).toBe(commandLine(supervisor)?.[0]);
      await stopped("web1", u, xml, [supervisor, agent], h);
    } finally {
      await h.remove([]);
    }
  });
});
