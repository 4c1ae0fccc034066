// The commands that talk to the agents on the system bus (docs/dbus.md), never to libvirt:
// `list`, `status`, `get`, `set`, `events`, `failover`. DOMAIN is a name or a UUID.
import { once } from "node:events";
import { parseArgs } from "node:util";
import { specByName } from "../colo/params.js";
import { ACCESS_DENIED, BusError, INVALID_ARGS } from "../dbus/bus.js";
import { AgentClient, type AgentEvent } from "../dbus/client.js";
import { busNameForUuid } from "../dbus/names.js";
import type { AgentProperties } from "../dbus/values.js";
import { uuidToBytes } from "../libvirt/api.js";
import {
  agentTable,
  describeAgent,
  eventLine,
  followingLine,
  parametersText,
} from "./agent-text.js";
import { CliError } from "./errors.js";

export const AGENT_HELPS: Record<string, string> = {
  list: `usage: colo-hybrid list

The protected domains whose agents run on this host: role, COLO state, mode, passive
checkpoints left, the mean checkpoint length and checkpoints per minute (recent).
`,
  status: `usage: colo-hybrid status [DOMAIN] [--json]

One agent's state in full (every agent's without DOMAIN): COLO state and why, mode, mean,
checkpoint statistics, QEMU versions, the last error and recent history.
  --json   the agent's D-Bus properties (docs/dbus.md) as JSON; an array without DOMAIN
`,
  get: `usage: colo-hybrid get DOMAIN [KEY]

The agent's parameters, or the value of one ('colo-hybrid params' says what they mean).
`,
  set: `usage: colo-hybrid set DOMAIN KEY=VALUE...

Changes parameters of the agent, all or nothing: the agent checks every value, stores them in the
domain's metadata (live and persistent) and applies them at its next decision. Root only.
`,
  events: `usage: colo-hybrid events DOMAIN

Follows the agent until interrupted: one line per mode change, per second with checkpoints, per
change of COLO state and per error.
`,
  failover: `usage: colo-hybrid failover DOMAIN

This side of the pair leaves COLO and runs alone: a primary drops its secondary; a secondary
takes over. Root only.
`,
};

type Out = NodeJS.WritableStream;

/** virsh reports a failure and its cause as two "error:" lines; main.ts writes the first prefix. */
const errorLines = (...lines: string[]) => new CliError(lines.join("\nerror: "));

function positionals(command: string, args: string[], min: number, max: number): string[] {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  if (positionals.length < min || positionals.length > max)
    throw new CliError(`${command}: wrong arguments; see 'colo-hybrid help ${command}'`);
  return positionals;
}

async function withClient<T>(f: (c: AgentClient) => Promise<T>): Promise<T> {
  const client = await AgentClient.connect();
  try {
    return await f(client);
  } finally {
    client.close();
  }
}

const denied = (e: unknown) => e instanceof BusError && e.errorName === ACCESS_DENIED;

/** The agent of DOMAIN: by UUID first, then by name, as virsh looks domains up. */
async function findAgent(c: AgentClient, domain: string): Promise<string> {
  const agents = await c.agents();
  if (uuidToBytes(domain) !== undefined) {
    const busName = busNameForUuid(domain);
    if (agents.some((a) => a.busName === busName)) return busName;
  }
  // The first agent to name the domain wins: one that hangs delays only a domain not found.
  const failed: unknown[] = [];
  const found = await new Promise<string | undefined>((resolve) => {
    let pending = agents.length;
    if (pending === 0) resolve(undefined);
    for (const a of agents)
      c.property(a.busName, "Domain")
        .then(
          (name) => name === domain && resolve(a.busName),
          (e: unknown) => failed.push(e),
        )
        .finally(() => --pending === 0 && resolve(undefined));
  });
  if (found !== undefined) return found;
  if (failed.some(denied)) throw failed.find(denied);
  const n = failed.length;
  const silent = n > 0 ? ` (${n} ${n === 1 ? "agent" : "agents"} did not answer)` : "";
  throw new CliError(`no agent for domain '${domain}'${silent}`);
}

/** Every agent's properties; those that fail are reported after what the others said. */
async function allAgents(
  c: AgentClient,
): Promise<{ agents: AgentProperties[]; failed?: CliError }> {
  const refs = await c.agents();
  const results = await Promise.allSettled(refs.map((a) => c.properties(a.busName)));
  const agents: AgentProperties[] = [];
  const problems: string[] = [];
  for (const [i, r] of results.entries()) {
    if (r.status === "fulfilled") agents.push(r.value);
    else if (denied(r.reason)) throw r.reason;
    else problems.push(`agent of domain ${refs[i]?.uuid}: ${(r.reason as Error).message}`);
  }
  agents.sort((a, b) => a.Domain.localeCompare(b.Domain));
  return problems.length > 0 ? { agents, failed: errorLines(...problems) } : { agents };
}

export async function list(args: string[], out: Out): Promise<void> {
  positionals("list", args, 0, 0);
  const { agents, failed } = await withClient(allAgents);
  out.write(agentTable(agents));
  if (failed) throw failed;
}

export async function status(args: string[], out: Out): Promise<void> {
  const { values, positionals: domains } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: "boolean", default: false } },
  });
  if (domains.length > 1) throw new CliError("status takes at most one DOMAIN");
  const domain = domains[0];
  if (domain !== undefined) {
    const p = await withClient(async (c) => c.properties(await findAgent(c, domain)));
    out.write(values.json ? `${JSON.stringify(p, null, 2)}\n` : describeAgent(p));
    return;
  }
  const { agents, failed } = await withClient(allAgents);
  out.write(
    values.json ? `${JSON.stringify(agents, null, 2)}\n` : agents.map(describeAgent).join("\n"),
  );
  if (failed) throw failed;
}

export async function get(args: string[], out: Out): Promise<void> {
  const [domain, key] = positionals("get", args, 1, 2) as [string, string?];
  const params = await withClient(async (c) =>
    c.property(await findAgent(c, domain), "Parameters"),
  );
  if (key === undefined) {
    out.write(parametersText(params));
    return;
  }
  // KEY is looked up in the schema and among the agent's own keys, never along the prototype
  // chain: `toString` or `__proto__` is no parameter.
  const value =
    specByName(key) !== undefined && Object.hasOwn(params, key) ? params[key] : undefined;
  if (value === undefined)
    throw new CliError(`unknown parameter '${key}'; known: ${Object.keys(params).join(", ")}`);
  out.write(`${value}\n`);
}

/**
 * KEY=VALUE arguments, values as typed: the agent judges them as it judges the Cockpit form,
 * unknown keys included (a Map, so that `__proto__` or `toString` is a key like any other).
 */
function patchOf(pairs: readonly string[]): Record<string, string> {
  const patch = new Map<string, string>();
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new CliError(`'${pair}' is not KEY=VALUE`);
    const key = pair.slice(0, eq);
    if (patch.has(key)) throw new CliError(`'${key}' is given twice`);
    patch.set(key, pair.slice(eq + 1));
  }
  // fromEntries defines own properties: a key `__proto__` stays a key.
  return Object.fromEntries(patch);
}

export async function set(args: string[]): Promise<void> {
  const [domain, ...pairs] = positionals("set", args, 2, Number.POSITIVE_INFINITY) as [
    string,
    ...string[],
  ];
  const patch = patchOf(pairs);
  try {
    await withClient(async (c) => c.setParameters(await findAgent(c, domain), patch));
  } catch (e) {
    // One line per bad field, as the agent wrote them.
    if (e instanceof BusError && e.errorName === INVALID_ARGS)
      throw errorLines(...e.message.split("\n"));
    throw e;
  }
}

export async function failover(args: string[], out: Out): Promise<void> {
  const [domain] = positionals("failover", args, 1, 1) as [string];
  await withClient(async (c) => {
    const busName = await findAgent(c, domain);
    try {
      await c.failover(busName);
    } catch (e) {
      if (denied(e)) throw e;
      throw errorLines(`Failed to fail over domain '${domain}'`, (e as Error).message);
    }
  });
  out.write(`Domain '${domain}' failed over\n`);
}

export async function events(args: string[], out: Out): Promise<void> {
  const [domain] = positionals("events", args, 1, 1) as [string];
  await withClient(async (c) => {
    const busName = await findAgent(c, domain);
    // Followed before the first read, so that no change falls between the two; what arrives
    // meanwhile waits for that read, which is what property changes are compared with.
    let known: Partial<AgentProperties> | undefined;
    const waiting: AgentEvent[] = [];
    const show = (e: AgentEvent) => {
      if (known === undefined) {
        waiting.push(e);
        return;
      }
      out.write(eventLine(known.Domain ?? domain, e, known));
      if (e.type === "properties") known = { ...known, ...e.changed };
      // A restarted agent starts afresh: what it says now is compared with what was known.
      // If it cannot say, it is gone again, and that has its own line.
      if (e.type === "agent" && e.running)
        c.properties(busName).then(
          (p) => show({ type: "properties", changed: p }),
          () => undefined,
        );
    };
    const stop = await c.follow(busName, show);
    const first = await c.properties(busName);
    known = first;
    out.write(followingLine(first));
    for (const e of waiting.splice(0)) show(e);
    await Promise.race([
      once(process, "SIGINT"),
      once(process, "SIGTERM"),
      c.lost.then((e) => Promise.reject(e)),
    ]);
    stop();
  });
}
