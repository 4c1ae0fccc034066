import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../support/cli.js";

const DEMO = "test/fixtures/traces/demo-phases.jsonl";
const tmp = mkdtempSync(join(tmpdir(), "colo-hybrid-cli-"));
const file = (name: string, text: string) => {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
};

describe("colo-hybrid simulate", () => {
  it("prints the timeline, transitions and summary of the demo trace", () => {
    const r = cli(["simulate", DEMO]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^Replayed .*demo-phases\.jsonl: \d+ checkpoints over [\d.]+ s \(variant corrected\)/,
    );
    expect(r.stdout).toMatch(/ {2}mode \|C+[~P]*P+/);
    expect(r.stdout).toContain("COLO -> passive   mean");
    expect(r.stdout).toContain("passive -> COLO   passive spell of 100 checkpoints complete");
    expect(r.stdout).toMatch(/time in passive +[\d.]+ s of [\d.]+ s/);
    expect(r.stdout).toMatch(/SVM run saved +[\d.]+ s/);
  });

  it("--json prints one object per checkpoint with its mode", () => {
    const r = cli(["simulate", DEMO, "--json"]);
    expect(r.status).toBe(0);
    const rows = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const checkpoints = cli(["simulate", DEMO]).stdout.match(/: (\d+) checkpoints/)?.[1];
    expect(rows).toHaveLength(Number(checkpoints));
    expect(new Set(rows.map((c) => c.mode))).toEqual(new Set(["colo", "passive"]));
    expect(rows[0]).toMatchObject({ seq: 1, mode: "colo", trigger: "timer", length: 20000 });
    expect(rows.every((c, i) => c.seq === i + 1 && typeof c.pause === "number")).toBe(true);
  });

  it("takes every parameter and the variant as options", () => {
    const seed = cli(["simulate", DEMO, "--variant", "seed", "--passive-count", "10", "--json"]);
    const spells = seed.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).mode as string)
      .join("")
      .match(/(passive)+/g);
    expect(spells?.slice(0, -1).every((s) => s.length === 10 * "passive".length)).toBe(true);
    const off = cli(["simulate", DEMO, "--enabled", "false"]);
    expect(off.stdout).toContain("passive 0)");
  });

  it("reads a plain file of lengths, and standard input", () => {
    const lengths = `${Array(12).fill("100").join("\n")}\n`;
    const r = cli(["simulate", file("lengths.txt", lengths), "--json", "--passive-count", "3"]);
    const modes = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).mode);
    expect(modes).toEqual([
      ...Array(4).fill("colo"),
      ...Array(3).fill("passive"),
      ...Array(5).fill("colo"),
    ]);
    expect(cli(["simulate", "-", "--json"], lengths).stdout).toBe(
      cli(["simulate", file("l2.txt", lengths), "--json"]).stdout,
    );
  });

  it("names the line of a malformed trace and exits 1", () => {
    const r = cli(["simulate", file("bad.txt", "100\n200\nabc\n")]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `error: ${join(tmp, "bad.txt")}:line 3: expected a checkpoint length in ms (a number >= 0), got "abc"\n`,
    );
  });

  it("reports every bad parameter at once and exits 1", () => {
    const r = cli([
      "simulate",
      DEMO,
      "--passive-time",
      "0",
      "--passive-count",
      "0",
      "--variant",
      "x",
    ]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      [
        'error: passive-count="0" is out of range: 1..100000 checkpoints',
        'error: passive-time="0" is out of range: 20..600000 ms',
        'error: variant="x" is out of range: seed or corrected',
        "",
      ].join("\n"),
    );
  });

  it.each([
    [["simulate", "/nonexistent/trace"], /^error: cannot read \/nonexistent\/trace: ENOENT/],
    [["simulate", "test"], /^error: cannot read test: it is a directory/],
    [["simulate"], /^error: simulate takes one FILE/],
    [["simulate", DEMO, "--frobnicate"], /^error: Unknown option '--frobnicate'/],
    [["bogus"], /^error: unknown command 'bogus'/],
  ])("fails clearly on %j", (args, message) => {
    const r = cli(args);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
  });

  it("says so when the trace has no checkpoint", () => {
    const r = cli(["simulate", file("empty.jsonl", '{"type":"colo-start","t":0}\n')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("no checkpoints");
  });
});

describe("colo-hybrid trace synth", () => {
  it("writes a trace that simulate reads, the same for the same seed", () => {
    const args = ["trace", "synth", "--phases", "idle:30,divergent:60", "--seed", "5"];
    const a = cli([...args, "--colo-period", "5000"]);
    expect(a.status).toBe(0);
    expect(a.stdout.split("\n")[0]).toBe('{"type":"trace","version":1,"source":"synthetic-colo"}');
    expect(cli([...args, "--colo-period", "5000"]).stdout).toBe(a.stdout);
    const sim = cli(["simulate", "-"], a.stdout);
    expect(sim.status).toBe(0);
    expect(sim.stdout).toContain("(idle, divergent)");
  });

  it("refuses a bad phase list", () => {
    const r = cli(["trace", "synth", "--phases", "busy:10"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('bad phase "busy:10"');
  });
});
