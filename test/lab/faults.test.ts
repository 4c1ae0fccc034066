// The lab's network faults (test/lab/hosts/faults.ts) on plain traffic between two lab hosts:
// a server on B (UDP and TCP echo), clients on A. Loss drops about the share asked in each
// direction, a delay adds at least what was asked to every round trip, a partition stops
// everything until it heals (on its own after its seconds, or by heal), and an unreachable
// libvirtd is out of reach while the rest of B runs. After each undo the link is clean, and
// stopping the lab leaves no rule, delayer or namespace behind.
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DAEMON_ENV, run } from "../support/exec.js";
import { isAlive } from "../support/processes.js";
import { acceptsConnection } from "../support/sockets.js";
import { waitUntil } from "../support/wait.js";
import { delay, heal, libvirtdUnreachable, loss, partition } from "./hosts/faults.js";
import { processesIn } from "./hosts/host.js";
import { type LabHost, type LabHosts, startLabHosts, stopLabHosts } from "./hosts/hosts.js";
import { hostLayout, LAN_NETNS } from "./hosts/layout.js";
import { readState } from "./hosts/state.js";

const ECHO = 7000;

/** On B (node -e): TCP echo, and UDP echo counting what each session's datagrams it got. */
const SERVER = `
const dgram = require("node:dgram"), net = require("node:net");
net.createServer((c) => { c.pipe(c); c.on("error", () => c.destroy()); }).listen(${ECHO});
const udp = dgram.createSocket({ type: "udp4", recvBufferSize: 4 << 20 });
const got = new Map();
udp.on("message", (m, from) => {
  const [session, seq] = m.toString().split(" ");
  if (session === "?") return udp.send("! " + (got.get(seq) ?? 0), from.port, from.address);
  got.set(session, (got.get(session) ?? 0) + 1);
  udp.send(m, from.port, from.address);
});
udp.bind(${ECHO});
`;

/**
 * On A (node -e MODE ...), printing JSON:
 * udp HOST N: N datagrams, paced; {sent, received (by B), echoed (back here)};
 * rtt HOST N: N one-byte TCP round trips on one connection, ms each;
 * connect HOST PORT MS: {ok, ms, error} of one connection attempt;
 * reconnect HOST MS: attempts every 200 ms until one succeeds: {failures, at (epoch ms)};
 * bulk HOST MIB: MIB MiB through the TCP echo and back: {bytes} echoed.
 */
const CLIENT = `
const dgram = require("node:dgram"), net = require("node:net");
const [mode, host, ...rest] = process.argv.slice(1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = (v) => console.log(JSON.stringify(v));
function connect(port, ms) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    const done = (error) => { s.destroy(); resolve({ ok: !error, ms: performance.now() - t0, error }); };
    s.setTimeout(ms, () => done("timeout"));
    s.once("connect", () => done(undefined));
    s.once("error", (e) => done(e.code));
  });
}
async function udp(n) {
  const session = Math.random().toString(36).slice(2);
  const u = dgram.createSocket({ type: "udp4", recvBufferSize: 4 << 20 });
  let echoed = 0, received;
  u.on("message", (m) => {
    const [tag, count] = m.toString().split(" ");
    if (tag === "!") received = Number(count);
    else echoed++;
  });
  await new Promise((r) => u.bind(0, r));
  // Bursts of 50 a millisecond apart: no socket buffer on the way overflows.
  for (let i = 0; i < n; i += 50) {
    for (let j = i; j < Math.min(n, i + 50); j++) u.send(session + " " + j, ${ECHO}, host);
    await sleep(1);
  }
  await sleep(500);
  // The count may be lost too: asked until it comes.
  for (let i = 0; received === undefined && i < 100; i++) {
    u.send("? " + session, ${ECHO}, host);
    await sleep(100);
  }
  u.close();
  return { sent: n, received, echoed };
}
async function rtt(n) {
  const s = net.connect(${ECHO}, host);
  s.setNoDelay(true);
  await new Promise((r, j) => { s.once("connect", r); s.once("error", j); });
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise((r) => { s.once("data", r); s.write("x"); });
    times.push(performance.now() - t0);
  }
  s.destroy();
  return times;
}
async function reconnect(ms) {
  let failures = 0;
  while (!(await connect(${ECHO}, ms)).ok) { failures++; await sleep(200); }
  return { failures, at: Date.now() };
}
async function bulk(mib) {
  const s = net.connect(${ECHO}, host);
  await new Promise((r, j) => { s.once("connect", r); s.once("error", j); });
  let bytes = 0;
  const back = new Promise((r) => s.on("data", (d) => { bytes += d.length; if (bytes >= mib << 20) r(); }));
  for (let i = 0; i < mib; i++) if (!s.write(Buffer.alloc(1 << 20))) await new Promise((r) => s.once("drain", r));
  await back;
  s.destroy();
  return { bytes };
}
const modes = {
  bulk: () => bulk(Number(rest[0])),
  udp: () => udp(Number(rest[0])),
  rtt: () => rtt(Number(rest[0])),
  connect: () => connect(Number(rest[0]), Number(rest[1])),
  reconnect: () => reconnect(Number(rest[0])),
};
modes[mode]().then(out, (e) => { console.error(e); process.exit(1); });
`;

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;

describe("lab network faults", () => {
  let lab: LabHosts;
  let a: LabHost;
  let b: LabHost;
  let server: ChildProcess;
  let baselineRtt: number;

  /** Runs a CLIENT mode on A against B. */
  async function client<T>(mode: string, ...args: (string | number)[]): Promise<T> {
    const argv = ["-e", CLIENT, mode, b.address, ...args.map(String)];
    const { stdout } = await a.run(process.execPath, argv, { timeoutMs: 60_000 });
    return JSON.parse(stdout) as T;
  }

  const udp = (n: number) => client<{ sent: number; received: number; echoed: number }>("udp", n);
  const rtt = async (n: number) => median(await client<number[]>("rtt", n));
  const bulk = (mib: number) => client<{ bytes: number }>("bulk", mib);
  const connect = (port: number, ms: number) =>
    client<{ ok: boolean; ms: number; error?: string }>("connect", port, ms);

  /** Nothing of a fault is left: no rule, no record, no loss, no delay. */
  async function expectClean(): Promise<void> {
    for (const h of lab.hosts) {
      const rules = await h.run("iptables-save", []);
      expect(rules.stdout).not.toContain("colo-lab-fault");
      expect(rules.stdout).not.toContain("NFQUEUE");
    }
    expect(readState()?.faults).toEqual([]);
    expect(await udp(2_000)).toEqual({ sent: 2_000, received: 2_000, echoed: 2_000 });
    expect(await rtt(10)).toBeLessThan(baselineRtt + 20);
  }

  beforeAll(async () => {
    lab = await startLabHosts({ count: 2 });
    [a, b] = lab.hosts as [LabHost, LabHost];
    // In B's netns only: a process of B's that outlives the faults; stop ends it with B.
    server = spawn(
      "nsenter",
      [`--net=/run/netns/${hostLayout(1).netns}`, "--", process.execPath, "-e", SERVER],
      { env: DAEMON_ENV, stdio: "ignore" },
    );
    await waitUntil(
      "the echo server on B",
      () => acceptsConnection({ host: b.address, port: ECHO }),
      10_000,
    );
    baselineRtt = await rtt(20);
  }, 120_000);

  afterAll(async () => {
    server?.kill();
    await stopLabHosts();
  }, 60_000);

  it("starts clean: nothing lost, round trips fast", async () => {
    expect(await udp(20_000)).toEqual({ sent: 20_000, received: 20_000, echoed: 20_000 });
    console.log(`faults: baseline TCP round trip ${baselineRtt.toFixed(2)} ms`);
    await expectClean();
  });

  // 20 000 datagrams: the share lost each way is within ±50% of 1% (±7 sd) and ±25% of 10%
  // (±12 sd) in all but about one run in 10^11.
  it.each([
    [0.01, 0.5],
    [0.1, 0.25],
  ])("loss %s drops about that share each way", async (p, tolerance) => {
    const fault = await loss(a, p);
    const r = await udp(20_000);
    await fault.undo();
    const out = 1 - r.received / r.sent;
    const back = 1 - r.echoed / r.received;
    console.log(
      `faults: loss ${p}: A→B ${(out * 100).toFixed(2)}%, B→A ${(back * 100).toFixed(2)}%`,
    );
    for (const seen of [out, back]) {
      expect(seen).toBeGreaterThan(p * (1 - tolerance));
      expect(seen).toBeLessThan(p * (1 + tolerance));
    }
    await expectClean();
  });

  it("delay adds at least its ms to every round trip, in order, and bulk transfers go through", async () => {
    const fault = await delay(a, 100);
    const delayer = readState()?.faults[0]?.pid as number;
    try {
      const delayed = await rtt(20);
      // Every datagram still arrives, and in order is TCP's round trips answering at all.
      expect(await udp(2_000)).toEqual({ sent: 2_000, received: 2_000, echoed: 2_000 });
      console.log(`faults: delay 100: round trip ${delayed.toFixed(1)} ms`);
      expect(delayed - baselineRtt).toBeGreaterThanOrEqual(90);
      // A migration's or an NBD copy's kind of traffic, both ways (held on its way out, TSQ
      // throttled this to two packets per delay).
      expect(await bulk(4)).toEqual({ bytes: 4 << 20 });
      await expect(delay(a, 50)).rejects.toThrow(/has a delay already/);
    } finally {
      await fault.undo();
    }
    expect(isAlive(delayer)).toBe(false);
    await expectClean();
  });

  it("a partition stops everything until heal", async () => {
    const fault = await partition(a);
    const down = await connect(ECHO, 2_000);
    expect(down.ok).toBe(false);
    // Nor can anyone reach A, this machine included.
    expect(await acceptsConnection({ host: a.address, port: 22 }, 2_000)).toBe(false);
    console.log(
      `faults: partition: connect from A failed (${down.error}, ${down.ms.toFixed(0)} ms)`,
    );
    await heal(a);
    await fault.undo();
    expect((await connect(ECHO, 5_000)).ok).toBe(true);
    await expectClean();
  });

  it("a 5-second partition heals on its own", async () => {
    const t0 = Date.now();
    const fault = await partition(a, 5);
    const back = await client<{ failures: number; at: number }>("reconnect", 500);
    await fault.healed;
    console.log(
      `faults: 5 s partition: reached B again ${((back.at - t0) / 1000).toFixed(1)} s after, ${back.failures} attempts failed`,
    );
    expect(back.failures).toBeGreaterThan(0);
    expect(back.at - t0).toBeGreaterThanOrEqual(5_000);
    await expectClean();
  }, 60_000);

  it("libvirtd unreachable: B's libvirtd and ssh are out of reach, the rest of B runs", async () => {
    const virsh = (timeoutMs: number) =>
      a.run("virsh", ["-c", b.tlsUri, "hostname"], { timeoutMs }).then(
        (r) => r.stdout.trim(),
        (e: Error) => e.message,
      );
    const fault = await libvirtdUnreachable(b);
    let t0 = performance.now();
    const cut = await virsh(5_000);
    const failedAfter = performance.now() - t0;
    expect(cut).toMatch(/timed out|unable to connect/i);
    expect((await connect(22, 2_000)).ok).toBe(false);
    // The rest of B: its echo server, and its libvirtd for B itself.
    expect(isAlive(server.pid as number)).toBe(true);
    expect((await connect(ECHO, 2_000)).ok).toBe(true);
    const local = await b.run("virsh", ["-c", "qemu:///system", "hostname"]);
    expect(local.stdout.trim()).toBe(b.name);
    console.log(
      `faults: libvirtd unreachable: virsh from A gave up after ${failedAfter.toFixed(0)} ms: ${cut.split("\n")[0]}`,
    );
    await fault.undo();
    await fault.undo();
    t0 = performance.now();
    expect(await virsh(30_000)).toBe(b.name);
    console.log(
      `faults: after undo virsh from A answered in ${(performance.now() - t0).toFixed(0)} ms`,
    );
    await expectClean();
  });

  it("stopping the lab removes faults still installed, and everything else", async () => {
    await loss(a, 0.5);
    await delay(b, 100);
    await partition(b);
    await libvirtdUnreachable(a);
    const faults = readState()?.faults ?? [];
    expect(faults).toHaveLength(4);
    const delayer = faults.find((f) => f.pid !== undefined)?.pid as number;
    expect(isAlive(delayer)).toBe(true);
    const pids = processesIn(lab.hosts.map((_, i) => `/run/netns/${hostLayout(i).netns}`));
    expect(pids).toContain(delayer);
    await stopLabHosts();
    expect(pids.filter(isAlive)).toEqual([]);
    const netns = (await run("ip", ["netns", "list"])).stdout;
    for (const name of [LAN_NETNS, ...lab.hosts.map((h) => h.name)]) {
      expect(netns).not.toContain(name);
    }
    expect(readState()).toBeUndefined();
  }, 60_000);
});
