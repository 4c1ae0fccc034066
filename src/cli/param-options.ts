// Command-line options for the policy parameters, derived from the one schema.
import type { ParseArgsConfig } from "node:util";
import {
  applyPatch,
  DEFAULT_PARAMS,
  PARAMETERS,
  type ParamPatch,
  type Params,
} from "../colo/params.js";
import { CliError } from "./errors.js";

export const PARAM_OPTIONS: NonNullable<ParseArgsConfig["options"]> = Object.fromEntries(
  PARAMETERS.map((p) => [p.name, { type: "string" as const }]),
);

/** The parameters given as options, by external name, as applyPatch takes them. */
export function paramPatch(values: Record<string, unknown>): ParamPatch {
  return Object.fromEntries(
    PARAMETERS.filter((p) => values[p.name] !== undefined).map((p) => [p.name, values[p.name]]),
  );
}

/** Parameters from parsed options over the defaults; every bad value is reported at once. */
export function paramsFromOptions(values: Record<string, unknown>): Params {
  const result = applyPatch(DEFAULT_PARAMS, paramPatch(values));
  if (!result.ok) throw new CliError(result.errors.map((e) => e.message).join("\nerror: "));
  return result.params;
}

export function paramOptionsHelp(): string {
  return PARAMETERS.map((p) => `  --${p.name} VALUE`).join("\n");
}
