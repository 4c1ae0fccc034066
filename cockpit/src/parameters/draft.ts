// The parameters form's edits, checked by the policy core's own applyPatch (src/colo/params.ts)
// against the agent's current values: the same ranges, the same words as the agent's refusal.
import {
  applyPatch,
  DEFAULT_PARAMS,
  PARAMETERS,
  type ParamError,
  type ParamSpec,
  type Params,
} from "../../../src/colo/params.js";
import type { ParamValue } from "../model.js";

/** Edited fields by external name: text for numbers (as typed), booleans and enums as chosen. */
export type Edits = Readonly<Record<string, string | boolean>>;

/** The agent's parameters as the core's Params (defaults for any it did not publish). */
export function currentParams(published: Readonly<Record<string, ParamValue>>): Params {
  const result = applyPatch(DEFAULT_PARAMS, published);
  return result.ok ? result.params : DEFAULT_PARAMS;
}

/** What a field shows when not edited. */
export function shown(spec: ParamSpec, params: Params): string | boolean {
  const value = params[spec.key];
  return typeof value === "boolean" ? value : String(value);
}

/** The edits that change something, as SetParameters takes them. */
export function changes(edits: Edits, params: Params): Edits {
  return Object.fromEntries(
    Object.entries(edits).filter(([name, value]) => {
      const spec = PARAMETERS.find((p) => p.name === name);
      return spec !== undefined && value !== shown(spec, params);
    }),
  );
}

/** Errors by field name ("" when it is fine); a cross-field error lands on the field it names. */
export function validate(edits: Edits, params: Params): Record<string, string> {
  const result = applyPatch(params, changes(edits, params));
  if (result.ok) return {};
  return Object.fromEntries(result.errors.map((e: ParamError) => [e.name, e.message]));
}
