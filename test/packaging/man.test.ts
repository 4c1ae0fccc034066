// The man pages against the command itself: every command, option and parameter that
// `colo-hybrid help` and `colo-hybrid params` name is in them, at package.json's version.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { cli } from "../support/cli.js";

/** A man page's source with roff's escaped hyphens plain, as a reader sees the words. */
const page = (file: string) => readFileSync(`packaging/man/${file}`, "utf8").replaceAll("\\-", "-");
const CLI_PAGE = page("colo-hybrid.1");
const AGENT_PAGE = page("colo-hybrid-agent.8");
const VERSION = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;

function help(...args: string[]): string {
  const r = cli(["help", ...args]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** "simulate", "trace synth", "pair create", ...: the words before a command's arguments. */
const COMMANDS = help()
  .split("\n")
  .map((line) => /^ {2}([a-z]+(?: [a-z]+)?)(?: [A-Z[]|\s{2,})/.exec(line)?.[1])
  .filter((c): c is string => c !== undefined);

/** The policy parameters, which commands also take as options: the page lists them once. */
const PARAMETERS = [...cli(["params"]).stdout.matchAll(/^\| `([a-z-]+)` +\| [^|]+\| (\S+) /gm)];

/** The long options a command's help lists. */
const options = (text: string) =>
  [...text.matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1] as string);

describe("the man pages", () => {
  it("have a section for every command of colo-hybrid help", () => {
    expect(COMMANDS).toContain("pair create");
    const headings = [...CLI_PAGE.matchAll(/^\.SS "?([^"\n]+)/gm)].map((m) => m[1]);
    for (const command of COMMANDS) {
      expect(headings.some((h) => h === command || h?.startsWith(`${command} `))).toBe(true);
    }
  });

  it.each(COMMANDS)("name every option of '%s'", (command) => {
    const parameters = PARAMETERS.map(([, name]) => `--${name}`);
    for (const option of options(help(command.split(" ")[0] as string))) {
      if (!parameters.includes(option)) expect(CLI_PAGE).toContain(option);
    }
  });

  it("name every policy parameter with its default", () => {
    expect(PARAMETERS.length).toBeGreaterThan(5);
    for (const [, name, value] of PARAMETERS) {
      expect(CLI_PAGE).toMatch(new RegExp(`^\\.B ${name}\\n.*default ${value}`, "m"));
    }
  });

  it("describe the agent's options in colo-hybrid-agent(8)", () => {
    const agentOptions = options(help("agent"));
    expect(agentOptions).toEqual(["--uuid", "--connect", "--supervised"]);
    for (const option of agentOptions) expect(AGENT_PAGE).toContain(option);
  });

  it("carry package.json's version", () => {
    for (const text of [CLI_PAGE, AGENT_PAGE]) {
      expect(text).toMatch(new RegExp(`^\\.TH .* "colo-hybrid ${VERSION}"`, "m"));
    }
  });
});
