// colo-hybrid: the command-line interface.
import { CliError } from "./errors.js";
import { paramsTable } from "./params-table.js";
import { SIMULATE_HELP, simulate } from "./simulate.js";
import { TRACE_HELP, trace } from "./trace.js";

const HELP = `usage: colo-hybrid COMMAND [args]

Hybrid COLO/passive checkpointing for QEMU COLO pairs on libvirt hosts.

commands:
  simulate FILE      replay a checkpoint trace through the policy
  trace synth        write a synthetic phase-changing trace
  params             list the policy parameters, their ranges and defaults
  help [COMMAND]     this text, or a command's
`;

const HELPS: Record<string, string> = { simulate: SIMULATE_HELP, trace: TRACE_HELP };

async function run(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  const out = process.stdout;
  if (args.includes("--help") || args.includes("-h")) {
    out.write(HELPS[command ?? ""] ?? HELP);
    return;
  }
  switch (command) {
    case "simulate":
      return simulate(args, out);
    case "trace":
      return trace(args, out);
    case "params":
      out.write(paramsTable());
      return;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      out.write(HELPS[args[0] ?? ""] ?? HELP);
      return;
    default:
      throw new CliError(`unknown command '${command}'; see 'colo-hybrid help'`);
  }
}

run(process.argv.slice(2)).catch((e: unknown) => {
  // parseArgs reports unknown options and missing values with a code of its own.
  const known =
    e instanceof CliError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
  process.stderr.write(`error: ${known ? (e as Error).message : (e as Error).stack}\n`);
  process.exitCode = 1;
});
