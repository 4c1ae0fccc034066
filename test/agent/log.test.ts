import { describe, expect, it } from "vitest";
import { makeLogger } from "../../src/agent/log.js";

function capture(domain: string, journal: boolean) {
  const lines: string[] = [];
  const log = makeLogger(domain, { write: (l: string) => lines.push(l) }, journal);
  return { log, lines };
}

describe("the agent's log", () => {
  it("gives journald the priority and the domain, one line per event", () => {
    const { log, lines } = capture("web1", true);
    log("warning", "COLO ended:\n  reason error");
    log("info", "colo → passive");
    expect(lines).toEqual(["<4>web1: COLO ended: reason error\n", "<6>web1: colo → passive\n"]);
  });

  it("stamps lines with the time when no journal reads them", () => {
    const { log, lines } = capture("web1", false);
    log("error", "x");
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z error web1: x\n$/);
  });

  it("quotes a domain name that could pass for something else", () => {
    const { log, lines } = capture("a b\nc: d", true);
    log("info", "m");
    expect(lines[0]).toBe('<6>"a b\\nc: d": m\n');
  });
});
