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
  type BlockInfo,
  type DomainRef,
  type DomainStateName,
  type Libvirt,
  type LifecycleEvent,
  LifecycleEventType,
  type PoolInfo,
  type PoolRef,
  PoolState,
  type QemuMonitorEvent,
  type Subscription,
  type VolumeRef,
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
  // Before volumes: a volume named by a missing pool is "not found" for its pool.
  [/Storage pool not found|failed to get pool/, ErrorCode.noStoragePool],
  [/Storage volume not found|failed to get vol/, ErrorCode.noStorageVolume],
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

/** The value of a "Name:   value" line of virsh's info commands; "" when it has none. */
function infoField(out: string, name: string): string {
  return out.match(new RegExp(`^${name}:\\s*(.*)$`, "m"))?.[1]?.trim() ?? "";
}

/** A size from an info command (bytes: pool-info --bytes, domblkinfo without --human). */
function bytesField(out: string, name: string, what: string): number {
  // Absent is 0: pool-info prints no sizes for a pool that is not running, where libvirt says 0.
  const value = infoField(out, name);
  if (!/^\d*$/.test(value)) {
    throw new LibvirtError("protocol", `${what}: virsh printed ${name} '${value}', not bytes`);
  }
  return Number(value);
}

/** The <name> of a pool's or volume's XML: virsh -q does not say what it defined or made. */
function nameIn(xml: string, root: "pool" | "volume"): string {
  const el = parseXml(xml);
  const name =
    el.name === root && el.ns === ""
      ? el.children.find((c) => c.ns === "" && c.name === "name")?.text.trim()
      : undefined;
  if (!name) {
    throw new LibvirtError("usage", `not a libvirt <${root}> with a <name>`, ErrorCode.invalidArg);
  }
  return name;
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

  /** Runs `virsh ARGS` with `--file` naming a private temporary file holding `xml`. */
  private async withXmlFile(xml: string, args: string[], what: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "colo-hybrid-define-"));
    try {
      const file = join(dir, "object.xml");
      await writeFile(file, xml, { mode: 0o600 });
      return await this.run([...args, "--file", file], what);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async lookup(key: string): Promise<DomainRef> {
    const out = await this.run(["dominfo", "--domain", key], `lookup of domain '${key}'`);
    const field = (name: string) => infoField(out, name);
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
    await this.withXmlFile(xml, ["define"], `defining domain '${name}'`);
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

  async create(dom: DomainRef, opts: { paused?: boolean } = {}): Promise<void> {
    const paused = opts.paused ? ["--paused"] : [];
    await this.run(["start", "--domain", dom.uuid, ...paused], `starting '${dom.name}'`);
  }

  async destroy(dom: DomainRef): Promise<void> {
    await this.run(["destroy", "--domain", dom.uuid], `destroying '${dom.name}'`);
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

  async domainBlockInfo(dom: DomainRef, disk: string): Promise<BlockInfo> {
    const what = `block info of '${disk}' of '${dom.name}'`;
    const out = await this.run(["domblkinfo", "--domain", dom.uuid, "--device", disk], what);
    return {
      capacity: bytesField(out, "Capacity", what),
      allocation: bytesField(out, "Allocation", what),
      physical: bytesField(out, "Physical", what),
    };
  }

  capabilities(): Promise<string> {
    return this.run(["capabilities"], "host capabilities");
  }

  async freeMemory(): Promise<number> {
    const what = "free memory of the host";
    // Without --all or --cellno, freecell prints virNodeGetFreeMemory's bytes / 1024, rounded
    // down: "Total: 123 KiB" (the label is translated, so only its shape is matched).
    const out = await this.run(["freecell"], what);
    const kib = out.match(/^[^:\n]+:\s*(\d+) KiB\s*$/m)?.[1];
    if (kib === undefined) {
      throw new LibvirtError("protocol", `${what}: virsh freecell printed '${out.trim()}'`);
    }
    return Number(kib) * 1024;
  }

  // Pools are named by UUID, as domains are; volumes by their pool's name and their own.

  async poolLookupByName(name: string): Promise<PoolRef> {
    const out = await this.run(["pool-uuid", "--pool", name], `lookup of pool '${name}'`);
    return { name, uuid: out.trim().toLowerCase() };
  }

  async poolDefineXml(xml: string): Promise<PoolRef> {
    const name = nameIn(xml, "pool");
    await this.withXmlFile(xml, ["pool-define"], `defining pool '${name}'`);
    return this.poolLookupByName(name);
  }

  async poolBuild(pool: PoolRef): Promise<void> {
    await this.run(["pool-build", "--pool", pool.uuid], `building pool '${pool.name}'`);
  }

  async poolCreate(pool: PoolRef): Promise<void> {
    await this.run(["pool-start", "--pool", pool.uuid], `starting pool '${pool.name}'`);
  }

  async poolSetAutostart(pool: PoolRef, autostart: boolean): Promise<void> {
    await this.run(
      ["pool-autostart", "--pool", pool.uuid, ...(autostart ? [] : ["--disable"])],
      `setting autostart of pool '${pool.name}'`,
    );
  }

  async poolRefresh(pool: PoolRef): Promise<void> {
    await this.run(["pool-refresh", "--pool", pool.uuid], `refreshing pool '${pool.name}'`);
  }

  async poolInfo(pool: PoolRef): Promise<PoolInfo> {
    const what = `info of pool '${pool.name}'`;
    const out = await this.run(["pool-info", "--pool", pool.uuid, "--bytes"], what);
    const state = infoField(out, "State");
    return {
      state: PoolState.find((s) => s === state) ?? "unknown",
      capacity: bytesField(out, "Capacity", what),
      allocation: bytesField(out, "Allocation", what),
      available: bytesField(out, "Available", what),
    };
  }

  async volCreateXml(pool: PoolRef, xml: string): Promise<VolumeRef> {
    const name = nameIn(xml, "volume");
    const what = `creating volume '${name}' in pool '${pool.name}'`;
    await this.withXmlFile(xml, ["vol-create", "--pool", pool.uuid], what);
    const key = await this.run(["vol-key", "--pool", pool.uuid, "--vol", name], what);
    return { pool: pool.name, name, key: key.trim() };
  }

  async volLookupByPath(path: string): Promise<VolumeRef> {
    const what = `lookup of volume ${path}`;
    const get = async (command: string) => (await this.run([command, "--vol", path], what)).trim();
    const [pool, name, key] = await Promise.all([get("vol-pool"), get("vol-name"), get("vol-key")]);
    return { pool, name, key };
  }

  async volPath(vol: VolumeRef): Promise<string> {
    const out = await this.run(
      ["vol-path", "--pool", vol.pool, "--vol", vol.name],
      `path of volume '${vol.name}' in pool '${vol.pool}'`,
    );
    return out.trim();
  }

  async volDelete(vol: VolumeRef): Promise<void> {
    await this.run(
      ["vol-delete", "--pool", vol.pool, "--vol", vol.name],
      `deleting volume '${vol.name}' in pool '${vol.pool}'`,
    );
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
