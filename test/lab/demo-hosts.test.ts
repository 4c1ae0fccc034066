// `make demo ON=lab-hosts` end to end: the same demo with the pair across two lab hosts. The
// primary is on colo-lab-a and its secondary on colo-lab-b, defined there over qemu+tls by `pair
// create` run on A; each host's libvirtd started its agent through the installed package's hook;
// the disk was copied across the LAN; the primary's agent went passive under the divergent load
// and came back. demo-stop stops the lab hosts and purges the packages, leaving nothing.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOMAIN, SECONDARY } from "../../demo/names.js";
import { readState } from "../../demo/state.js";
import { dpkgStatus, LIB, NAMES } from "../packaging/packages.js";
import { commandLine, parentPid, processesRunning } from "../support/processes.js";
import { demoTransitions, runDemo } from "./demo-run.js";
import { onHost, processesIn } from "./hosts/host.js";
import { mountsUnder } from "./hosts/hosts.js";
import { hostLayout, LAB_DIR } from "./hosts/layout.js";

const [a, b] = [hostLayout(0), hostLayout(1)];

describe("make demo ON=lab-hosts", () => {
  let output = "";

  beforeAll(async () => {
    output = (await runDemo("start", "lab-hosts")).stdout;
  }, 600_000);

  afterAll(async () => {
    if (readState() !== undefined) await runDemo("stop");
  }, 300_000);

  it("made the pair on A with its secondary on B over qemu+tls, and copied the disk there", async () => {
    expect(output).toContain(
      `colo-hybrid pair create ${DOMAIN} --secondary-uri qemu+tls://${b.address}/system`,
    );
    expect(output).toContain(`its agent by qemu+tls://${a.address}/system`);
    expect(output).toMatch(/protect: syncing \(disks 64 of 64 MiB\)/);
    const state = async (h: typeof a, name: string) =>
      (await onHost(h, "virsh", ["domstate", name])).stdout.trim();
    expect(await state(a, DOMAIN)).toBe("running");
    expect(await state(b, SECONDARY)).toBe("running");
    await expect(onHost(a, "virsh", ["domstate", SECONDARY])).rejects.toThrow();
  });

  it("each host's libvirtd started its agent through the installed hook", () => {
    const agents = processesRunning(LIB).filter((p) => p.argv.includes("agent"));
    expect(agents).toHaveLength(2);
    for (const [h, n] of [
      [a, 1],
      [b, 1],
    ] as const) {
      const mine = processesIn([`/run/netns/${h.netns}`, h.mntFile]);
      expect(agents.filter((p) => mine.includes(p.pid)).length, h.name).toBe(n);
    }
    for (const agent of agents) {
      const parent = commandLine(parentPid(agent.pid) ?? 0) ?? [];
      expect(parent.join(" ")).toContain(`${LIB}/colo-hybrid-hook.mjs supervise`);
    }
  });

  it("went passive under the divergent load and back to COLO", async () => {
    const transitions = await demoTransitions();
    expect(transitions.some((m) => m.startsWith("colo → passive"))).toBe(true);
    expect(transitions.some((m) => m.startsWith("passive → colo"))).toBe(true);
    expect(output).toContain("right answers, 0 wrong, 0 failed");
  });

  it("demo-stop stops the lab hosts and purges the packages", async () => {
    const { stdout } = await runDemo("stop");
    expect(stdout).toContain("the lab hosts with the pair on them");
    expect(mountsUnder(LAB_DIR)).toEqual([]);
    expect(existsSync(LAB_DIR)).toBe(false);
    expect(processesRunning(LIB)).toEqual([]);
    for (const name of NAMES) expect(await dpkgStatus(name)).toBe("not-installed");
    expect(readState()).toBeUndefined();
  }, 300_000);
});
