// The hook as `make install-hook` installs it, for the tests and the benchmark. LIBDIR is a
// temporary directory holding a copy of the hook bundle beside a stand-in agent
// (stand-in-agent.mjs as colo-hybrid.mjs): the supervisor runs the stand-in exactly as it runs
// the real agent in a package, and no environment variable reaches into the product for it
// (libvirtd would not pass one to its hooks anyway).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { logFile, pidFile, RUN_DIR } from "../../src/hook/paths.js";
import { HOST_NODE, type NodeBinary } from "../support/cli.js";
import { commandLine, isAlive } from "../support/processes.js";
import { GiveUp, waitUntil } from "../support/wait.js";

export const HOOK_BUNDLE = "dist/colo-hybrid-hook.mjs";
const STAND_IN = "test/hook/stand-in-agent.mjs";

export interface HookRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** A line of the stand-in's events.log. */
export interface AgentEvent {
  event: "start" | "sigterm";
  pid: number;
  /** The --uuid it was given. */
  instance: string;
  argv: string[];
}

export interface InstallOptions {
  /** Default: a directory of its own under the temporary LIBDIR. */
  hookDir?: string;
  /** The node the hook runs its bundle with (default: this one). */
  node?: NodeBinary;
}

const hex = (uuid: string) => uuid.replaceAll("-", "");

export class InstalledHook {
  private constructor(
    /** The hook script. */
    readonly path: string,
    readonly libDir: string,
    private readonly node: NodeBinary,
  ) {}

  static install(opts: InstallOptions = {}): InstalledHook {
    const libDir = mkdtempSync(join(tmpdir(), "colo-hybrid-hook-"));
    const hookDir = opts.hookDir ?? join(libDir, "qemu.d");
    const given = opts.node ?? HOST_NODE;
    // The supervisor runs in /: paths in the environment must not be relative to here.
    const libraries = given.env.LD_LIBRARY_PATH;
    const node: NodeBinary = {
      path: resolve(given.path),
      env:
        libraries === undefined ? given.env : { ...given.env, LD_LIBRARY_PATH: resolve(libraries) },
    };
    copyFileSync(HOOK_BUNDLE, join(libDir, "colo-hybrid-hook.mjs"));
    copyFileSync(STAND_IN, join(libDir, "colo-hybrid.mjs"));
    execFileSync("make", [
      "--no-print-directory",
      "--silent",
      "install-hook",
      `HOOKDIR=${hookDir}`,
      `LIBDIR=${libDir}`,
      `NODE=${node.path}`,
    ]);
    return new InstalledHook(join(hookDir, "colo-hybrid"), libDir, node);
  }

  /**
   * Runs the hook as libvirt does: HOOK NAME OPERATION SUB-OPERATION -, the XML on stdin. A hook
   * may exit without reading it (EPIPE), which libvirt takes as fine too.
   */
  run(name: string, operation: string, subOperation: string, xml: string): HookRun {
    const r = spawnSync(this.path, [name, operation, subOperation, "-"], {
      input: xml,
      encoding: "utf8",
      env: this.node.env,
      timeout: 30_000,
    });
    if (r.error && (r.error as NodeJS.ErrnoException).code !== "EPIPE") throw r.error;
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** run(), without blocking: for hooks running at the same time. */
  runAsync(name: string, operation: string, subOperation: string, xml: string): Promise<HookRun> {
    return new Promise((done, fail) => {
      const child = spawn(this.path, [name, operation, subOperation, "-"], { env: this.node.env });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => {
        stdout += d;
      });
      child.stderr.on("data", (d) => {
        stderr += d;
      });
      child.on("error", fail);
      child.stdin.on("error", () => undefined); // EPIPE, as in run()
      child.on("close", (status) => done({ status, stdout, stderr }));
      child.stdin.end(xml);
    });
  }

  /** What the stand-in agents of this domain recorded, oldest first. */
  agentEvents(uuid: string): AgentEvent[] {
    const file = join(this.libDir, "events.log");
    if (!existsSync(file)) return [];
    return readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as AgentEvent)
      .filter((e) => e.instance === hex(uuid));
  }

  /** Live stand-in agents of this domain. */
  liveAgents(uuid: string): number[] {
    return this.agentEvents(uuid)
      .filter((e) => e.event === "start" && isAlive(e.pid))
      .map((e) => e.pid);
  }

  /** Waits until the domain has exactly one live agent, started `starts` times in all. */
  async agentRuns(uuid: string, starts = 1): Promise<number> {
    await waitUntil(
      `agent start ${starts} of ${uuid} running`,
      () => {
        const started = this.agentEvents(uuid).filter((e) => e.event === "start").length;
        if (started > starts) throw new GiveUp(`it was started ${started} times`);
        return started === starts && this.liveAgents(uuid).length === 1;
      },
      15_000,
      50,
    );
    return this.liveAgents(uuid)[0] as number;
  }

  /** The stand-in of this domain takes its time on SIGTERM until `release` is called. */
  hold(uuid: string): () => void {
    const file = join(this.libDir, `hold-${hex(uuid)}`);
    writeFileSync(file, "");
    return () => rmSync(file, { force: true });
  }

  /** Processes running a script of LIBDIR: supervisors and agents. */
  processes(): { pid: number; argv: string[] }[] {
    const found: { pid: number; argv: string[] }[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const argv = commandLine(Number(entry));
      if (argv?.[1]?.startsWith(`${this.libDir}/`)) found.push({ pid: Number(entry), argv });
    }
    return found;
  }

  /** Live supervisors of this domain, found by their command line (not by the pid file). */
  supervisors(uuid: string): number[] {
    return this.processes()
      .filter((p) => p.argv.slice(2).join(" ") === `supervise --uuid ${uuid}`)
      .map((p) => p.pid);
  }

  /**
   * Stops whatever still runs from LIBDIR (supervisors by SIGTERM, then anything left by
   * SIGKILL), removes LIBDIR and the hook script, and the files of `uuids` in /run and /var/log.
   */
  async remove(uuids: readonly string[]): Promise<void> {
    rmSync(this.path, { force: true });
    for (const name of readdirSync(this.libDir)) {
      if (name.startsWith("hold-")) rmSync(join(this.libDir, name));
    }
    const running = () => this.processes();
    for (const p of running()) if (p.argv[2] === "supervise") process.kill(p.pid, "SIGTERM");
    try {
      await waitUntil(
        "supervisors from the test LIBDIR to stop",
        () => running().length === 0,
        10_000,
      );
    } finally {
      for (const p of running()) process.kill(p.pid, "SIGKILL");
    }
    rmSync(this.libDir, { recursive: true, force: true });
    for (const uuid of uuids) {
      rmSync(pidFile(uuid), { force: true });
      rmSync(logFile(uuid), { force: true });
      for (const name of existsSync(RUN_DIR) ? readdirSync(RUN_DIR) : []) {
        if (name.startsWith(uuid)) rmSync(join(RUN_DIR, name), { force: true });
      }
    }
  }
}
