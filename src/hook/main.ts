// dist/colo-hybrid-hook.mjs: the node part of the libvirt hook, which hooks/colo-hybrid.in runs
// as `colo-hybrid-hook.mjs OPERATION SUB-OPERATION` with the domain XML on stdin for the calls
// that may concern us; and, as `colo-hybrid-hook.mjs supervise --uuid UUID`, the supervisor it
// starts where systemd does not run.
//
// The supervisor lives in this small bundle, not in the CLI's: it is loaded once per protected
// domain and lives as long as the domain, its pid file protocol stays with the hook that claims
// it, and the agent it runs is whatever colo-hybrid.mjs stands beside it.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { decide, shownName } from "./decide.js";
import { appendLog, handOff } from "./handoff.js";
import { supervise } from "./supervise.js";
import { agentInstance } from "./systemd-escape.js";

const BUNDLE = fileURLToPath(import.meta.url);
const AGENT_BUNDLE = join(dirname(BUNDLE), "colo-hybrid.mjs");

/** For a domain that runs: stderr (libvirt keeps it in its debug log) and the domain's log. */
function report(domain: string, uuid: string, message: string): void {
  process.stderr.write(`colo-hybrid: domain ${shownName(domain)}: ${message}\n`);
  try {
    appendLog(uuid, domain, "error", message);
  } catch {
    // Said on stderr already; nothing more to do for a hook that must not fail.
  }
}

async function hook(operation: string, subOperation: string): Promise<void> {
  const decision = decide(operation, subOperation, readFileSync(0, "utf8"));
  switch (decision.action) {
    case "none":
      return;
    case "refuse":
      process.stderr.write(`${decision.message}\n`);
      process.exitCode = 1;
      return;
    case "skip":
      report(decision.domain, decision.uuid, decision.message);
      return;
    case "start":
    case "stop":
      try {
        await handOff(decision.action, decision.domain, decision.uuid, BUNDLE);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        report(decision.domain, decision.uuid, `cannot ${decision.action} its agent: ${why}`);
      }
  }
}

const [command = "", ...args] = process.argv.slice(2);
if (command === "supervise") {
  const { values } = parseArgs({ args, options: { uuid: { type: "string" } }, strict: true });
  const uuid = values.uuid ?? "";
  // The agent gets the same instance as from its systemd unit (ExecStart=... --uuid %i).
  await supervise(uuid, [process.execPath, AGENT_BUNDLE, "agent", "--uuid", agentInstance(uuid)]);
} else {
  await hook(command, args[0] ?? "");
}
