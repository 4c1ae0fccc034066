// `colo-hybrid trace synth`: write a synthetic phase-changing trace.
import { parseArgs } from "node:util";
import { parseInteger } from "../input/decimal.js";
import { formatEvent, traceHeader } from "../trace/format.js";
import { DEFAULT_SYNTH, parsePhases, synthesize } from "../trace/synthetic.js";
import { CliError } from "./errors.js";
import { PARAM_OPTIONS, paramOptionsHelp, paramsFromOptions } from "./param-options.js";

export const TRACE_HELP = `usage: colo-hybrid trace synth [options]

Writes a synthetic trace (JSON lines) to standard output: the checkpoints of a COLO pair under
load phases, with a mark at each phase change.

  --phases LIST   KIND:SECONDS,... with KIND divergent, convergent or idle
                  (default ${DEFAULT_SYNTH.phases.map((p) => `${p.kind}:${p.seconds}`).join(",")})
  --seed N        random seed (default ${DEFAULT_SYNTH.seed}); same seed, same trace
  --hybrid        run the policy in the loop, as the agent does on a live pair; without it
                  the pair stays in COLO at colo-period
policy parameters (see 'colo-hybrid params'):
${paramOptionsHelp()}
`;

export function trace(args: string[], out: NodeJS.WritableStream): void {
  const [sub, ...rest] = args;
  if (sub !== "synth") throw new CliError(`unknown trace command ${JSON.stringify(sub ?? "")}`);
  const { values } = parseArgs({
    args: rest,
    options: {
      ...PARAM_OPTIONS,
      phases: { type: "string" },
      seed: { type: "string" },
      hybrid: { type: "boolean" },
    },
  });
  const seed = values.seed === undefined ? DEFAULT_SYNTH.seed : parseInteger(values.seed);
  if (seed === undefined || !Number.isSafeInteger(seed))
    throw new CliError("--seed takes a whole number");
  let phases = DEFAULT_SYNTH.phases;
  if (values.phases !== undefined) {
    try {
      phases = parsePhases(values.phases);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
  }
  const params = paramsFromOptions(values);
  const events = synthesize(
    { seed, phases, coloPeriod: params.coloPeriod },
    values.hybrid ? params : undefined,
  );
  const lines = [formatEvent(traceHeader(values.hybrid ? "synthetic-hybrid" : "synthetic-colo"))];
  for (const event of events) lines.push(formatEvent(event));
  out.write(`${lines.join("\n")}\n`);
}
