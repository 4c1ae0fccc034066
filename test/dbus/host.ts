// What the bus tests need of the host: the agents' bus policy installed as a package installs it,
// users in and out of group libvirt, and the CLI bundle run as one of them.
import { spawn, spawnSync } from "node:child_process";
import { copyFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { type MessageLike, Variant } from "@jellybrick/dbus-next";
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

/**
 * A second policy file, also this process's own, that lets everyone call `busName` (one agent's
 * name, not the prefix: other suites' agents keep the real policy, and a file left behind by a
 * killed run opens only a name nobody owns again). Its rule is mandatory: those come after every
 * other context, whatever order the bus reads the files in. Returns its removal.
 */
export async function allowEveryoneToCall(busName: string): Promise<() => Promise<void>> {
  await ensureSystemBus();
  const installed = `/etc/dbus-1/system.d/org.colo_hybrid.Agent.test-permissive-${process.pid}.conf`;
  await writeFile(
    installed,
    `<?xml version="1.0"?>
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- A colo-hybrid test's (pid ${process.pid}): the agent must refuse non-root callers itself. -->
<busconfig>
  <policy context="mandatory">
    <allow send_destination="${busName}"/>
  </policy>
</busconfig>
`,
  );
  try {
    await reloadBusConfig();
  } catch (e) {
    await rm(installed, { force: true });
    throw e;
  }
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

/** The user's uid, as the bus sees it. */
export async function uidOf(user: string): Promise<number> {
  return Number((await run("id", ["-u", user])).stdout.trim());
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

// Messages for the scripts below, as JSON with their variants kept.
const encode = (x: unknown) =>
  JSON.stringify(x, (_, v) => (v instanceof Variant ? { $variant: [v.signature, v.value] } : v));
const DECODE = `
const { systemBus, Message, Variant } = require(${JSON.stringify(DBUS_NEXT)});
const decode = (json) => JSON.parse(json, (k, v) => (v && typeof v === "object" && "$variant" in v ? new Variant(...v.$variant) : v));
`;

const CALLS_SCRIPT = `${DECODE}
const bus = systemBus();
(async () => {
  for (const m of decode(process.argv[1]))
    console.log(await bus.call(new Message(m)).then(() => "ok", (e) => \`\${e.type}: \${e.text}\`));
  bus.disconnect();
})();
`;

/**
 * Method calls to an agent as `user`, one after the other on one connection: for each, "ok" or
 * "error name: its text".
 */
export async function callsAs(user: string, messages: readonly MessageLike[]): Promise<string[]> {
  const r = await runAs(["-e", CALLS_SCRIPT, encode(messages)], { user });
  if (r.status !== 0) throw new Error(`the call script failed: ${r.stderr}`);
  return r.stdout.trimEnd().split("\n");
}

const LEAVE_SCRIPT = `${DECODE}
const BUS = { destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus" };
const connect = () => new Promise((resolve, reject) => {
  const b = systemBus();
  b.once("connect", () => resolve(b));
  b.once("error", reject);
});
(async () => {
  const caller = await connect();
  const watcher = await connect();
  caller.send(new Message(decode(process.argv[1])));
  // The bus handles one connection's messages in order: this answered, it has passed the call on.
  await caller.call(new Message({ ...BUS, member: "GetId" }));
  caller.disconnect();
  const gone = () => watcher.call(new Message({ ...BUS, member: "NameHasOwner", signature: "s", body: [caller.name] }));
  while ((await gone()).body[0]) await new Promise((r) => setTimeout(r, 10));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
`;

/**
 * Sends one method call as root from a connection that leaves the bus at once, and returns when
 * the bus has seen it leave. Synchronous: an agent in this process reads the call only after, so
 * the bus can no longer say who sent it.
 */
export function callAndLeaveSync(message: MessageLike): void {
  const r = spawnSync(HOST_NODE.path, ["-e", LEAVE_SCRIPT, encode(message)], {
    env: { ...DAEMON_ENV, LD_LIBRARY_PATH: HOST_NODE.env.LD_LIBRARY_PATH ?? "" },
    encoding: "utf8",
    timeout: 10_000,
  });
  if (r.status !== 0) throw new Error(`the leaving caller failed: ${r.error ?? r.stderr}`);
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
