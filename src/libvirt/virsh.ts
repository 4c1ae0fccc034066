// The same Libvirt interface through the virsh command: a process per call (30-40 ms each on
// the lab host) and `virsh ... --loop` processes for events. For hosts where the daemon's
// socket cannot be reached from the agent; LibvirtClient is the fast path.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import {
  type DomainRef,
  type DomainStateName,
  type Libvirt,
  type LifecycleEvent,
  LifecycleEventType,
  type QemuMonitorEvent,
  type Subscription,
} from "./api.js";
import { ErrorCode, LibvirtError, unlessAbsent } from "./errors.js";
import { parseQmpReply, qmpCommandJson } from "./qmp.js";
import { withParams } from "./uri.js";
import { readDomainConfig } from "./xml/domain.js";
import { parseXml } from "./xml/tree.js";

export interface VirshOptions {
  /** As in ClientOptions: added to the URI given to virsh, not shown. */
  params: ReadonlyMap<string, string>;
  binary: string;
  /** Time one virsh command may take, ms. */
  timeout: number;
  /** Delay before an event process that died is started again, ms. */
  restartDelay: number;
}

/** How long a new `virsh ... --loop` process takes to register its callback, ms (measured: ~100). */
const REGISTER_GRACE = 500;

const DEFAULTS: VirshOptions = {
  binary: "virsh",
  timeout: 60_000,
  restartDelay: 1_000,
  params: new Map(),
};

// virsh prints messages, not codes; these are the ones callers branch on.
const KNOWN_ERRORS: [RegExp, number][] = [
  [/Domain not found|failed to get domain/, ErrorCode.noDomain],
  [/metadata not found|Requested metadata element is not present/i, ErrorCode.noDomainMetadata],
  [/Requested operation is not valid/, ErrorCode.operationInvalid],
  [/failed to connect to the hypervisor|Failed to connect socket/, ErrorCode.noConnect],
];

function errorOf(stderr: string, what: string): LibvirtError {
  // virsh prints "error: failed to get domain 'x'" then libvirt's own message: keep the last.
  const lines = stderr.split("\n").filter((l) => l.startsWith("error: "));
  const message = (lines.at(-1) ?? stderr.trim()).replace(/^error: /, "") || `${what} failed`;
  const code = KNOWN_ERRORS.find(([re]) => re.test(stderr))?.[1];
  return new LibvirtError(code === ErrorCode.noConnect ? "connection" : "libvirt", message, code);
}

/** virsh domstate's words for virDomainState. */
const VIRSH_STATES: Record<string, DomainStateName> = {
  "no state": "nostate",
  running: "running",
  idle: "blocked",
  paused: "paused",
  "in shutdown": "shutdown",
  "shut off": "shutoff",
  crashed: "crashed",
  pmsuspended: "pmsuspended",
};

const EVENT_LINE = /^event (\S+) at (\d+)\.(\d+) for domain '(.*)': (.*)$/;
const LIFECYCLE_LINE = /^event 'lifecycle' for domain '(.*)': (\S+)/;

export class VirshLibvirt extends EventEmitter implements Libvirt {
  private readonly opts: VirshOptions;
  private readonly connectUri: string;
  private readonly children = new Set<ChildProcess>();
  private closed = false;

  constructor(
    readonly uri: string,
    options: Partial<VirshOptions> = {},
  ) {
    super();
    this.opts = { ...DEFAULTS, ...options };
    this.connectUri = withParams(uri, this.opts.params);
  }

  private run(args: string[], what: string): Promise<string> {
    if (this.closed) return Promise.reject(new LibvirtError("connection", `${what}: closed`));
    return new Promise((resolve, reject) => {
      execFile(
        this.opts.binary,
        ["-c", this.connectUri, "-q", ...args],
        { timeout: this.opts.timeout, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (!error) resolve(stdout);
          else if (error.killed)
            reject(new LibvirtError("timeout", `${what}: virsh took over ${this.opts.timeout} ms`));
          else reject(errorOf(stderr || error.message, what));
        },
      );
    });
  }

  private async lookup(key: string): Promise<DomainRef> {
    const out = await this.run(["dominfo", "--domain", key], `lookup of domain '${key}'`);
    const field = (name: string) =>
      out.match(new RegExp(`^${name}:\\s*(.*)$`, "m"))?.[1]?.trim() ?? "";
    const id = field("Id");
    return {
      name: field("Name"),
      uuid: field("UUID").toLowerCase(),
      id: id === "-" ? -1 : Number(id),
    };
  }

  lookupByName(name: string): Promise<DomainRef> {
    return this.lookup(name);
  }

  lookupByUuid(uuid: string): Promise<DomainRef> {
    return this.lookup(uuid);
  }

  domainXml(dom: DomainRef, flags = 0): Promise<string> {
    // virDomainXMLFlags: 1 secure, 2 inactive, 4 update-cpu, 8 migratable.
    const names: [number, string][] = [
      [1, "--security-info"],
      [2, "--inactive"],
      [4, "--update-cpu"],
      [8, "--migratable"],
    ];
    const extra = names.filter(([bit]) => flags & bit).map(([, opt]) => opt);
    return this.run(["dumpxml", "--domain", dom.uuid, ...extra], `XML of '${dom.name}'`);
  }

  async defineXml(xml: string): Promise<DomainRef> {
    // virsh -q does not say which domain it defined: the XML does.
    const { name } = readDomainConfig(parseXml(xml));
    const dir = await mkdtemp(join(tmpdir(), "colo-hybrid-define-"));
    try {
      const file = join(dir, "domain.xml");
      await writeFile(file, xml, { mode: 0o600 });
      await this.run(["define", "--file", file], `defining domain '${name}'`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return this.lookup(name);
  }

  async undefine(dom: DomainRef): Promise<void> {
    await this.run(["undefine", "--domain", dom.uuid], `undefining '${dom.name}'`);
  }

  async domainState(dom: DomainRef): Promise<{ state: DomainStateName; reason: number }> {
    const out = (
      await this.run(["domstate", "--domain", dom.uuid], `state of '${dom.name}'`)
    ).trim();
    // virsh prints states as words and reasons as text: report no reason code.
    return { state: VIRSH_STATES[out] ?? "nostate", reason: -1 };
  }

  async getMetadata(dom: DomainRef, uri: string, flags = 0): Promise<string | undefined> {
    const call = this.run(
      ["metadata", "--domain", dom.uuid, "--uri", uri, ...affect(flags)],
      `metadata of '${dom.name}'`,
    );
    return (await unlessAbsent(call, ErrorCode.noDomainMetadata))?.trimEnd();
  }

  async setMetadata(
    dom: DomainRef,
    uri: string,
    key: string,
    xml: string | undefined,
    flags = 0,
  ): Promise<void> {
    const change = xml === undefined ? ["--remove"] : ["--key", key, "--set", xml];
    await this.run(
      ["metadata", "--domain", dom.uuid, "--uri", uri, ...change, ...affect(flags)],
      `setting metadata of '${dom.name}'`,
    );
  }

  async suspend(dom: DomainRef): Promise<void> {
    await this.run(["suspend", "--domain", dom.uuid], `suspending '${dom.name}'`);
  }

  async resume(dom: DomainRef): Promise<void> {
    await this.run(["resume", "--domain", dom.uuid], `resuming '${dom.name}'`);
  }

  async qmp(dom: DomainRef, command: string, args?: Record<string, unknown>): Promise<unknown> {
    const out = await this.run(
      ["qemu-monitor-command", "--domain", dom.uuid, "--cmd", qmpCommandJson(command, args)],
      `QMP ${command} on '${dom.name}'`,
    );
    return parseQmpReply(command, out);
  }

  /** Keeps `virsh ARGS` running and hands each stdout line to `onLine`; restarts it if it dies. */
  private async follow(args: string[], onLine: (line: string) => void): Promise<Subscription> {
    let child: ChildProcess | undefined;
    let stopped = false;
    let down = false;
    const start = () => {
      if (stopped || this.closed) return;
      const c = spawn(this.opts.binary, ["-c", this.connectUri, ...args], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      child = c;
      this.children.add(c);
      let stderr = "";
      c.stderr?.on("data", (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4096);
      });
      if (down) {
        down = false;
        this.emit("reconnected");
      }
      createInterface({ input: c.stdout as NodeJS.ReadableStream }).on("line", onLine);
      c.once("exit", () => {
        this.children.delete(c);
        if (stopped || this.closed) return;
        down = true;
        this.emit("disconnected", errorOf(stderr || "virsh event process ended", "events"));
        setTimeout(start, this.opts.restartDelay).unref();
      });
    };
    start();
    // virsh says nothing once it has registered; give it time so early events are not lost.
    await new Promise((resolve) => setTimeout(resolve, REGISTER_GRACE));
    return {
      close: async () => {
        stopped = true;
        child?.kill();
      },
    };
  }

  async onQemuMonitorEvent(
    dom: DomainRef | undefined,
    event: string | undefined,
    handler: (e: QemuMonitorEvent) => void,
  ): Promise<Subscription> {
    const args = ["qemu-monitor-event", "--loop"];
    if (dom) args.push("--domain", dom.uuid);
    if (event) args.push("--event", event);
    return this.follow(args, (line) => {
      const e = parseQemuEventLine(line);
      if (e) handler(dom ? { ...e, domain: dom } : e);
    });
  }

  async onLifecycle(
    dom: DomainRef | undefined,
    handler: (e: LifecycleEvent) => void,
  ): Promise<Subscription> {
    const args = ["event", "--event", "lifecycle", "--loop"];
    if (dom) args.push("--domain", dom.uuid);
    return this.follow(args, (line) => {
      const m = LIFECYCLE_LINE.exec(line);
      if (!m) return;
      const type = (m[2] as string).toLowerCase() as LifecycleEvent["type"];
      handler({
        domain: dom ?? { name: m[1] as string, uuid: "", id: -1 },
        type: LifecycleEventType.includes(type as never) ? type : "unknown",
        detail: -1,
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.children) c.kill();
    this.children.clear();
  }
}

/** One line of `virsh qemu-monitor-event --loop` (without --timestamp: QEMU's own stamp). */
export function parseQemuEventLine(line: string): QemuMonitorEvent | undefined {
  const m = EVENT_LINE.exec(line);
  if (!m) return undefined;
  const [, event, secs, frac, domain, details] = m as unknown as string[];
  const seconds = Number(secs);
  const micros = Number((frac as string).padEnd(6, "0").slice(0, 6));
  return {
    domain: { name: domain as string, uuid: "", id: -1 },
    event: event as string,
    seconds,
    micros,
    timestamp: seconds * 1000 + micros / 1000,
    details: details === "<null>" ? undefined : JSON.parse(details as string),
  };
}

function affect(flags: number): string[] {
  const out: string[] = [];
  if (flags & 1) out.push("--live");
  if (flags & 2) out.push("--config");
  return out;
}
