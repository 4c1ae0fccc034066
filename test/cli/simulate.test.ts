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
    // Requested checkpoints (our own period changes) do not count toward a spell.
    const spells = seed.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { mode: string; trigger?: string })
      .filter((c) => c.trigger !== "request")
      .map((c) => c.mode)
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

  it("takes a number as text only when it is a plain decimal", () => {
    const lengths = file("decimal.txt", `${Array(12).fill("100").join("\n")}\n`);
    for (const [option, text] of [
      ["--passive-limit", "0x1f4"],
      ["--passive-limit", " 450"],
      ["--passive-limit", "1e3"],
      ["--passive-limit", "Infinity"],
      ["--weight", "1e-1"],
      ["--enabled", " false"],
    ] as const) {
      const r = cli(["simulate", lengths, option, text]);
      expect(r.stderr, `${option} ${text}`).toBe(
        `error: ${option.slice(2)}=${JSON.stringify(text)} is out of range: ${option === "--weight" ? "0.01..1" : option === "--enabled" ? "true or false" : "1..600000 ms"}\n`,
      );
      expect(r.status).toBe(1);
    }
    for (const pause of ["1e3", " 5", "0x10", "Infinity", "", "-1"]) {
      const r = cli(["simulate", lengths, `--pause=${pause}`]);
      expect([r.status, r.stderr], `--pause ${pause}`).toEqual([
        1,
        "error: --pause takes a number of ms >= 0\n",
      ]);
    }
    for (const width of ["1e2", " 80", "0x50", "80.0", "Infinity"]) {
      const r = cli(["simulate", lengths, "--width", width]);
      expect([r.status, r.stderr], `--width ${width}`).toEqual([
        1,
        "error: --width takes a whole number from 10 to 1000\n",
      ]);
    }
    const good = cli(["simulate", lengths, "--pause", "2.5", "--width", "80", "--weight", ".5"]);
    expect(good.stderr).toBe("");
    expect(good.status).toBe(0);
  });

  it("stops at once at a line longer than the limit, as on /dev/zero", () => {
    // Reading on past the limit would never end: cli() gives up on it, and status is null.
    const r = cli(["simulate", "/dev/zero"]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("error: /dev/zero:line 1: longer than 65536 bytes: not a trace line\n");
    expect(r.status).toBe(1);
  });

  it("quotes only a short excerpt of a 5 MB bad line", () => {
    const huge = file("huge.txt", `100\n${"9x".repeat(2_500_000)}\n100\n`);
    const r = cli(["simulate", huge]);
    expect(r.stderr).toBe(`error: ${huge}:line 2: longer than 65536 bytes: not a trace line\n`);
    expect(r.status).toBe(1);
    const json = file(
      "huge.jsonl",
      `{"type":"colo-start","t":0}\n{"t":${"1".repeat(5_000_000)}x}\n`,
    );
    const j = cli(["simulate", json]);
    expect(j.status).toBe(1);
    expect(j.stderr).toMatch(/^error: .*huge\.jsonl:line 2: longer than 65536 bytes/);
    expect(j.stderr.length).toBeLessThan(200);
  });

  it("quotes at most 60 characters of a bad line under the limit", () => {
    const long = `${"a".repeat(60_000)}`;
    const r = cli(["simulate", file("long.txt", `100\n${long}\n`)]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `error: ${join(tmp, "long.txt")}:line 2: expected a checkpoint length in ms (a number >= 0), got "${"a".repeat(60)}…"\n`,
    );
    for (const line of [
      `{"type":"colo-start","t":0,"x":${"[".repeat(10_000)}`,
      `{"type":${JSON.stringify("b".repeat(60_000))},"t":0}`,
      `{"type":"checkpoint-start","t":0,"trigger":${JSON.stringify("c".repeat(60_000))}}`,
      `{"type":"trace","version":${JSON.stringify("d".repeat(60_000))}}`,
    ]) {
      const bad = cli(["simulate", file("long.jsonl", `${line}\n`)]);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/^error: .*long\.jsonl:line 1: /);
      expect(bad.stderr.length, bad.stderr).toBeLessThan(260);
    }
  });

  it("reads a trace with CRLF line ends and without a last line end", () => {
    const r = cli(["simulate", file("crlf.txt", "100\r\n200\r\n300"), "--json"]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n")).toHaveLength(3);
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

  it("takes --seed only as a plain decimal integer", () => {
    for (const seed of ["0x5", "1e1", " 5", "5.0", "Infinity", ""]) {
      const r = cli(["trace", "synth", "--phases", "idle:10", "--seed", seed]);
      expect([r.status, r.stderr], `--seed ${seed}`).toEqual([
        1,
        "error: --seed takes a whole number\n",
      ]);
    }
    expect(cli(["trace", "synth", "--phases", "idle:10", "--seed=-7"]).status).toBe(0);
  });

  it("refuses a bad phase list, and seconds that are not plain decimals", () => {
    for (const phases of [
      "busy:10",
      "idle:0x10",
      "idle:1e3",
      "idle: 5",
      "idle:Infinity",
      "idle:",
    ]) {
      const r = cli(["trace", "synth", "--phases", phases]);
      expect(r.status, phases).toBe(1);
      expect(r.stderr).toContain(`bad phase ${JSON.stringify(phases)}`);
    }
    expect(cli(["trace", "synth", "--phases", "idle:2.5"]).status).toBe(0);
  });
});

describe("colo-hybrid protect", () => {
  it("takes --timeout and --period only as plain decimals, before connecting", () => {
    for (const timeout of ["1e3", " 60", "0x3c", "Infinity", "0"]) {
      const r = cli(["protect", "web1", "--timeout", timeout]);
      expect([r.status, r.stderr], `--timeout ${timeout}`).toEqual([
        1,
        "error: --timeout takes a number of seconds > 0\n",
      ]);
    }
    for (const period of ["1e3", " 500", "0x1f4", "500.0", "0", "-5"]) {
      const r = cli(["protect", "web1", "--timeout", "1.5", `--period=${period}`]);
      expect([r.status, r.stderr], `--period ${period}`).toEqual([
        1,
        "error: --period takes a whole number of ms\n",
      ]);
    }
  });
});
