// The page's decoding of what the dbus-json3 channel delivers (JSON: a key `__proto__` is an
// own key there): names of Object's own properties are no D-Bus properties and no lookups.
import { describe, expect, it } from "vitest";
import { decodeProperties } from "../../cockpit/src/decode.js";

describe("decodeProperties", () => {
  it("ignores property names that only Object.prototype has", () => {
    const props = JSON.parse(
      '{"Domain":"web1","toString":"x","constructor":"y","__proto__":"z","hasOwnProperty":1}',
    );
    expect(decodeProperties(props)).toEqual({ domain: "web1" });
  });

  it("keeps a dict key `__proto__` as a key, never as a prototype", () => {
    const props = JSON.parse(
      '{"Parameters":{"__proto__":{"t":"u","v":1},"warmup":{"t":"u","v":5}},' +
        '"Statistics":{"__proto__":{"t":"d","v":{"per-minute":9}}}}',
    );
    const { params, stats } = decodeProperties(props);
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(params, "__proto__")?.value).toBe(1);
    expect(params?.warmup).toBe(5);
    // Not a number: dropped, and no prototype under the statistics either.
    expect(Object.getPrototypeOf(stats)).toBe(Object.prototype);
    expect(stats?.["per-minute"]).toBeUndefined();
  });
});
