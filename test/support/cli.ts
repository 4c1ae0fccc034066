// Runs the built CLI bundle as a user would, with the given node binary.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

export const BUNDLE = "dist/colo-hybrid.mjs";

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface NodeBinary {
  path: string;
  env: NodeJS.ProcessEnv;
}

export const HOST_NODE: NodeBinary = { path: process.execPath, env: process.env };

/** Debian 12's Node.js 18 as scripts/setup.sh unpacks it, or the host's if that is 18. */
export function node18(): NodeBinary {
  if (process.versions.node.startsWith("18.")) return HOST_NODE;
  const root = "build/node18";
  const path = join(root, "usr/bin/node");
  if (!existsSync(path)) throw new Error(`${path} is missing: run 'make setup' first`);
  return { path, env: { ...process.env, LD_LIBRARY_PATH: join(root, "usr/lib/x86_64-linux-gnu") } };
}

export function cli(args: string[], input?: string, node: NodeBinary = HOST_NODE): CliRun {
  const r = spawnSync(node.path, [BUNDLE, ...args], {
    input,
    encoding: "utf8",
    env: node.env,
    maxBuffer: 64 * 1024 * 1024,
    // A command that never ends fails its test (status null) instead of hanging the run.
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
