import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cli, node18 } from "../support/cli.js";

const DEMO = "test/fixtures/traces/demo-phases.jsonl";

describe("the bundle under Debian 12's Node.js 18", () => {
  it("prints exactly what it prints under the host's Node", () => {
    const old = node18();
    const version = spawnSync(old.path, ["--version"], { encoding: "utf8", env: old.env });
    expect(version.stdout).toMatch(/^v18\./);
    const runs = [
      ["simulate", DEMO],
      ["simulate", DEMO, "--json", "--variant", "seed"],
      ["params"],
    ];
    for (const args of runs) {
      const under18 = cli(args, undefined, old);
      expect(under18.stderr).toBe("");
      expect(under18.status).toBe(0);
      expect(under18.stdout).toBe(cli(args).stdout);
    }
  });
});
