// A live COLO lab pair with its agent running as its own process (the shipped bundle), for the
// agent benchmarks. The agent is started directly rather than through the hook, so that each
// benchmark measures one thing.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { ParamPatch } from "../../src/colo/params.js";
import { type LabPair, startPair } from "../../test/lab/pair.js";
import { BUNDLE } from "../../test/support/cli.js";
import { waitUntil } from "../../test/support/wait.js";

export interface LabAgent {
  pair: LabPair;
  agent: ChildProcess;
  /** The secondary's QEMU. */
  secondaryPid: number;
  stop(): Promise<void>;
}

export const qemuPid = (domain: string): number =>
  Number(readFileSync(`/run/libvirt/qemu/${domain}.pid`, "utf8").trim());

/** User plus system CPU time of a process so far, seconds. */
export function cpuSeconds(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1] ?? "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Resident set size, MB. */
export function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  return Number(line?.[1]) / 1024;
}

export function percentile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
}

export async function labAgent(params: ParamPatch): Promise<LabAgent> {
  const period = Number(params["colo-period"] ?? 20_000);
  const pair = await startPair({ period, params, log: () => undefined });
  const agent = spawn(process.execPath, [BUNDLE, "agent", "--uuid", pair.primary.dom.uuid], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let output = "";
  agent.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const stop = async () => {
    agent.kill("SIGTERM");
    await new Promise((r) => agent.once("exit", r));
    await pair.teardown();
  };
  try {
    await waitUntil(
      "the agent to follow the secondary",
      () => output.includes("following the secondary"),
      60_000,
    );
    return { pair, agent, secondaryPid: qemuPid(pair.secondary.dom.name), stop };
  } catch (e) {
    process.stderr.write(output);
    await stop();
    throw e;
  }
}
