import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { systemctlStopArgs } from "../../src/hook/handoff.js";
import { agentInstance, agentUnit, systemdEscape } from "../../src/hook/systemd-escape.js";
import { HOSTILE_NAMES, UNDEFINABLE_NAMES } from "./domains.js";

/** The real `systemd-escape` of each string, in one run (escaped strings hold no space). */
function reference(strings: readonly string[]): string[] {
  const out = execFileSync("systemd-escape", ["--", ...strings], { encoding: "utf8" });
  return out.replace(/\n$/, "").split(" ");
}

const HOSTILE = [
  ...HOSTILE_NAMES,
  ...UNDEFINABLE_NAMES,
  "",
  ".",
  "..",
  ".hidden",
  "a.b",
  "/",
  "//a//b/",
  "-",
  "--help",
  "\\",
  "\\x2d",
  "colo-hybrid-agent@x.service",
  "a b\tc\rd",
  "\u00e9\u0301\u{1f600}\u200b\ufeff",
  "\u007f\u0001",
  "%i %n",
  ":_.~!#$&'()*+,;=?@[]{}|^`\"<>",
];

describe("systemdEscape", () => {
  it("escapes as systemd-escape does, on hostile strings", () => {
    expect(HOSTILE.map(systemdEscape)).toEqual(reference(HOSTILE));
  });

  it("escapes as systemd-escape does, on any string", () => {
    // Arguments are C strings: no NUL. Lone surrogates have no UTF-8.
    const text = fc
      .string({ unit: "binary", maxLength: 40 })
      .filter((s) => !s.includes("\0") && Buffer.from(s).toString() === s);
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 50 }), (strings) => {
        expect(strings.map(systemdEscape)).toEqual(reference(strings));
      }),
      { numRuns: 40 },
    );
  });
});

describe("the agent's unit", () => {
  const UUID = "0E3C9A52-5e0b-4f3c-9d7e-2b1a6c4d8f00";

  it("is an instance of the template named by the UUID's 32 hex digits, lowercase", () => {
    expect(agentInstance(UUID)).toBe("0e3c9a525e0b4f3c9d7e2b1a6c4d8f00");
    expect(agentInstance("0e3c9a525e0b4f3c9d7e2b1a6c4d8f00")).toBe(agentInstance(UUID));
    expect(agentUnit(UUID)).toBe("colo-hybrid-agent@0e3c9a525e0b4f3c9d7e2b1a6c4d8f00.service");
  });

  it("is never made of anything but a UUID", () => {
    for (const bad of ["", "0e3c9a52", `${UUID}/../x`, `-${UUID}`, "g".repeat(32)]) {
      expect(() => agentInstance(bad)).toThrow(RangeError);
    }
  });

  it("is queued for systemd to start or stop, without waiting for it", () => {
    const unit = "colo-hybrid-agent@0e3c9a525e0b4f3c9d7e2b1a6c4d8f00.service";
    expect(agentUnit(UUID)).toBe(unit);
    expect(systemctlStopArgs(UUID)).toEqual(["stop", "--no-block", unit]);
    // The shell front starts it, from the UUID's hex digits, which need no escaping.
    expect(readFileSync("hooks/colo-hybrid.in", "utf8")).toContain(
      'systemctl start --no-block "colo-hybrid-agent@$hex.service"',
    );
  });
});
