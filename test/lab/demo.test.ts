// `make demo` end to end, as a newcomer runs it: demo/main.ts start, then stop. The guest has a
// qcow2 disk on virtio-blk and a virtio NIC on the lab bridge, and protect copied its disk; the
// agents were started by the installed hook (their parent is its supervisor), the primary's
// agent went passive under the divergent load (sent from the client's namespace) and came back,
// the demo's cockpit-ws serves the page with the pair on it, and demo-stop leaves no domain,
// hook, process, bus policy, image, pool, bridge or namespace of ours behind.
import { existsSync, readFileSync, statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SCREENSHOT } from "../../demo/live.js";
import { BRIDGE_TAG, DOMAIN, SECONDARY } from "../../demo/names.js";
import { type DemoState, readState } from "../../demo/state.js";
import { launchBrowser } from "../cockpit/harness.js";
import { dpkgStatus, HOOK, LIB, NAMES } from "../packaging/packages.js";
import { run } from "../support/exec.js";
import {
  commandLine,
  isAlive,
  livePids,
  parentPid,
  processesRunning,
} from "../support/processes.js";
import { virsh } from "../support/virsh.js";
import { labBridgeNames } from "./bridge.js";
import { demoTransitions, runDemo } from "./demo-run.js";

const POLICY = "/usr/share/dbus-1/system.d/org.colo_hybrid.Agent.conf";
const { bridge, netns } = labBridgeNames(BRIDGE_TAG);
const qemuArgv = (name: string) =>
  commandLine(Number(readFileSync(`/run/libvirt/qemu/${name}.pid`, "utf8").trim())) ?? [];
const demo = (command: "start" | "stop") => runDemo(command);

describe("make demo", () => {
  let output = "";
  let state: DemoState;
  /** The forwarder's socket, from the client's namespace to the guest, as the demo said. */
  let socketPath = "";

  beforeAll(async () => {
    output = (await demo("start")).stdout;
    state = readState() as DemoState;
    socketPath = /the load's way in: (\S+),/.exec(output)?.[1] ?? "";
  }, 600_000);

  afterAll(async () => {
    // A failed run leaves its state: remove what it added.
    if (readState() !== undefined) await demo("stop");
  }, 300_000);

  it("started the agents through the installed hook: their parent is its supervisor", () => {
    const agents = processesRunning(LIB).filter((p) => p.argv.includes("agent"));
    expect(agents).toHaveLength(2);
    for (const agent of agents) {
      const parent = commandLine(parentPid(agent.pid) ?? 0) ?? [];
      expect(parent.join(" ")).toContain(`${LIB}/colo-hybrid-hook.mjs supervise`);
    }
    expect(output).toMatch(/waiting for the hook to start both agents \.*\s?done/);
  });

  it("runs a guest with a qcow2 disk on virtio-blk and a NIC on the bridge; protect copied the disk", async () => {
    const disk = state.disk as string;
    expect(output).toContain(
      `a qcow2 disk on virtio-blk (${disk}), a virtio NIC on bridge ${bridge}`,
    );
    const { stdout: xml } = await virsh(["dumpxml", "--inactive", DOMAIN]);
    expect(xml).toMatch(
      new RegExp(
        `<interface type='bridge'>[^]*?<source bridge='${bridge}'/>[^]*?<model type='virtio'/>`,
      ),
    );
    // The primary's QEMU runs the disk under COLO's quorum, on a virtio-blk device.
    const argv = qemuArgv(DOMAIN);
    expect(argv).toContainEqual(expect.stringContaining(`children.0.file.filename=${disk}`));
    expect(argv).toContainEqual(expect.stringMatching(/virtio-blk-pci.*colo-disk0/));
    expect(
      JSON.parse((await run("qemu-img", ["info", "-U", "--output=json", disk])).stdout),
    ).toMatchObject({
      format: "qcow2",
    });
    for (const kind of ["base", "active", "hidden"])
      expect(existsSync(`${state.imageDir}/${SECONDARY}-vda-${kind}.qcow2`), kind).toBe(true);
    expect(output).toMatch(/protect: syncing .*\(disks \d+ of 64 MiB\)/);
    // The load came through the forwarder, which ended with it.
    expect(socketPath).not.toBe("");
    expect(existsSync(socketPath)).toBe(false);
  });

  it("went passive under the divergent load and back to COLO, as the agent tells it", async () => {
    const transitions = await demoTransitions();
    expect(transitions.some((m) => m.startsWith("colo → passive"))).toBe(true);
    expect(transitions.some((m) => m.startsWith("passive → colo"))).toBe(true);
    expect(output).toMatch(/agent: mode colo → passive/);
    expect(output).toMatch(/agent: mode passive → colo/);
    expect(output).toContain("right answers, 0 wrong, 0 failed");
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
  });

  it("serves the page on its cockpit-ws, with the pair on it", async () => {
    const port = state.cockpitPort as number;
    expect(output).toContain(`http://127.0.0.1:${port}/cockpit/@localhost/colo-hybrid/index.html`);
    expect(output).toContain(`ssh -L ${port}:127.0.0.1:${port}`);
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(`http://127.0.0.1:${port}/cockpit/@localhost/colo-hybrid/index.html`);
      for (const name of [DOMAIN, SECONDARY])
        await page.getByRole("button", { name, exact: true }).waitFor({ timeout: 30_000 });
    } finally {
      await browser.stop();
    }
  }, 120_000);

  it("demo-stop removes every domain, process, hook and policy it added, and says so", async () => {
    const pgid = state.cockpitPgid as number;
    const { stdout } = await demo("stop");
    expect(stdout).toContain(`removed cockpit-ws on 127.0.0.1:${state.cockpitPort}`);
    expect(stdout).toContain(`the domains ${SECONDARY} and ${DOMAIN}`);
    expect(stdout).toContain(`Images of '${SECONDARY}' deleted`);
    expect(stdout).toContain(`the bridge ${bridge} and the namespace ${netns}`);
    const { stdout: domains } = await virsh(["list", "--all", "--name"]);
    expect(domains).not.toContain(DOMAIN);
    expect(isAlive(pgid)).toBe(false);
    expect(processesRunning(LIB)).toEqual([]);
    for (const path of [HOOK, POLICY, LIB]) expect(existsSync(path), path).toBe(false);
    for (const name of NAMES) expect(await dpkgStatus(name)).toBe("not-installed");
    expect(readState()).toBeUndefined();
  }, 300_000);

  it("demo-stop also removed the disk, the images, the pool, the bridge and the namespace", async () => {
    for (const path of [state.disk as string, state.imageDir as string, socketPath])
      expect(existsSync(path), path).toBe(false);
    const { stdout: pools } = await virsh(["pool-list", "--all", "--name"]);
    expect(pools.split("\n")).not.toContain(state.pool);
    await expect(run("ip", ["link", "show", bridge])).rejects.toThrow(/does not exist/);
    expect((await run("ip", ["netns", "list"])).stdout).not.toContain(netns);
    expect(livePids().filter((pid) => commandLine(pid)?.includes(socketPath))).toEqual([]);
  });
});
