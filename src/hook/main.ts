// dist/colo-hybrid-hook.mjs: the node part of the libvirt hook, which hooks/colo-hybrid.in runs
// as `colo-hybrid-hook.mjs OPERATION SUB-OPERATION` with the domain XML on stdin for the calls
// that need it (the check at prepare, the stop); and, as `colo-hybrid-hook.mjs supervise --uuid
// UUID`, the supervisor the shell front starts where systemd does not run.
//
// The supervisor lives in this small bundle, not in the CLI's: it is loaded once per protected
// domain and lives as long as the domain, its pid file protocol stays with the hook that stops
// it, and the agent it runs is whatever colo-hybrid.mjs stands beside it.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { decide, shownName } from "./decide.js";
import { appendLog, stopAgent } from "./handoff.js";
import { AGENT_NODE_OPTIONS, supervisedAgentArgs } from "./pidfile.js";
import { supervise } from "./supervise.js";

const AGENT_BUNDLE = join(dirname(fileURLToPath(import.meta.url)), "colo-hybrid.mjs");

/** For a domain that runs: stderr (libvirt keeps it in its debug log) and the domain's log. */
function report(domain: string, uuid: string, message: string): void {
  process.stderr.write(`colo-hybrid: domain ${shownName(domain)}: ${message}\n`);
  try {
    appendLog(uuid, domain, "error", message);
  } catch {
    // Said on stderr already; nothing more to do for a hook that must not fail.
  }
}

function hook(operation: string, subOperation: string): void {
  const decision = decide(operation, subOperation, readFileSync(0, "utf8"));
  switch (decision.action) {
    case "none":
      return;
    case "refuse":
      process.stderr.write(`${decision.message}\n`);
      process.exitCode = 1;
      return;
    case "stop":
      try {
        stopAgent(decision.domain, decision.uuid);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        report(decision.domain, decision.uuid, `cannot stop its agent: ${why}`);
      }
  }
}

const [command = "", ...args] = process.argv.slice(2);
if (command === "supervise") {
  const { values } = parseArgs({ args, options: { uuid: { type: "string" } }, strict: true });
  const uuid = values.uuid ?? "";
  await supervise(uuid, [
    process.execPath,
    ...AGENT_NODE_OPTIONS,
    AGENT_BUNDLE,
    ...supervisedAgentArgs(uuid),
  ]);
} else {
  hook(command, args[0] ?? "");
}
