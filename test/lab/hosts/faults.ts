// Network faults on the lab hosts, for fault drills: loss, partitions, added delay, and a
// libvirtd cut off from the other hosts while its QEMUs run. This kernel has no netem, so each is
// made of what it has: iptables rules in the host's own netns (never this machine's), the host's
// leg on the LAN bridge taken down, and a small NFQUEUE delayer of the lab's own. Each fault is
// recorded in the lab's state before it is made (state.ts): its undo, or stopLabHosts, removes it
// also after a failed test or from another process.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DAEMON_ENV, run } from "../../support/exec.js";
import { commandLine, isAlive, waitGone } from "../../support/processes.js";
import { TLS_PORT } from "./host.js";
import { hostLayout, LAN_NETNS, MAX_HOSTS } from "./layout.js";
import { netnsExists } from "./network.js";
import { type FaultRecord, readState, record } from "./state.js";

/** An installed fault. undo removes it; again is a no-op. */
export interface Fault {
  undo(): Promise<void>;
}

/** A lab host, as startLabHosts returns it (its name is enough). */
export interface FaultTarget {
  name: string;
}

/** The host's interface on the LAN (network.ts names it eth0). */
const LAN_IF = "eth0";
/** Every fault's rules carry this comment with the fault's id. */
const COMMENT = "colo-lab-fault";
/** The NFQUEUE the delayer reads, in the host's netns (one delayer per host). */
const QUEUE = "0";

function hostIndex(host: FaultTarget): number {
  for (let i = 0; i < MAX_HOSTS; i++) if (hostLayout(i).name === host.name) return i;
  throw new Error(`${host.name} is not a lab host`);
}

const inNetns = (netns: string, cmd: string, args: readonly string[]) =>
  run("nsenter", [`--net=/run/netns/${netns}`, "--", cmd, ...args]);

const ruleExists = (netns: string, rule: readonly string[]) =>
  inNetns(netns, "iptables", ["-C", ...rule]).then(
    () => true,
    () => false,
  );

async function setLanPort(host: number, state: "up" | "down"): Promise<void> {
  await run("ip", ["-n", LAN_NETNS, "link", "set", hostLayout(host).lanPort, state]);
}

function remember(f: FaultRecord): void {
  const state = readState();
  if (state === undefined) throw new Error("no lab runs (startLabHosts first)");
  record(state, { faults: [...state.faults, f] });
}

function forget(id: string): void {
  const state = readState();
  if (state !== undefined) record(state, { faults: state.faults.filter((f) => f.id !== id) });
}

/** Removes what `f` installed, whatever of it is still there, then its record. */
async function undoRecord(f: FaultRecord): Promise<void> {
  const h = hostLayout(f.host);
  // A host that is gone took its rules, its link and its processes with it.
  if (netnsExists(h.netns)) {
    for (const rule of f.rules) {
      if (await ruleExists(h.netns, rule)) await inNetns(h.netns, "iptables", ["-D", ...rule]);
    }
    if (f.linkDown && netnsExists(LAN_NETNS)) await setLanPort(f.host, "up");
  }
  // Ended after its rule is gone: it lets what it still holds through as it exits.
  if (f.pid !== undefined && commandLine(f.pid)?.[2] === DELAYER) {
    process.kill(f.pid, "SIGTERM");
    await waitGone(f.pid, `the delayer on ${h.name}`, 5_000);
  }
  forget(f.id);
}

/** Records `f`, then installs its rules in the host's netns; returns its undo. */
async function install(f: FaultRecord, before?: () => Promise<void>): Promise<Fault> {
  remember(f);
  let undone: Promise<void> | undefined;
  const fault = { undo: () => (undone ??= undoRecord(f)) };
  try {
    await before?.();
    for (const rule of f.rules) {
      const [chain, ...spec] = rule;
      await inNetns(hostLayout(f.host).netns, "iptables", ["-I", chain as string, ...spec]);
    }
  } catch (e) {
    await fault.undo();
    throw e;
  }
  return fault;
}

/** A fault's record with its rules (chain first), each tagged with the fault's id. */
const newRecord = (host: FaultTarget, rules: () => string[][]): FaultRecord => {
  const id = randomUUID().slice(0, 8);
  const tag = ["-m", "comment", "--comment", `${COMMENT}:${id}`];
  const tagged = rules().map(([chain, ...spec]) => [chain as string, ...tag, ...spec]);
  return { id, host: hostIndex(host), rules: tagged };
};

/**
 * Drops a share `probability` (0 < p ≤ 1) of the host's LAN packets, each direction on its own
 * (a round trip is lost with 1-(1-p)²). In the host's netns: the bridge forwards without
 * iptables, and this machine's rules are not touched. TCP retransmits what is lost.
 */
export function loss(host: FaultTarget, probability: number): Promise<Fault> {
  if (!(probability > 0 && probability <= 1))
    throw new Error(`a loss probability is in (0, 1], not ${probability}`);
  const drop = ["-m", "statistic", "--mode", "random", "--probability", `${probability}`];
  const f = newRecord(host, () => [
    ["INPUT", "-i", LAN_IF, ...drop, "-j", "DROP"],
    ["OUTPUT", "-o", LAN_IF, ...drop, "-j", "DROP"],
  ]);
  return install(f);
}

export interface Partition extends Fault {
  /** When `seconds` were given: settles once the link is back up. */
  healed?: Promise<void>;
}

/**
 * Takes the host's leg on the LAN bridge down: the host sees its link lose carrier (a pulled
 * cable, a dead switch port), keeps its address and routes, and reaches no one; nor does anyone
 * reach it, this machine included. After `seconds`, when given, it comes back up.
 */
export async function partition(host: FaultTarget, seconds?: number): Promise<Partition> {
  const f: FaultRecord = { ...newRecord(host, () => []), linkDown: true };
  const fault = await install(f, () => setLanPort(f.host, "down"));
  if (seconds === undefined) return fault;
  const healed = new Promise<void>((resolve, reject) => {
    setTimeout(() => fault.undo().then(resolve, reject), seconds * 1000);
  });
  return { undo: fault.undo, healed };
}

/** Ends every partition of the host: its link is up again. */
export async function heal(host: FaultTarget): Promise<void> {
  const i = hostIndex(host);
  for (const f of readState()?.faults ?? []) {
    if (f.host === i && f.linkDown) await undoRecord(f);
  }
  await setLanPort(i, "up");
}

/**
 * The host's libvirtd out of the other hosts' (and this machine's) reach while it and its QEMUs
 * run: TCP to its TLS and ssh ports is dropped on its LAN interface, so that a client's connect
 * hangs as to a host that is down. On the host, libvirtd answers as before (its UNIX socket),
 * and so does every other port (COLO's, NBD, migration).
 */
export function libvirtdUnreachable(host: FaultTarget): Promise<Fault> {
  const ports = `${TLS_PORT},22`;
  const f = newRecord(host, () => [
    ["INPUT", "-i", LAN_IF, "-p", "tcp", "-m", "multiport", "--dports", ports, "-j", "DROP"],
  ]);
  return install(f);
}

/**
 * The delayer (python3 -c, argv: queue, ms): binds an NFQUEUE and accepts each packet `ms`
 * after it came, in order (a batch verdict releases every packet up to an id). Python because
 * its standard library speaks netlink, which node cannot. On SIGTERM it lets what it holds
 * through and exits. It says "ready" once bound.
 */
const DELAYER = `
import collections, select, signal, socket, struct, sys, time
queue, delay = int(sys.argv[1]), float(sys.argv[2]) / 1000
QUEUE_MSG = 3 << 8  # NFNL_SUBSYS_QUEUE
PACKET, CONFIG, VERDICT_BATCH = 0, 2, 3
REQUEST, ACK = 1, 4
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE: no message lost in a burst
s.bind((0, 0))

def attr(kind, data):
    n = 4 + len(data)
    return struct.pack("=HH", n, kind) + data + bytes(-n % 4)

def send(msg, attrs, flags=REQUEST):
    body = struct.pack("!BBH", 0, 0, queue) + b"".join(attrs)
    s.send(struct.pack("=IHHII", 16 + len(body), QUEUE_MSG | msg, flags, 0, 0) + body)

def configure(*attrs):
    send(CONFIG, attrs, REQUEST | ACK)
    reply = s.recv(65536)
    if struct.unpack_from("=H", reply, 4)[0] == 2:  # NLMSG_ERROR
        error = struct.unpack_from("=i", reply, 16)[0]
        if error:
            sys.exit(f"NFQUEUE {queue}: config failed, errno {-error}")

configure(attr(1, struct.pack("!BxH", 1, 0)))  # bind the queue
configure(attr(2, struct.pack("!IB", 0, 1)), attr(3, struct.pack("!I", 65536)))  # ids only

held = collections.deque()
def release(upto):
    last = None
    while held and held[0][0] <= upto:
        last = held.popleft()[1]
    if last is not None:
        send(VERDICT_BATCH, [attr(2, struct.pack("!II", 1, last))])  # NF_ACCEPT up to last

def stop(*_):
    release(float("inf"))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    wait = max(0, held[0][0] - time.monotonic()) if held else None
    if select.select([s], [], [], wait)[0]:
        try:
            data = s.recv(1 << 20)
        except OSError:  # ENOBUFS: messages lost; a later batch verdict releases their packets
            data = b""
        due = time.monotonic() + delay
        at = 0
        while at + 16 <= len(data):
            n, kind = struct.unpack_from("=IH", data, at)
            if kind == QUEUE_MSG | PACKET:
                a = at + 20
                while a + 4 <= at + n:
                    alen, atype = struct.unpack_from("=HH", data, a)
                    if atype & 0x7FFF == 1:  # NFQA_PACKET_HDR: the packet's id first
                        held.append((due, struct.unpack_from("!I", data, a + 4)[0]))
                    a += (alen + 3) & ~3
            at += (n + 3) & ~3
    release(time.monotonic())
`;

/** Starts the delayer in the host's netns and waits until it has bound the queue. */
async function startDelayer(host: number, ms: number): Promise<number> {
  const h = hostLayout(host);
  const log = join(h.dir, "delayer.out");
  const fd = openSync(log, "a");
  try {
    // nsenter execs python3: the child's pid is the delayer's. Detached, with no stdio of the
    // caller's, it holds no pipe a test runner waits on; stop ends it with its host.
    const child = spawn(
      "nsenter",
      [`--net=/run/netns/${h.netns}`, "--", "python3", "-c", DELAYER, QUEUE, `${ms}`],
      { env: DAEMON_ENV, stdio: ["ignore", "pipe", fd], detached: true },
    );
    child.unref();
    const ready = await new Promise<boolean>((resolve) => {
      child.stdout?.once("data", (b: Buffer) => resolve(b.toString().startsWith("ready")));
      child.once("error", () => resolve(false));
      child.once("exit", () => resolve(false));
    });
    child.stdout?.destroy();
    const pid = child.pid;
    if (!ready || pid === undefined || !isAlive(pid))
      throw new Error(`the delayer on ${h.name} failed: ${readFileSync(log, "utf8").trim()}`);
    return pid;
  } finally {
    closeSync(fd);
  }
}

/**
 * Holds every packet the host receives on the LAN for `ms` before it is delivered (in order):
 * each round trip between it and another host, or this machine, takes `ms` longer, on every
 * connection (COLO's mirror and compare, NBD, migration, libvirt, ssh), with no change to the
 * pair's configuration. A delay on both hosts adds up.
 * Received, not sent: a packet held on its way out still counts against its TCP socket's small
 * queue (TSQ: about two packets at a low pacing rate), which throttled a bulk sender to two
 * packets per delay (230 kbit/s at 100 ms); one held on its way in was already handed over.
 * The rule bypasses the queue while no delayer is bound, so a delayer that died means no
 * delay, not a partition. One delay per host at a time.
 */
export async function delay(host: FaultTarget, ms: number): Promise<Fault> {
  if (!(Number.isInteger(ms) && ms > 0)) throw new Error(`a delay is whole ms > 0, not ${ms}`);
  const f = newRecord(host, () => [
    ["INPUT", "-i", LAN_IF, "-j", "NFQUEUE", "--queue-num", QUEUE, "--queue-bypass"],
  ]);
  if (readState()?.faults.some((o) => o.host === f.host && o.pid !== undefined))
    throw new Error(`${host.name} has a delay already`);
  return install(f, async () => {
    f.pid = await startDelayer(f.host, ms);
    // Recorded again with its pid, so that an undo from anywhere ends it.
    forget(f.id);
    remember(f);
  });
}

/** Removes every fault the lab's state records (stopLabHosts does, first). */
export async function undoAllFaults(): Promise<void> {
  for (const f of readState()?.faults ?? []) await undoRecord(f);
}
