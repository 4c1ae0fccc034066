// `colo-hybrid agent --uuid UUID`: one protected domain's agent, in the foreground until
// SIGTERM. The libvirt hook starts it (through systemd, or its own supervisor); not for users.
import { Socket } from "node:net";
import { parseArgs } from "node:util";
import { publishAgent } from "../dbus/service.js";
import { uuidToBytes, uuidToString } from "../libvirt/api.js";
import { Agent, AgentError } from "./agent.js";
import { makeLogger } from "./log.js";

export const AGENT_HELP = `usage: colo-hybrid agent --uuid UUID [--connect URI]

Runs the agent of one protected domain (started by the libvirt hook; not meant to be run by hand).
  --uuid UUID      the domain, with or without dashes
  --connect URI    this host's libvirt (default qemu:///system)
  --supervised     fd 3 is the supervisor's lifeline: leave when it closes
`;

export async function runAgent(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      uuid: { type: "string" },
      connect: { type: "string", short: "c", default: "qemu:///system" },
      supervised: { type: "boolean", default: false },
    },
    strict: true,
  });
  const bytes = uuidToBytes(values.uuid ?? "");
  if (bytes === undefined) throw new AgentError(`--uuid: not a domain UUID: ${values.uuid}`);
  const uuid = uuidToString(bytes);
  let agent: Agent;
  try {
    agent = await Agent.start({ uuid, uri: values.connect });
  } catch (e) {
    // Before the domain is found its name is unknown: the line names the UUID.
    makeLogger(uuid)("error", `cannot start: ${(e as Error).message}`);
    throw e;
  }
  const published = await publishAgent(agent, uuid);
  let exiting = false;
  const exit = async (signal: string) => {
    if (exiting) return;
    exiting = true;
    agent.log("info", `${signal}: restoring COLO settings and exiting`);
    await agent.close();
    await published.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void exit("SIGTERM"));
  process.on("SIGINT", () => void exit("SIGINT"));
  // The supervisor holds the other end alone: it closes when the supervisor dies, even by
  // SIGKILL, and an agent nobody supervises must not run on (nor outlive its domain).
  if (values.supervised) {
    const lifeline = new Socket({ fd: 3, readable: true, writable: false });
    lifeline.on("error", () => undefined);
    lifeline.once("close", () => void exit("its supervisor is gone"));
    lifeline.resume();
    lifeline.unref();
  }
  // Unreachable on the bus is no use: fail, and systemd or the supervisor starts a new agent.
  void published.lost.then(async (e) => {
    agent.log("error", `lost the system bus: ${e.message}; exiting to be restarted`);
    await agent.close();
    process.exit(1);
  });
}
