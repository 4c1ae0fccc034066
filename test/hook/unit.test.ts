// packaging/systemd/colo-hybrid-agent@.service, checked by systemd itself (systemd-analyze
// verify works without systemd running; it wants ExecStart's binary to exist, hence a copy
// pointing at this checkout), and against what the hook and the agent's bus name expect.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { busNameForUuid } from "../../src/dbus/names.js";
import { AGENT_NODE_OPTIONS } from "../../src/hook/pidfile.js";
import { STOP_TIMEOUT_MS } from "../../src/hook/supervise.js";
import { agentInstance, agentUnit } from "../../src/hook/systemd-escape.js";

const UNIT = readFileSync("packaging/systemd/colo-hybrid-agent@.service", "utf8");
const UUID = "0e3c9a52-5e0b-4f3c-9d7e-2b1a6c4d8f00";
const dir = mkdtempSync(join(tmpdir(), "colo-hybrid-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** systemd-analyze verify of the domain's instance of `unit`, installed in a directory alone. */
function verify(unit: string) {
  const checkout = unit
    .replace("/usr/bin/node", process.execPath)
    .replace("/usr/lib/colo-hybrid/", `${resolve("dist")}/`);
  writeFileSync(join(dir, "colo-hybrid-agent@.service"), checkout);
  const r = spawnSync("systemd-analyze", ["verify", "--man=no", join(dir, agentUnit(UUID))], {
    encoding: "utf8",
  });
  return { status: r.status, stderr: r.stderr };
}

const setting = (name: string) => new RegExp(`^${name}=(.*)$`, "m").exec(UNIT)?.[1];

describe("the agent's systemd unit", () => {
  it("passes systemd-analyze verify without a word", () => {
    expect(verify(UNIT)).toEqual({ status: 0, stderr: "" });
  });

  it("would be refused without the 'u' before the UUID in its bus name", () => {
    const bad = verify(
      UNIT.replace("BusName=org.colo_hybrid.Agent.u%i", "BusName=org.colo_hybrid.Agent.%i"),
    );
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("Invalid bus name");
  });

  it("names the bus name the agent owns, and runs the agent as the supervisor does", () => {
    expect(setting("BusName")?.replace("%i", agentInstance(UUID))).toBe(busNameForUuid(UUID));
    expect(setting("ExecStart")).toBe(
      `/usr/bin/node ${AGENT_NODE_OPTIONS.join(" ")} /usr/lib/colo-hybrid/colo-hybrid.mjs agent --uuid %i`,
    );
    expect(setting("Type")).toBe("dbus");
    expect(setting("Restart")).toBe("on-failure");
    expect(setting("KillMode")).toBe("mixed");
    expect(setting("TimeoutStopSec")).toBe(`${STOP_TIMEOUT_MS / 1000}s`);
    expect(setting("After")?.split(" ")).toEqual(["libvirtd.service", "virtqemud.service"]);
  });
});
