// colo-hybrid: the command-line interface.
import { AgentError } from "../agent/agent.js";
import { AGENT_HELP, runAgent } from "../agent/main.js";
import { BusError } from "../dbus/bus.js";
import { LibvirtError, QmpError } from "../libvirt/errors.js";
import { PeerUriError } from "../libvirt/peer-uri.js";
import { PairError } from "../pair/plumbing.js";
import { ProtectError } from "../pair/protect.js";
import { AGENT_HELPS, events, failover, get, list, set, status } from "./agents.js";
import { CliError } from "./errors.js";
import { OCF_HELP, ocf } from "./ocf.js";
import { PAIR_HELP, pair } from "./pair.js";
import { paramsTable } from "./params-table.js";
import { PROTECT_HELP, protectCommand } from "./protect.js";
import { SIMULATE_HELP, simulate } from "./simulate.js";
import { TRACE_HELP, trace } from "./trace.js";

const HELP = `usage: colo-hybrid COMMAND [args]

Hybrid COLO/passive checkpointing for QEMU COLO pairs on libvirt hosts.

commands:
  simulate FILE      replay a checkpoint trace through the policy
  trace synth        write a synthetic phase-changing trace
  params             list the policy parameters, their ranges and defaults
  pair create DOMAIN make a shut-off domain a COLO primary and define its secondary
  pair remove DOMAIN undo pair create: undefine the secondary, make the primary plain again
  protect PRIMARY    start COLO replication of a pair and wait until both sides are in COLO
  list               the agents on this host: role, COLO state, mode, mean, checkpoints
  status [DOMAIN]    an agent's state in full, or every agent's (--json)
  get DOMAIN [KEY]   an agent's parameters, or one of them
  set DOMAIN K=V...  change an agent's parameters, all or nothing
  events DOMAIN      follow an agent: mode changes, checkpoints, COLO state, errors
  failover DOMAIN    this side of the pair leaves COLO and runs alone
  ocf ACTION         the Pacemaker resource agent ocf:colo-hybrid:colo
  help [COMMAND]     this text, or a command's
`;

const HELPS: ReadonlyMap<string, string> = new Map(
  Object.entries({
    simulate: SIMULATE_HELP,
    trace: TRACE_HELP,
    pair: PAIR_HELP,
    protect: PROTECT_HELP,
    agent: AGENT_HELP,
    ocf: OCF_HELP,
    ...AGENT_HELPS,
  }),
);

async function run(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  const out = process.stdout;
  if (args.includes("--help") || args.includes("-h")) {
    out.write(HELPS.get(command ?? "") ?? HELP);
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
    case "pair":
      return pair(args, out, process.stderr);
    case "protect":
      return protectCommand(args, process.stderr);
    case "list":
      return list(args, out);
    case "status":
      return status(args, out);
    case "get":
      return get(args, out);
    case "set":
      return set(args);
    case "events":
      return events(args, out);
    case "failover":
      return failover(args, out);
    case "agent":
      return runAgent(args);
    case "ocf":
      process.exitCode = await ocf(args);
      return;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      out.write(HELPS.get(args[0] ?? "") ?? HELP);
      return;
    default:
      throw new CliError(`unknown command '${command}'; see 'colo-hybrid help'`);
  }
}

// `colo-hybrid simulate … | head` closes our output early: that is not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

run(process.argv.slice(2)).catch((e: unknown) => {
  // parseArgs reports unknown options and missing values with a code of its own.
  const known =
    [
      CliError,
      LibvirtError,
      QmpError,
      ProtectError,
      PairError,
      AgentError,
      BusError,
      PeerUriError,
    ].some((k) => e instanceof k) || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
  process.stderr.write(`error: ${known ? (e as Error).message : (e as Error).stack}\n`);
  process.exitCode = e instanceof AgentError ? e.exitStatus : 1;
});
