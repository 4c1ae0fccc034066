// `colo-hybrid simulate FILE`: replay a trace through the policy core.
import { open } from "node:fs/promises";
import { parseArgs } from "node:util";
import { parseDecimal, parseInteger } from "../input/decimal.js";
import { Replay } from "../sim/replay.js";
import { LineParser, TraceError, traceLines } from "../trace/format.js";
import { CliError } from "./errors.js";
import { PARAM_OPTIONS, paramOptionsHelp, paramsFromOptions } from "./param-options.js";
import { renderReport } from "./render.js";

export const SIMULATE_HELP = `usage: colo-hybrid simulate FILE [options]

Replays FILE (a colo-hybrid trace, JSON lines, or checkpoint lengths in ms, one per line;
"-" reads standard input) through the hybrid-mode policy and prints the mode timeline and a
summary.

  --json          one JSON object per checkpoint instead of the report
  --pause MS      pause given to each checkpoint of a lengths file (default 0)
  --width N       timeline columns (default 72)
policy parameters (see 'colo-hybrid params'):
${paramOptionsHelp()}
`;

export async function simulate(args: string[], out: NodeJS.WritableStream): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...PARAM_OPTIONS,
      json: { type: "boolean" },
      pause: { type: "string" },
      width: { type: "string" },
    },
  });
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) throw new CliError("simulate takes one FILE");
  const params = paramsFromOptions(values);
  const pause = values.pause === undefined ? 0 : parseDecimal(values.pause);
  const width = values.width === undefined ? 72 : parseInteger(values.width);
  if (pause === undefined || !Number.isFinite(pause) || pause < 0)
    throw new CliError("--pause takes a number of ms >= 0");
  if (width === undefined || width < 10 || width > 1000) {
    throw new CliError("--width takes a whole number from 10 to 1000");
  }

  const replay = new Replay(
    params,
    values.json ? (c) => out.write(`${JSON.stringify(c)}\n`) : undefined,
  );
  const parser = new LineParser({ pause });
  const input = file === "-" ? process.stdin : await openFile(file);
  try {
    for await (const line of traceLines(input)) {
      for (const event of parser.line(line)) replay.push(event);
    }
  } catch (e) {
    if (e instanceof TraceError) throw new CliError(`${file}:${e.message}`);
    throw e;
  }
  const summary = replay.finish();
  if (summary.stats.checkpoints.total === 0) throw new CliError(`${file}: no checkpoints`);
  if (!values.json) out.write(renderReport(file, summary, params, width));
}

async function openFile(file: string): Promise<NodeJS.ReadableStream> {
  try {
    const handle = await open(file);
    if ((await handle.stat()).isDirectory()) {
      await handle.close();
      throw new CliError(`cannot read ${file}: it is a directory`);
    }
    return handle.createReadStream();
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
}
