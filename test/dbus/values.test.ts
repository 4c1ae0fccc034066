// Received D-Bus values into plain data: dict keys that are names of Object's own properties
// (`__proto__`, `toString`) stay keys, and are never looked up along the prototype chain.
import { Variant } from "@jellybrick/dbus-next";
import { describe, expect, it } from "vitest";
import { decodeProperties, plain } from "../../src/dbus/values.js";

/** An a{sv} as dbus-next delivers it: built by assignment into `{}`, entry by entry. */
function received(entries: [string, Variant][]): Record<string, unknown> {
  const dict: Record<string, unknown> = {};
  for (const [k, v] of entries) dict[k] = v;
  return dict;
}

describe("plain", () => {
  it("gives back an entry `__proto__` that dbus-next made the dict's prototype", () => {
    const dict = received([
      ["__proto__", new Variant("s", "1")],
      ["warmup", new Variant("s", "3")],
    ]);
    const p = plain(dict) as Record<string, unknown>;
    expect(Object.getPrototypeOf(p)).toBe(Object.prototype);
    expect(Object.keys(p).sort()).toEqual(["__proto__", "warmup"]);
    expect(Object.getOwnPropertyDescriptor(p, "__proto__")?.value).toBe("1");
    expect(p.warmup).toBe("3");
  });

  it("keeps other Object property names as plain keys, nested too", () => {
    const dict = received([
      ["toString", new Variant("s", "x")],
      ["constructor", new Variant("a{sv}", received([["__proto__", new Variant("u", 5)]]))],
    ]);
    const p = plain(dict) as Record<string, unknown>;
    expect(p.toString).toBe("x");
    const inner = p.constructor as unknown as Record<string, unknown>;
    expect(Object.getOwnPropertyDescriptor(inner, "__proto__")?.value).toBe(5);
    expect(Object.getPrototypeOf(inner)).toBe(Object.prototype);
  });

  it("unwraps variants, 64-bit integers and byte arrays", () => {
    expect(plain(new Variant("v", new Variant("t", 7n)))).toBe(7);
    expect(plain([new Variant("s", "a"), 2n])).toEqual(["a", 2]);
    expect(plain(Buffer.from([1, 2]))).toEqual([1, 2]);
  });
});

describe("decodeProperties", () => {
  it("drops names that are not properties of ours, Object's own included", () => {
    const props = received([
      ["Domain", new Variant("s", "web1")],
      ["toString", new Variant("s", "x")],
      ["constructor", new Variant("s", "x")],
      ["hasOwnProperty", new Variant("s", "x")],
      ["__proto__", new Variant("s", "x")],
    ]);
    const decoded = decodeProperties(props);
    expect(Object.keys(decoded)).toEqual(["Domain"]);
    expect(decoded).toEqual({ Domain: "web1" });
  });
});
