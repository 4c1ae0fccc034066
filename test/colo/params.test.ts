import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyPatch,
  DEFAULT_PARAMS,
  PARAMETERS,
  type ParamPatch,
  specByName,
  toExternal,
} from "../../src/colo/params.js";

const refused = (patch: ParamPatch) => {
  const r = applyPatch(DEFAULT_PARAMS, patch);
  return r.ok ? [] : r.errors.map((e) => e.name);
};

// Text made of what numbers are written with, and what they must not be written with.
const numberish = fc.string({
  unit: fc.constantFrom(..."0123456789012345-+.eExXaInfity_ \t\n"),
  maxLength: 9,
});

describe("parameters", () => {
  it("has valid defaults equal to the RFC's", () => {
    expect(applyPatch(DEFAULT_PARAMS, toExternal(DEFAULT_PARAMS)).ok).toBe(true);
    expect(toExternal(DEFAULT_PARAMS)).toMatchObject({
      "passive-count": 100,
      "passive-limit": 400,
      "passive-time": 250,
      weight: 0.3,
      warmup: 5,
      variant: "corrected",
    });
  });

  it("refuses 0 for passive-time and passive-count, naming value and range", () => {
    const r = applyPatch(DEFAULT_PARAMS, { "passive-time": 0, "passive-count": 0 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([
      expect.objectContaining({ name: "passive-time", value: 0, allowed: "20..600000 ms" }),
      expect.objectContaining({
        name: "passive-count",
        value: 0,
        allowed: "1..100000 checkpoints",
      }),
    ]);
    expect(r.errors[0]?.message).toBe("passive-time=0 is out of range: 20..600000 ms");
  });

  it("reads values given as text, as the CLI and metadata give them", () => {
    const r = applyPatch(DEFAULT_PARAMS, {
      "passive-count": "7",
      weight: "0.5",
      enabled: "false",
      variant: "seed",
    });
    expect(r).toEqual({
      ok: true,
      params: { ...DEFAULT_PARAMS, passiveCount: 7, weight: 0.5, enabled: false, variant: "seed" },
    });
  });

  it("refuses non-integers, empty text, unknown names and wrong types", () => {
    const r = applyPatch(DEFAULT_PARAMS, {
      "passive-count": 2.5,
      "passive-limit": "",
      enabled: "yes",
      variant: "other",
      colour: "blue",
    });
    expect(r.ok ? [] : r.errors.map((e) => e.name)).toEqual([
      "passive-count",
      "passive-limit",
      "enabled",
      "variant",
      "colour",
    ]);
  });

  it("refuses a colo-period at or under passive-limit, which would make an idle pair passive", () => {
    const r = applyPatch(DEFAULT_PARAMS, { "colo-period": 400 });
    expect(r.ok ? undefined : r.errors[0]?.name).toBe("colo-period");
    expect(applyPatch(DEFAULT_PARAMS, { "colo-period": 400, "passive-limit": 300 }).ok).toBe(true);
  });

  it("applies all or nothing, and reports exactly the bad fields", () => {
    const numeric = PARAMETERS.filter((p) => p.kind === "int" || p.kind === "real");
    const entry = fc.tuple(
      fc.constantFrom(...numeric.map((p) => p.name)),
      fc.oneof(fc.integer({ min: -10, max: 700_000 }), fc.double({ noNaN: false })),
    );
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e[0] }), (entries) => {
        const patch = Object.fromEntries(entries);
        const r = applyPatch(DEFAULT_PARAMS, patch);
        const bad = entries
          .filter(([name, v]) => {
            const s = numeric.find((p) => p.name === name);
            if (!s || s.kind === "bool" || s.kind === "enum") return true;
            const inRange = Number.isFinite(v) && v >= s.min && v <= s.max;
            return !inRange || (s.kind === "int" && !Number.isInteger(v));
          })
          .map(([name]) => name);
        if (r.ok) {
          expect(bad).toEqual([]);
          for (const [name, v] of entries) expect(toExternal(r.params)[name]).toBe(v);
        } else if (bad.length > 0) {
          expect(r.errors.map((e) => e.name)).toEqual(bad);
        } else {
          // Only the cross-field rule can refuse an update whose fields are all in range.
          expect(r.errors.map((e) => e.name)).toEqual(["colo-period"]);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("takes text as a number only when it is a plain decimal, exactly as given", () => {
    for (const text of [
      "0x1f4",
      " 450",
      "450 ",
      "\t450",
      "1e3",
      "+450",
      "450.0",
      "4_50",
      "Infinity",
      "0b1",
      "",
    ])
      expect(refused({ "passive-limit": text }), text).toEqual(["passive-limit"]);
    for (const text of [
      "1e-1",
      " 0.5",
      "0.5 ",
      "0x1",
      "Infinity",
      "NaN",
      "5.",
      "0.",
      ".",
      "-",
      "+0.5",
    ])
      expect(refused({ weight: text }), text).toEqual(["weight"]);
    for (const text of [" true", "true ", "TRUE", "1", ""])
      expect(refused({ enabled: text }), text).toEqual(["enabled"]);
    expect(refused({ variant: " seed" })).toEqual(["variant"]);
    const r = applyPatch(DEFAULT_PARAMS, {
      "passive-limit": "450",
      "passive-time": "0250",
      weight: ".5",
      warmup: 7,
      enabled: "true",
    });
    expect(r.ok && r.params).toMatchObject({
      passiveLimit: 450,
      passiveTime: 250,
      weight: 0.5,
      warmup: 7,
      enabled: true,
    });
    // Typed values stay as they are.
    expect(applyPatch(DEFAULT_PARAMS, { weight: 1e-1, "passive-limit": 0x1f4 }).ok).toBe(true);
  });

  it("takes a string as an int exactly when it matches -?[0-9]+ (and is in range)", () => {
    // passive-count: no other parameter's value limits it.
    const spec = specByName("passive-count");
    if (spec?.kind !== "int") throw new Error("passive-count is an int");
    fc.assert(
      fc.property(fc.oneof(numberish, fc.string(), fc.integer().map(String)), (text) => {
        const decimal = /^-?[0-9]+$/.test(text);
        const n = Number(text);
        const ok = applyPatch(DEFAULT_PARAMS, { "passive-count": text }).ok;
        expect(ok).toBe(decimal && n >= spec.min && n <= spec.max);
      }),
      { numRuns: 5000 },
    );
  });

  it("takes a string as a real exactly when it is digits[.digits] or .digits", () => {
    fc.assert(
      fc.property(fc.oneof(numberish, fc.double().map(String)), (text) => {
        const decimal = /^-?([0-9]+(\.[0-9]+)?|\.[0-9]+)$/.test(text);
        const n = Number(text);
        const ok = applyPatch(DEFAULT_PARAMS, { weight: text }).ok;
        expect(ok).toBe(decimal && n >= 0.01 && n <= 1);
      }),
      { numRuns: 5000 },
    );
  });

  it("reports `__proto__` and other Object property names as unknown, and sets no prototype", () => {
    const patch = JSON.parse('{"__proto__":{"enabled":false},"toString":"1","constructor":"2"}');
    const r = applyPatch(DEFAULT_PARAMS, patch);
    expect(r.ok ? [] : r.errors.map((e) => e.message)).toEqual([
      "unknown parameter '__proto__'",
      "unknown parameter 'toString'",
      "unknown parameter 'constructor'",
    ]);
    const only = applyPatch(DEFAULT_PARAMS, JSON.parse('{"__proto__":{"enabled":false}}'));
    expect(only.ok).toBe(false);
    const fine = applyPatch(DEFAULT_PARAMS, { warmup: 3 });
    expect(fine.ok && Object.getPrototypeOf(fine.params)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(DEFAULT_PARAMS)).toBe(Object.prototype);
  });
});
