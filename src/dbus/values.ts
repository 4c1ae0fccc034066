// The agent's status as D-Bus values (docs/dbus.md), and those values back into plain data.
// The table of properties is the one place that says what each property is and how it is typed.
import { Variant } from "@jellybrick/dbus-next";
import type { AgentStatus, HistoryEntry, HistoryKind } from "../agent/status.js";
import type { Mode } from "../colo/events.js";
import { PARAMETERS, type ParamSpec } from "../colo/params.js";
import type { CheckpointRecord, StatsSnapshot } from "../colo/stats.js";

/** (start, length or -1, pause or -1, mean, mode). */
export const CHECKPOINT = "(tddds)";
export type CheckpointTuple = [number, number, number, number, Mode];

const PARAM_SIGNATURE: Record<ParamSpec["kind"], string> = {
  int: "u",
  real: "d",
  bool: "b",
  enum: "s",
};

function parameters(params: AgentStatus["params"]): Record<string, Variant> {
  const out: Record<string, Variant> = {};
  for (const spec of PARAMETERS) {
    const value = params[spec.name];
    if (value !== undefined) out[spec.name] = new Variant(PARAM_SIGNATURE[spec.kind], value);
  }
  return out;
}

function statistics(s: StatsSnapshot): Record<string, Variant> {
  const { checkpoints, length, pause } = s;
  const values: Record<string, number> = {
    checkpoints: checkpoints.total,
    "checkpoints-colo": checkpoints.byMode.colo,
    "checkpoints-passive": checkpoints.byMode.passive,
    // Checkpoints that ended in the window: the ones whose pause is known.
    "per-minute": (pause.recent.count * 60_000) / s.windowMs,
    "length-min": length.recent.min,
    "length-avg": length.recent.avg,
    "length-max": length.recent.max,
    "pause-min": pause.recent.min,
    "pause-avg": pause.recent.avg,
    "pause-max": pause.recent.max,
    "time-colo": s.timeInMode.colo,
    "time-passive": s.timeInMode.passive,
    "window-ms": s.windowMs,
  };
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, new Variant("d", v)]));
}

// `t` and `u` must be integers on the wire; QEMU's event times carry microseconds.
const int = (x: number) => Math.max(0, Math.round(x));

export const PROPERTIES = {
  Domain: { signature: "s", of: (s: AgentStatus) => s.domain },
  Uuid: { signature: "s", of: (s: AgentStatus) => s.uuid },
  Role: { signature: "s", of: (s: AgentStatus) => s.role },
  PeerUri: { signature: "s", of: (s: AgentStatus) => s.peer.uri },
  PeerDomain: { signature: "s", of: (s: AgentStatus) => s.peer.domain },
  ColoState: { signature: "s", of: (s: AgentStatus) => s.colo },
  ColoReason: { signature: "s", of: (s: AgentStatus) => s.coloReason },
  Mode: { signature: "s", of: (s: AgentStatus) => s.mode },
  PassiveLeft: { signature: "u", of: (s: AgentStatus) => int(s.passiveLeft) },
  Mean: { signature: "d", of: (s: AgentStatus) => s.mean },
  Samples: { signature: "u", of: (s: AgentStatus) => int(s.samples) },
  Parameters: { signature: "a{sv}", of: (s: AgentStatus) => parameters(s.params) },
  Statistics: { signature: "a{sv}", of: (s: AgentStatus) => statistics(s.stats) },
  QemuPrimary: { signature: "s", of: (s: AgentStatus) => s.qemu.primary },
  QemuSecondary: { signature: "s", of: (s: AgentStatus) => s.qemu.secondary },
  LastError: { signature: "s", of: (s: AgentStatus) => s.lastError },
  History: {
    signature: "a(tss)",
    of: (s: AgentStatus) => s.history.map((h) => [int(h.t), h.kind, h.message]),
  },
} as const;

export type PropertyName = keyof typeof PROPERTIES;
export const PROPERTY_NAMES = Object.keys(PROPERTIES) as PropertyName[];

/** Every property's value as dbus-next marshals it. */
export function propertyValues(status: AgentStatus): Record<PropertyName, unknown> {
  const out = {} as Record<PropertyName, unknown>;
  for (const name of PROPERTY_NAMES) out[name] = PROPERTIES[name].of(status);
  return out;
}

export function checkpointTuple(c: CheckpointRecord): CheckpointTuple {
  return [int(c.t), c.length ?? -1, c.pause ?? -1, c.mean, c.mode];
}

/**
 * A received value as plain data: variants unwrapped, 64-bit integers as numbers, dicts as
 * objects whose keys are all own properties (Object.fromEntries defines them: a key `__proto__`
 * stays a key, and never sets a prototype).
 */
export function plain(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v === null || typeof v !== "object") return v;
  // `ay` (a Buffer): its bytes.
  if (ArrayBuffer.isView(v)) return [...new Uint8Array(v.buffer, v.byteOffset, v.byteLength)];
  const proto: unknown = Object.getPrototypeOf(v);
  // A variant exactly: `instanceof` would also take a dict whose prototype is one (below).
  if (proto === Variant.prototype) return plain((v as Variant).value);
  const entries = Object.entries(v).map(([k, x]) => [k, plain(x)]);
  // dbus-next builds a received dict by assignment into `{}`, so an entry `__proto__` became
  // the object's prototype (its value, a variant in an a{sv}): it is that entry, given back.
  // (With a plain value type, a{ss}, dbus-next drops such an entry: nothing to give back.)
  if (proto !== Object.prototype && proto !== null) entries.unshift(["__proto__", plain(proto)]);
  return Object.fromEntries(entries);
}

/** The properties as a client sees them (`colo-hybrid status --json` prints these). */
export interface AgentProperties {
  Domain: string;
  Uuid: string;
  Role: string;
  PeerUri: string;
  PeerDomain: string;
  ColoState: string;
  ColoReason: string;
  Mode: Mode;
  PassiveLeft: number;
  Mean: number;
  Samples: number;
  Parameters: Record<string, number | boolean | string>;
  Statistics: Record<string, number>;
  QemuPrimary: string;
  QemuSecondary: string;
  LastError: string;
  History: HistoryEntry[];
}

/** Received properties (all, or the changed ones) as plain data; names not ours are dropped. */
export function decodeProperties(props: Record<string, unknown>): Partial<AgentProperties> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(props)) {
    if (!Object.hasOwn(PROPERTIES, name)) continue;
    const v = plain(value);
    out[name] =
      name === "History"
        ? (v as [number, HistoryKind, string][]).map(([t, kind, message]) => ({ t, kind, message }))
        : v;
  }
  return out as Partial<AgentProperties>;
}

export function decodeCheckpoints(v: unknown): CheckpointRecord[] {
  return (plain(v) as CheckpointTuple[]).map(([t, length, pause, mean, mode]) => ({
    t,
    mode,
    length: length < 0 ? undefined : length,
    pause: pause < 0 ? undefined : pause,
    mean,
  }));
}
