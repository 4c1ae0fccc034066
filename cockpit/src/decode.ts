// D-Bus values as the dbus-json3 channel delivers them (docs/dbus.md types) into the page's
// model, and the page's parameter changes into a{sv}. Pure: the D-Bus traffic is agents.ts's.
import type { Variant } from "./cockpit.js";
import type { AgentInfo, Checkpoint, HistoryEntry, ParamValue } from "./model.js";

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

function unwrap(v: unknown): unknown {
  return typeof v === "object" && v !== null && "v" in v ? (v as Variant).v : v;
}

/** An a{sv} by key; fromEntries defines own properties, so a key `__proto__` stays a key. */
function dict<T>(v: unknown, pick: (x: unknown) => T | undefined): Record<string, T> {
  if (typeof v !== "object" || v === null) return {};
  return Object.fromEntries(
    Object.entries(v).flatMap(([key, value]) => {
      const x = pick(unwrap(value));
      return x === undefined ? [] : [[key, x] as const];
    }),
  );
}

const paramValue = (x: unknown): ParamValue | undefined =>
  typeof x === "number" || typeof x === "boolean" || typeof x === "string" ? x : undefined;
const statValue = (x: unknown): number | undefined => (typeof x === "number" ? x : undefined);

function history(v: unknown): HistoryEntry[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((e) =>
    Array.isArray(e) ? [{ t: num(e[0]), kind: str(e[1]), message: str(e[2]) }] : [],
  );
}

/** Each D-Bus property, by name, as a change of the model. */
const PROPERTIES: Record<string, (v: unknown) => Partial<AgentInfo>> = {
  Domain: (v) => ({ domain: str(v) }),
  Role: (v) => ({ role: str(v) }),
  PeerUri: (v) => ({ peerUri: str(v) }),
  PeerDomain: (v) => ({ peerDomain: str(v) }),
  ColoState: (v) => ({ colo: str(v) }),
  ColoReason: (v) => ({ coloReason: str(v) }),
  Mode: (v) => ({ mode: v === "passive" ? "passive" : "colo" }),
  PassiveLeft: (v) => ({ passiveLeft: num(v) }),
  Mean: (v) => ({ mean: num(v) }),
  Samples: (v) => ({ samples: num(v) }),
  Parameters: (v) => ({ params: dict(v, paramValue) }),
  Statistics: (v) => ({ stats: dict(v, statValue) }),
  QemuPrimary: (v) => ({ qemuPrimary: str(v) }),
  QemuSecondary: (v) => ({ qemuSecondary: str(v) }),
  LastError: (v) => ({ lastError: str(v) }),
  History: (v) => ({ history: history(v) }),
};

/** What the page knows of an agent before its properties: nothing ("" is "not read yet"). */
export const EMPTY_INFO: AgentInfo = {
  domain: "",
  role: "",
  peerUri: "",
  peerDomain: "",
  colo: "",
  coloReason: "",
  mode: "colo",
  passiveLeft: 0,
  mean: 0,
  samples: 0,
  params: {},
  stats: {},
  qemuPrimary: "",
  qemuSecondary: "",
  lastError: "",
  history: [],
};

/** Changed properties (all of them at first) into a change of the model; unknown ones ignored. */
export function decodeProperties(props: Record<string, unknown>): Partial<AgentInfo> {
  let out: Partial<AgentInfo> = {};
  for (const [name, value] of Object.entries(props)) {
    // Own names only: `toString` or `__proto__` from the bus is no property of ours.
    const decode = Object.hasOwn(PROPERTIES, name) ? PROPERTIES[name] : undefined;
    if (decode) out = { ...out, ...decode(value) };
  }
  return out;
}

/** a(tddds): (start, length or -1, pause or -1, mean, mode). */
export function decodeCheckpoints(v: unknown): Checkpoint[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((c): Checkpoint[] => {
    if (!Array.isArray(c)) return [];
    const length = num(c[1]);
    const pause = num(c[2]);
    return [
      {
        t: num(c[0]),
        length: length < 0 ? undefined : length,
        pause: pause < 0 ? undefined : pause,
        mean: num(c[3]),
        mode: c[4] === "passive" ? "passive" : "colo",
      },
    ];
  });
}

/**
 * A parameter change as SetParameters' a{sv}. Numbers go as the text typed, as on the command
 * line, so that the agent judges exactly what the user wrote.
 */
export function encodePatch(
  patch: Readonly<Record<string, string | boolean>>,
): Record<string, Variant> {
  return Object.fromEntries(
    Object.entries(patch).map(([name, value]) => [
      name,
      typeof value === "boolean" ? { t: "b", v: value } : { t: "s", v: value },
    ]),
  );
}
