// A live COLO lab pair with its agent running as its own process, for the agent benchmarks. The
// agent is the CLI bundle built here from the checkout's sources, with the Makefile's flags, into
// a directory of its own (so that a `make build` running beside the benchmark cannot swap it
// mid-run), and started directly rather than through the hook, so that each benchmark measures
// one thing. It publishes itself on the system bus as it ships: the bus policy is installed for
// the run (test/dbus/host.ts).

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleNode } from "../../scripts/bundle.js";
import type { ParamPatch } from "../../src/colo/params.js";
import { AGENT_NODE_OPTIONS } from "../../src/hook/pidfile.js";
import { installPolicy } from "../../test/dbus/host.js";
import { type LabPair, type LabSides, startPair } from "../../test/lab/pair.js";
import { HOOK } from "../../test/packaging/packages.js";
import { waitUntil } from "../../test/support/wait.js";

export interface RunningAgent {
  child: ChildProcess;
  pid: number;
  /** Everything it wrote on stderr so far (its log). */
  output(): string;
  /** SIGTERM (it restores COLO's settings), and waits until it has exited. */
  stop(): Promise<void>;
}

export interface LabAgent {
  pair: LabPair;
  agent: RunningAgent;
  /** The secondary's QEMU. */
  secondaryPid: number;
  /** Starts another agent for the pair (after agent.stop()). */
  restartAgent(): Promise<RunningAgent>;
  stop(): Promise<void>;
}

export const qemuPid = (domain: string): number =>
  Number(readFileSync(`/run/libvirt/qemu/${domain}.pid`, "utf8").trim());

/** User plus system CPU time of a process so far, seconds. */
export function cpuSeconds(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1] ?? "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const statusKb = (pid: number, key: string): number => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(
    new RegExp(`^${key}:\\s+(\\d+) kB`, "m"),
  );
  return Number(line?.[1]);
};

/** Resident set size, MB. */
export const rssMb = (pid: number): number => statusKb(pid, "VmRSS") / 1024;

/** The resident set by kind, MB: anonymous (heaps, stacks), file-backed (code), shared memory. */
export function rssParts(pid: number): { anon: number; file: number; shmem: number } {
  return {
    anon: statusKb(pid, "RssAnon") / 1024,
    file: statusKb(pid, "RssFile") / 1024,
    shmem: statusKb(pid, "RssShmem") / 1024,
  };
}

export function percentile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
}

const scratch = mkdtempSync(join(tmpdir(), "colo-hybrid-bench-"));
process.once("exit", () => rmSync(scratch, { recursive: true, force: true }));

/** Bundles an entry point as the Makefile bundles the CLI; returns the bundle's path. */
export async function bundle(entry: string, name: string): Promise<string> {
  const outfile = join(scratch, name);
  await bundleNode(entry, outfile, true);
  return outfile;
}

let agentBundle: Promise<string> | undefined;

/** Runs the pair's primary agent, `colo-hybrid agent --uuid UUID`, until it follows the secondary. */
export async function startAgent(
  pair: Pick<LabSides, "primary">,
  nodeArgs: readonly string[] = AGENT_NODE_OPTIONS,
): Promise<RunningAgent> {
  agentBundle ??= bundle("src/cli/main.ts", "colo-hybrid.mjs");
  const child = spawn(
    process.execPath,
    [...nodeArgs, await agentBundle, "agent", "--uuid", pair.primary.dom.uuid],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let output = "";
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise((r) => child.once("exit", r));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  try {
    await waitUntil(
      "the agent to follow the secondary",
      () => {
        if (child.exitCode !== null) throw new Error(`the agent exited: ${output}`);
        return output.includes("following the secondary");
      },
      60_000,
    );
    return { child, pid: child.pid as number, output: () => output, stop };
  } catch (e) {
    process.stderr.write(output);
    await stop();
    throw e;
  }
}

/** nodeArgs: node's options for the agent's process (default: the hook's and the unit's). */
export async function labAgent(
  params: ParamPatch,
  nodeArgs: readonly string[] = AGENT_NODE_OPTIONS,
): Promise<LabAgent> {
  if (existsSync(HOOK)) {
    throw new Error(`${HOOK} is installed: libvirt would start a second agent; remove it first`);
  }

  const removePolicy = await installPolicy();
  const period = Number(params["colo-period"] ?? 20_000);
  let pair: LabPair | undefined;
  let agent: RunningAgent | undefined;
  const stop = async () => {
    await agent?.stop();
    await pair?.teardown();
    await removePolicy();
  };
  try {
    pair = await startPair({ period, params, log: () => undefined });
    const p = pair;
    agent = await startAgent(p, nodeArgs);
    const lab: LabAgent = {
      pair: p,
      agent,
      secondaryPid: qemuPid(p.secondary.dom.name),
      restartAgent: async () => {
        agent = await startAgent(p, nodeArgs);
        lab.agent = agent;
        return agent;
      },
      stop,
    };
    return lab;
  } catch (e) {
    await stop();
    throw e;
  }
}
