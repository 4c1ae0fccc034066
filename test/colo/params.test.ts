import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyPatch, DEFAULT_PARAMS, PARAMETERS, toExternal } from "../../src/colo/params.js";

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
});
