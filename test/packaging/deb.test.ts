// The .deb installed as a user installs it, and run from the installed files only. apt-get
// install reloads libvirtd, so that a protected domain's start brings its agent up on the system
// bus, where the installed command finds it; the installed bundles run under Debian 12's
// Node.js 18 too; cockpit-ws serves the installed page. apt-get remove stops the agents, and
// purge leaves nothing of ours. libvirtd is restarted once, first, without the hook: only the
// package's own reload can then have shown it the hook.
import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOG_DIR, logFile, pidFile, RUN_DIR } from "../../src/hook/paths.js";
import { AGENT_NODE_OPTIONS } from "../../src/hook/pidfile.js";
import { HOSTS_CONF } from "../../src/libvirt/hosts-conf.js";
import { domainXml, metadataElement, newUuid, removeDomain } from "../hook/domains.js";
import { node18 } from "../support/cli.js";
import { CommandError, DAEMON_ENV, run } from "../support/exec.js";
import {
  daemonPid,
  isAlive,
  processesRunning,
  processGroup,
  waitGone,
} from "../support/processes.js";
import { restartLibvirtd, TEST_DOMAIN_PREFIX, virsh } from "../support/services.js";
import { acceptsConnection, freePort } from "../support/sockets.js";
import { GiveUp, waitUntil } from "../support/wait.js";
import {
  apt,
  buildPackages,
  deb,
  dpkgField,
  dpkgStatus,
  HOOK,
  LIB,
  NAMES,
  owner,
  purgeIfInstalled,
} from "./packages.js";

const COMMAND = "/usr/bin/colo-hybrid";
const PAGE = "/usr/share/cockpit/colo-hybrid";

interface Domain {
  name: string;
  uuid: string;
}

const xmlDir = mkdtempSync(join(tmpdir(), "colo-hybrid-packaging-"));
const defined: string[] = [];
/** Started once the package is installed: the hook starts its agent. */
let hooked: Domain;
/** Started before: it has no agent until one is run by hand (under Node.js 18). */
let early: Domain;
/** What dpkg listed for our packages once installed: path and whether it is a directory. */
let listed: { path: string; dir: boolean }[] = [];

/** The installed command, as root runs it. */
const command = (args: string[]) => run(COMMAND, args, { env: DAEMON_ENV });

async function defineProtected(role: string): Promise<Domain> {
  const domain = { name: `${TEST_DOMAIN_PREFIX}packaged-${role}`, uuid: newUuid() };
  const file = join(xmlDir, `${domain.uuid}.xml`);
  writeFileSync(file, domainXml(domain.name, domain.uuid, metadataElement()));
  await virsh(["define", file]);
  defined.push(domain.uuid);
  return domain;
}

/** Live processes running a file of the installed package: supervisors and agents. */
const ourProcesses = () => processesRunning(LIB);

/** QEMU hooks libvirt would run besides ours. */
function otherQemuHooks(): string[] {
  const dir = dirname(HOOK);
  const inDir = existsSync(dir) ? readdirSync(dir).map((name) => join(dir, name)) : [];
  return ["/etc/libvirt/hooks/qemu", ...inDir].filter((p) => p !== HOOK && existsSync(p));
}

beforeAll(async () => {
  await buildPackages();
  // The hook's path is also where the hook and lab tests install a hook for the checkout's
  // bundles; dpkg would keep such a file as the admin's version of our conffile.
  if (existsSync(HOOK) && (await owner(HOOK)) !== "colo-hybrid") {
    throw new Error(`${HOOK} is there and not the package's: is another test running?`);
  }
  await purgeIfInstalled();
  // libvirtd, restarted with no QEMU hook at all, can only learn of ours from the package.
  if (otherQemuHooks().length > 0) {
    throw new Error(`other QEMU hooks are installed: ${otherQemuHooks().join(", ")}`);
  }
  await restartLibvirtd();
  early = await defineProtected("early");
  await virsh(["start", early.uuid]);
}, 600_000);

afterAll(async () => {
  try {
    for (const uuid of defined) await removeDomain(uuid);
    await purgeIfInstalled();
  } finally {
    for (const p of ourProcesses()) process.kill(p.pid, "SIGKILL");
    rmSync(xmlDir, { recursive: true, force: true });
  }
}, 300_000);

describe("the .deb, installed", () => {
  it("installs with apt-get, and reloads libvirtd so that libvirt runs the hook", async () => {
    const { stdout } = await apt(["install", "-y", ...NAMES.map(deb)]);
    const libvirtd = daemonPid("/run/libvirtd.pid", "libvirtd");
    expect(stdout).toContain(`colo-hybrid: reloaded libvirtd (pid ${libvirtd})`);
    for (const name of NAMES) expect(await dpkgStatus(name)).toBe("installed");
    const { stdout: files } = await run("dpkg-query", ["-L", ...NAMES]);
    listed = files
      .split("\n")
      .filter((p) => p.startsWith("/") && p !== "/.")
      // Directories by what they lead to: /lib is a link to /usr/lib on Debian 12.
      .map((path) => ({ path, dir: statSync(path).isDirectory() }));
  }, 300_000);

  it("puts the hook, the resource agent, the unit, the bus policy, the man pages and the page in their places", async () => {
    expect(statSync(HOOK).mode & 0o111).toBe(0o111);
    expect(readFileSync(HOOK, "utf8")).toContain(`${LIB}/colo-hybrid-hook.mjs`);
    // Pacemaker's resource agent ocf:colo-hybrid:colo, for the installed command.
    const ocf = "/usr/lib/ocf/resource.d/colo-hybrid/colo";
    expect(statSync(ocf).mode & 0o111).toBe(0o111);
    expect(readFileSync(ocf, "utf8")).toContain(`${LIB}/colo-hybrid.mjs ocf`);
    const { stdout: conffiles } = await run("dpkg-query", [
      "-W",
      dpkgField("Conffiles"),
      "colo-hybrid",
    ]);
    expect(conffiles).toContain(HOOK);
    for (const path of [
      "/lib/systemd/system/colo-hybrid-agent@.service",
      "/usr/share/dbus-1/system.d/org.colo_hybrid.Agent.conf",
      "/usr/share/man/man1/colo-hybrid.1.gz",
      "/usr/share/man/man8/colo-hybrid-agent.8.gz",
      "/usr/share/doc/colo-hybrid/README.Debian",
      `${PAGE}/manifest.json`,
      `${PAGE}/index.html`,
    ]) {
      expect(existsSync(path), path).toBe(true);
    }
    expect(realpathSync(COMMAND)).toBe(`${LIB}/colo-hybrid.mjs`);
  });

  it("brings a protected domain's agent up on the bus when it starts; colo-hybrid status reports it", async () => {
    hooked = await defineProtected("hooked");
    await virsh(["start", hooked.uuid]);
    await waitUntil(
      `the agent of ${hooked.name}, for colo-hybrid status`,
      async () => (await command(["status", hooked.name])).stdout !== "",
      60_000,
      500,
    );
    const status = JSON.parse((await command(["status", hooked.name, "--json"])).stdout);
    expect(status).toMatchObject({ Domain: hooked.name, Uuid: hooked.uuid, Role: "primary" });
    expect((await command(["list"])).stdout).toContain(hooked.name);
    // The hook's supervisor and the agent, both from the installed files.
    expect(ourProcesses().map((p) => p.argv.join(" "))).toEqual(
      expect.arrayContaining([
        `/usr/bin/node ${LIB}/colo-hybrid-hook.mjs supervise --uuid ${hooked.uuid}`,
        `/usr/bin/node ${AGENT_NODE_OPTIONS.join(" ")} ${LIB}/colo-hybrid.mjs agent --supervised --uuid ${hooked.uuid.replaceAll("-", "")}`,
      ]),
    );
    expect(existsSync(pidFile(hooked.uuid))).toBe(true);
  }, 120_000);

  it("runs the installed command and agent under Debian 12's Node.js 18", async () => {
    const node = node18();
    const cli18 = (args: string[]) =>
      run(node.path, [`${LIB}/colo-hybrid.mjs`, ...args], { env: node.env });
    expect(
      (await run(node.path, ["-p", "process.versions.node"], { env: node.env })).stdout,
    ).toMatch(/^18\./);
    expect((await cli18(["help"])).stdout).toContain("usage: colo-hybrid COMMAND");
    expect((await cli18(["params"])).stdout).toContain("passive-limit");
    const status = JSON.parse((await cli18(["status", hooked.name, "--json"])).stdout);
    expect(status).toMatchObject({ Domain: hooked.name });

    // A reload does not run the hook for domains already running: this one has no agent yet.
    await expect(command(["status", early.name])).rejects.toThrow(CommandError);
    const agent: ChildProcess = spawn(
      node.path,
      [`${LIB}/colo-hybrid.mjs`, "agent", "--uuid", early.uuid],
      { env: node.env, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    agent.stderr?.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    try {
      await waitUntil(
        `the Node.js 18 agent of ${early.name}, for colo-hybrid status`,
        async () => {
          if (agent.exitCode !== null) throw new GiveUp(`it exited ${agent.exitCode}: ${stderr}`);
          return (await command(["status", early.name])).stdout !== "";
        },
        60_000,
        500,
      );
    } finally {
      agent.kill("SIGTERM");
      await waitGone(agent.pid as number, "the Node.js 18 agent", 40_000);
    }
  }, 120_000);

  it("is served by cockpit-ws: the installed page", async () => {
    const port = await freePort();
    // An empty data home: the page can only come from /usr/share/cockpit.
    const dataHome = mkdtempSync(join(tmpdir(), "colo-hybrid-packaging-data-"));
    const ws = spawn(
      "/usr/lib/cockpit/cockpit-ws",
      ["--no-tls", "-a", "127.0.0.1", "--port", String(port), "--local-session=cockpit-bridge"],
      { env: { ...DAEMON_ENV, XDG_DATA_HOME: dataHome }, stdio: "ignore", detached: true },
    );
    const pgid = ws.pid as number;
    try {
      await waitUntil(
        `cockpit-ws on 127.0.0.1:${port}`,
        () => acceptsConnection({ host: "127.0.0.1", port }),
        20_000,
      );
      for (const file of ["index.html", "manifest.json"]) {
        const response = await fetch(
          `http://127.0.0.1:${port}/cockpit/@localhost/colo-hybrid/${file}`,
        );
        expect(response.status, file).toBe(200);
        expect(await response.text()).toBe(readFileSync(`${PAGE}/${file}`, "utf8"));
      }
    } finally {
      // cockpit-ws, its bridge and what the bridge started for the session.
      for (const pid of processGroup(pgid)) process.kill(pid, "SIGTERM");
      await waitUntil("cockpit-ws's session to end", () => processGroup(pgid).length === 0, 20_000);
      rmSync(dataHome, { recursive: true, force: true });
    }
  }, 60_000);

  it("apt-get remove stops the agent and its supervisor, and keeps the hook and the logs", async () => {
    const running = ourProcesses();
    expect(running.length).toBe(2);
    const { stdout } = await apt(["remove", "-y", ...NAMES]);
    expect(stdout).toContain("colo-hybrid: stopping the agents' supervisors");
    for (const { pid } of running) expect(isAlive(pid)).toBe(false);
    expect(ourProcesses()).toEqual([]);
    expect(await dpkgStatus("colo-hybrid")).toBe("config-files");
    // Of our files only the conffiles stay until purge.
    const left = listed.filter(({ path, dir }) => !dir && existsSync(path)).map((f) => f.path);
    expect(left.sort()).toEqual([HOSTS_CONF, HOOK].sort());
    expect(existsSync(pidFile(hooked.uuid))).toBe(false);
    expect(existsSync(logFile(hooked.uuid))).toBe(true);
  }, 300_000);

  it("apt-get purge leaves no file of ours, and no state", async () => {
    await apt(["purge", "-y", ...NAMES]);
    for (const name of NAMES) expect(await dpkgStatus(name)).toBe("not-installed");
    expect(listed.length).toBeGreaterThan(20);
    for (const { path, dir } of listed) {
      if (!existsSync(path)) continue;
      // A directory stays only while another package owns it or something else is in it.
      expect(dir, path).toBe(true);
      const kept = (await owner(path)) !== undefined || readdirSync(path).length > 0;
      expect(kept, path).toBe(true);
    }
    for (const path of [HOOK, LIB, PAGE, RUN_DIR, LOG_DIR])
      expect(existsSync(path), path).toBe(false);
    expect(ourProcesses()).toEqual([]);
  }, 300_000);
});
