// What the bus tests need of the host: the agents' bus policy installed as a package installs it,
// users in and out of group libvirt, and the CLI bundle run as one of them.
import { spawn } from "node:child_process";
import { copyFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import type { MessageLike } from "@jellybrick/dbus-next";
import { SystemBus } from "../../src/dbus/bus.js";
import { OBJECT_PATH } from "../../src/dbus/names.js";
import { BUNDLE, HOST_NODE, type NodeBinary } from "../support/cli.js";
import { CommandError, DAEMON_ENV, run } from "../support/exec.js";
import { ensureSystemBus } from "../support/system-bus.js";
import { GiveUp, waitUntil } from "../support/wait.js";

const POLICY = "packaging/dbus/org.colo_hybrid.Agent.conf";

async function reloadBusConfig(): Promise<void> {
  const bus = await SystemBus.connect();
  try {
    await bus.callBus("ReloadConfig");
  } finally {
    bus.close();
  }
}

/**
 * Installs the policy in /etc/dbus-1/system.d and has the bus read it; returns its removal.
 * The file is this process's own: other suites install the policy too, and removing theirs (or
 * they ours) in the middle of a run would take the agents' names away.
 */
export async function installPolicy(): Promise<() => Promise<void>> {
  await ensureSystemBus();
  const installed = `/etc/dbus-1/system.d/org.colo_hybrid.Agent.test-${process.pid}.conf`;
  await copyFile(POLICY, installed);
  await reloadBusConfig();
  return async () => {
    await rm(installed, { force: true });
    await reloadBusConfig();
  };
}

async function succeeds(file: string, args: string[]): Promise<boolean> {
  try {
    await run(file, args);
    return true;
  } catch (e) {
    if (e instanceof CommandError) return false;
    throw e;
  }
}

/** A system user without a home, in group libvirt or not, made if missing and kept. */
export async function ensureUser(name: string, inLibvirt: boolean): Promise<void> {
  if (!(await succeeds("getent", ["group", "libvirt"]))) await run("groupadd", ["-r", "libvirt"]);
  if (!(await succeeds("id", ["-u", name])))
    await run("useradd", ["-r", "-M", "-s", "/usr/sbin/nologin", name]);
  const groups = (await run("id", ["-nG", name])).stdout.trim().split(" ");
  if (inLibvirt && !groups.includes("libvirt")) await run("usermod", ["-aG", "libvirt", name]);
  if (!inLibvirt && groups.includes("libvirt")) await run("gpasswd", ["-d", name, "libvirt"]);
}

export interface RunAs {
  /** Default: root, as the test runs. */
  user?: string;
  node?: NodeBinary;
}

/** How to run `argv` as `user` with their own groups, from a plain environment. */
function command(argv: readonly string[], { user, node = HOST_NODE }: RunAs) {
  const env = { ...DAEMON_ENV, LD_LIBRARY_PATH: node.env.LD_LIBRARY_PATH ?? "" };
  const full = [node.path, ...argv];
  if (user === undefined) return { file: node.path, args: full.slice(1), env };
  const setpriv = [`--reuid=${user}`, `--regid=${user}`, "--init-groups", "--"];
  return { file: "setpriv", args: [...setpriv, ...full], env };
}

export interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

async function runAs(argv: readonly string[], as: RunAs): Promise<Result> {
  const { file, args, env } = command(argv, as);
  try {
    return { status: 0, ...(await run(file, args, { env })) };
  } catch (e) {
    if (!(e instanceof CommandError)) throw e;
    const status = /exited with status (\d+)/.exec(e.reason)?.[1];
    return {
      status: status === undefined ? null : Number(status),
      stdout: e.stdout,
      stderr: e.stderr,
    };
  }
}

/** The CLI bundle to completion, as a user runs it from a shell. */
export const runCli = (args: readonly string[], as: RunAs = {}) => runAs([BUNDLE, ...args], as);

// dbus-next's CommonJS entry, for the scripts below (`node -e` evaluates CommonJS).
const DBUS_NEXT = createRequire(import.meta.url).resolve("@jellybrick/dbus-next");

const CALL_SCRIPT = `
const { systemBus, Message } = require(${JSON.stringify(DBUS_NEXT)});
const bus = systemBus();
bus.call(new Message(JSON.parse(process.argv[1])))
  .then(() => "ok", (e) => e.type ?? e.message)
  .then((answer) => { console.log(answer); bus.disconnect(); });
`;

/** One raw method call to an agent as `user`: "ok", or the D-Bus error's name. */
export async function callAs(user: string, message: MessageLike): Promise<string> {
  const r = await runAs(["-e", CALL_SCRIPT, JSON.stringify(message)], { user });
  if (r.status !== 0) throw new Error(`the call script failed: ${r.stderr}`);
  return r.stdout.trim();
}

const LISTEN_SCRIPT = `
const { systemBus, Message } = require(${JSON.stringify(DBUS_NEXT)});
const bus = systemBus();
bus.on("message", (m) => { if (m.type === 4 && m.path === ${JSON.stringify(OBJECT_PATH)}) console.log(m.member); });
bus.call(new Message({ destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
  interface: "org.freedesktop.DBus", member: "AddMatch", signature: "s",
  body: ["type='signal',path='${OBJECT_PATH}'"] })).then(() => console.log("ready"));
`;

/** A connection of `user` that asks for every agent signal and prints the name of each it gets. */
export function listenAs(user: string): Follower {
  return follow(["-e", LISTEN_SCRIPT], { user });
}

export interface Follower {
  stdout(): string;
  stderr(): string;
  /** Waits until the output so far matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGINT, as ^C; resolves with the exit status. */
  interrupt(): Promise<number | null>;
}

function follow(argv: readonly string[], as: RunAs): Follower {
  const { file, args, env } = command(argv, as);
  const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return {
    stdout: () => out,
    stderr: () => err,
    waitFor: (pattern, timeoutMs = 10_000) =>
      waitUntil(
        `${pattern} in the output of ${argv.join(" ").slice(0, 60)}`,
        () => {
          if (child.exitCode !== null) throw new GiveUp(`it exited: ${err}`);
          return pattern.test(out);
        },
        timeoutMs,
        20,
      ),
    interrupt: () => {
      // setpriv execs node: the pid is node's.
      child.kill("SIGINT");
      return exited;
    },
  };
}

/** A long-running CLI command (`events`), its output collected as it comes. */
export const startCli = (args: readonly string[], as: RunAs = {}) => follow([BUNDLE, ...args], as);
