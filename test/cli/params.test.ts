import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { cli } from "../support/cli.js";

describe("colo-hybrid help", () => {
  it("knows its commands only: Object's own names get the general help", () => {
    const general = cli(["help"]).stdout;
    for (const args of [
      ["help", "toString"],
      ["help", "__proto__"],
      ["constructor", "--help"],
    ]) {
      expect(cli(args), args.join(" ")).toMatchObject({ status: 0, stdout: general });
    }
  });
});

describe("colo-hybrid params", () => {
  it("prints the parameter reference that docs/policy.md carries, word for word", () => {
    const r = cli(["params"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\| `passive-count` +\| 1\.\.100000 checkpoints +\| 100 +\| /m);
    expect(readFileSync("docs/policy.md", "utf8")).toContain(r.stdout);
  });
});
