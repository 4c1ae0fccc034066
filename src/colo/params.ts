// The policy's parameters: their names, units, ranges and defaults, in one place.
// Every surface (CLI options, domain metadata, D-Bus, the Cockpit form, docs/policy.md)
// is derived from PARAMETERS; nothing else may restate a range.
import { parseDecimal, parseInteger } from "../input/decimal.js";

export type Variant = "seed" | "corrected";
export const VARIANTS: readonly Variant[] = ["seed", "corrected"];

export interface Params {
  passiveCount: number;
  passiveLimit: number;
  passiveTime: number;
  coloPeriod: number;
  weight: number;
  warmup: number;
  enabled: boolean;
  variant: Variant;
  autoFailover: boolean;
  peerTimeout: number;
}

export type ParamKey = keyof Params;

interface Common<K extends ParamKey> {
  key: K;
  /** External name: CLI option, metadata element, D-Bus property, `set key=value`. */
  name: string;
  unit: string;
  summary: string;
}

export type ParamSpec =
  | (Common<ParamKey> & { kind: "int" | "real"; min: number; max: number; default: number })
  | (Common<ParamKey> & { kind: "bool"; default: boolean })
  | (Common<ParamKey> & { kind: "enum"; values: readonly string[]; default: string });

export const PARAMETERS: readonly ParamSpec[] = [
  {
    key: "passiveCount",
    name: "passive-count",
    kind: "int",
    unit: "checkpoints",
    min: 1,
    max: 100_000,
    default: 100,
    // 0 would make the RFC re-enter passive mode at every checkpoint.
    summary: "Length of a passive spell, counted in checkpoints (the RFC's doc wrongly said ms).",
  },
  {
    key: "passiveLimit",
    name: "passive-limit",
    kind: "int",
    unit: "ms",
    min: 1,
    max: 600_000,
    default: 400,
    summary: "Go passive when the mean COLO checkpoint length falls below this.",
  },
  {
    key: "passiveTime",
    name: "passive-time",
    kind: "int",
    unit: "ms",
    // Below ~20 ms the primary would spend most of its time paused in checkpoints.
    min: 20,
    max: 600_000,
    default: 250,
    summary: "Checkpoint period (x-checkpoint-delay) while passive; bounds output latency.",
  },
  {
    key: "coloPeriod",
    name: "colo-period",
    kind: "int",
    unit: "ms",
    min: 100,
    max: 3_600_000,
    default: 20_000,
    summary: "Checkpoint period (x-checkpoint-delay) in COLO mode; more than passive-limit.",
  },
  {
    key: "weight",
    name: "weight",
    kind: "real",
    unit: "",
    min: 0.01,
    max: 1,
    default: 0.3,
    summary: "EWMA weight of the newest length: mean = (1-weight)*mean + weight*length.",
  },
  {
    key: "warmup",
    name: "warmup",
    kind: "int",
    unit: "checkpoints",
    min: 1,
    max: 1_000,
    default: 5,
    summary: "COLO checkpoints measured since the last reset before the mean is trusted.",
  },
  {
    key: "enabled",
    name: "enabled",
    kind: "bool",
    unit: "",
    default: true,
    // Off while passive ends the spell, and every return to COLO starts a fresh mean.
    summary: "Hybrid mode on; off stays in COLO, keeping the mean (off while passive resets it).",
  },
  {
    key: "variant",
    name: "variant",
    kind: "enum",
    unit: "",
    values: VARIANTS,
    default: "corrected",
    summary: "'seed' decides exactly as the 2015 RFC; 'corrected' fixes its biases.",
  },
  {
    // The agent's, not the policy's: kept here so that one schema validates and stores all.
    key: "autoFailover",
    name: "auto-failover",
    kind: "bool",
    unit: "",
    default: true,
    summary: "Agent: when COLO ends, fail the primary over so it never stays paused.",
  },
  {
    // The agent's too: the primary's output waits for the secondary's, so a hung secondary
    // stalls the service; this bounds how long (src/pair/liveness.ts).
    key: "peerTimeout",
    name: "peer-timeout",
    kind: "int",
    unit: "ms",
    min: 100,
    max: 60_000,
    // A stall found within it is over before the guest's first TCP retransmission (1 s for a
    // SYN-ACK): clients held in colo-compare are then answered about a second after it began.
    default: 800,
    summary: "Agent: the secondary's QEMU silent this long (or a checkpoint 4x longer) is hung.",
  },
];

export const DEFAULT_PARAMS: Params = Object.fromEntries(
  PARAMETERS.map((p) => [p.key, p.default]),
) as unknown as Params;

const BY_NAME = new Map(PARAMETERS.map((p) => [p.name, p]));

export function specByName(name: string): ParamSpec | undefined {
  return BY_NAME.get(name);
}

export function specByKey(key: ParamKey): ParamSpec {
  const spec = PARAMETERS.find((p) => p.key === key);
  if (!spec) throw new Error(`no parameter ${key}`);
  return spec;
}

/** "1..100000 checkpoints", "true or false", "seed or corrected". */
export function allowedText(spec: ParamSpec): string {
  switch (spec.kind) {
    case "int":
    case "real":
      return `${spec.min}..${spec.max}${spec.unit ? ` ${spec.unit}` : ""}`;
    case "bool":
      return "true or false";
    case "enum":
      return spec.values.join(" or ");
  }
}

export interface ParamError {
  name: string;
  value: unknown;
  allowed: string;
  message: string;
}

/** An update by external name: values typed (D-Bus, JSON) or as text (CLI `key=value`). */
export type ParamPatch = Readonly<Record<string, unknown>>;

export type ParamResult = { ok: true; params: Params } | { ok: false; errors: ParamError[] };

/**
 * A value given as text, exactly as given (readers that pretty-print, the metadata's, trim
 * first): numbers plain decimals (decimal.ts), booleans `true` or `false`. Typed values pass.
 */
function parseValue(spec: ParamSpec, raw: unknown): unknown {
  if (typeof raw !== "string") return raw;
  switch (spec.kind) {
    case "int":
      return parseInteger(raw) ?? Number.NaN;
    case "real":
      return parseDecimal(raw) ?? Number.NaN;
    case "bool":
      return raw === "true" ? true : raw === "false" ? false : raw;
    case "enum":
      return raw;
  }
}

function acceptable(spec: ParamSpec, value: unknown): boolean {
  switch (spec.kind) {
    case "int":
      return (
        Number.isInteger(value) && (value as number) >= spec.min && (value as number) <= spec.max
      );
    case "real":
      return (
        typeof value === "number" &&
        Number.isFinite(value) &&
        value >= spec.min &&
        value <= spec.max
      );
    case "bool":
      return typeof value === "boolean";
    case "enum":
      return typeof value === "string" && spec.values.includes(value);
  }
}

/**
 * Applies `patch` to `current`, all or nothing: with any bad field nothing changes and every
 * bad field is reported (the RFC reported bad values and applied them anyway).
 */
export function applyPatch(current: Params, patch: ParamPatch): ParamResult {
  const errors: ParamError[] = [];
  const next: Record<string, unknown> = { ...current };
  for (const [name, raw] of Object.entries(patch)) {
    // By the schema's own map: `__proto__` or `toString` is unknown, and `next` is only ever
    // written under a schema key.
    const spec = specByName(name);
    if (!spec) {
      const known = PARAMETERS.map((p) => p.name).join(", ");
      errors.push({ name, value: raw, allowed: known, message: `unknown parameter '${name}'` });
      continue;
    }
    const value = parseValue(spec, raw);
    if (!acceptable(spec, value)) {
      const allowed = allowedText(spec);
      const shown = JSON.stringify(raw);
      errors.push({
        name,
        value: raw,
        allowed,
        message: `${name}=${shown} is out of range: ${allowed}`,
      });
      continue;
    }
    next[spec.key] = value;
  }
  const params = next as unknown as Params;
  // With a period at or under the limit, timer checkpoints alone would look "short".
  if (errors.length === 0 && params.coloPeriod <= params.passiveLimit) {
    errors.push({
      name: "colo-period",
      value: params.coloPeriod,
      allowed: `more than passive-limit (${params.passiveLimit} ms)`,
      message: `colo-period=${params.coloPeriod} must be more than passive-limit=${params.passiveLimit}, or an idle pair would go passive`,
    });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, params };
}

/** Parameters by external name, as they are shown and stored. */
export function toExternal(params: Params): Record<string, number | boolean | string> {
  return Object.fromEntries(PARAMETERS.map((p) => [p.name, params[p.key]]));
}
