// The hung-secondary drill, timed: on a live COLO lab pair with its agent (in this process, as
// test/lab/hung-secondary.test.ts runs it), a client sends HTTP GETs to the primary's
// /cgi-bin/fixed one after another (the next as soon as the last is answered; 20 ms after a
// failure), and the secondary's QEMU is SIGSTOPped for 30 s. COLO gives no sign of a hang: it is
// the agent's heartbeat (query-status half of peer-timeout after the secondary's last sign of
// life, none within peer-timeout) that finds it, yanks the primary's migration channel and fails
// the primary over.
//
// The anchor, measured in the same run on a fresh pair: the same drill with the secondary's QEMU
// SIGKILLed instead. Its sockets close, COLO on the primary ends at once (COLO_EXIT) and the
// agent fails over with no detection to wait for: the failover floor.
//
// The figures of each drill, times from the signal (the stall):
// - answered again: until the end of the first successful answer to a request sent at or after
//   the stall. The client is sequential, so this is at most one request's latency later than
//   the moment the service came back (the request in flight at the stall, held by colo-compare,
//   is answered then, and the next leaves at once);
// - longest wait: the longest any request waited during the drill (sent to answered or failed,
//   or to the drill's end if still open).
// Beside it, a probe: a fresh GET every 200 ms whatever the others do, to tell when the service
// takes new requests again from when a request held through the stall is answered (its TCP
// segments held by colo-compare must be sent again by the guest's TCP, on its backoff timers);
// and the sequential client's requests around the stall.
// The agent's log lines from the stall on are printed with their times (where the time goes:
// detection, yank, COLO's end, failover). Needs root; makes (and removes) its own two pairs.
// Last line: the hung drill's "answered again", the killed anchor's, their ratio, and the goal
// (clients answered again within 3 s of the stall).
// Usage: npx tsx bench/hung-secondary.ts [--peer-timeout MS]   (default: the parameter's default)
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Agent } from "../src/agent/agent.js";
import { DEFAULT_PARAMS, type ParamPatch } from "../src/colo/params.js";
import { type LabPair, startPair } from "../test/lab/pair.js";
import { waitUntil } from "../test/support/wait.js";
import { qemuPid } from "./support/lab-agent.js";

const DRILL_MS = 30_000;
const BEFORE_MS = 3000;
const GOAL_MS = 3000;
const { values: options } = parseArgs({ options: { "peer-timeout": { type: "string" } } });
const params: ParamPatch = {
  "colo-period": 3000,
  ...(options["peer-timeout"] !== undefined && { "peer-timeout": Number(options["peer-timeout"]) }),
};

interface Request {
  start: number;
  end: number | undefined;
  ok: boolean;
}

interface Drill {
  /** Stall to the end of the first successful answer to a request sent after it, ms. */
  answeredAgain: number;
  longestWait: number;
  /** The request open at the stall: its wait, and whether it was answered. */
  inFlight: { waited: number; ok: boolean } | undefined;
  failedDuring: number;
  /** Stall to the end of the first successful probe sent after it, ms. */
  probeAgain: number;
  requestsDuring: number;
  /** Normal latency before the stall: median, ms. */
  medianBefore: number;
  colo: string;
}

async function drill(signal: "SIGSTOP" | "SIGKILL"): Promise<Drill> {
  let pair: LabPair | undefined;
  let agent: Agent | undefined;
  const lines: { t: number; text: string }[] = [];
  try {
    pair = await startPair({
      period: 3000,
      params,
      log: () => undefined,
    });
    const p = pair;
    const a = await Agent.start({
      uuid: p.primary.dom.uuid,
      uri: "qemu:///system",
      log: (level, text) => lines.push({ t: performance.now(), text: `${level}: ${text}` }),
    });
    agent = a;
    await waitUntil(
      "the agent to follow the pair in COLO",
      () => {
        const s = a.status();
        return s.colo === "colo" && s.qemu.secondary !== "" && s.lastError === "";
      },
      60_000,
    );
    const secondary = qemuPid(p.secondary.dom.name);
    const requests: Request[] = [];
    let clients = true;
    const client = (async () => {
      while (clients) {
        const r: Request = { start: performance.now(), end: undefined, ok: false };
        requests.push(r);
        r.ok = await fetch(`http://127.0.0.1:${p.port}/cgi-bin/fixed`, {
          signal: AbortSignal.timeout(DRILL_MS + 10_000),
        }).then(
          async (res) => res.ok && (await res.text()).length > 0,
          () => false,
        );
        r.end = performance.now();
        if (!r.ok) await sleep(20);
      }
    })();
    const probes: Request[] = [];
    const prober = setInterval(() => {
      const r: Request = { start: performance.now(), end: undefined, ok: false };
      probes.push(r);
      void fetch(`http://127.0.0.1:${p.port}/cgi-bin/fixed`, {
        signal: AbortSignal.timeout(DRILL_MS + 10_000),
      })
        .then(
          async (res) => res.ok && (await res.text()).length > 0,
          () => false,
        )
        .then((ok) => {
          r.ok = ok;
          r.end = performance.now();
        });
    }, 200);
    await sleep(BEFORE_MS);
    const stall = performance.now();
    process.kill(secondary, signal);
    await sleep(DRILL_MS);
    const drillEnd = performance.now();
    if (signal === "SIGSTOP") process.kill(secondary, "SIGCONT");
    clients = false;
    clearInterval(prober);
    await client;

    const before = requests
      .filter((r) => r.end !== undefined && r.end < stall && r.ok)
      .map((r) => (r.end as number) - r.start)
      .sort((x, y) => x - y);
    const during = requests.filter((r) => (r.end ?? drillEnd) > stall && r.start < drillEnd);
    const firstAfter = during.find((r) => r.start >= stall && r.ok && r.end !== undefined);
    const open = during.find((r) => r.start < stall);
    const waits = during.map((r) => Math.min(r.end ?? drillEnd, drillEnd) - r.start);
    const rel = (t: number) => `${t >= stall ? "+" : ""}${(t - stall).toFixed(0)} ms`;
    console.log(
      `\n${signal} of the secondary's QEMU (pid ${secondary}); the agent's log from then:`,
    );
    for (const l of lines.filter((x) => x.t >= stall - 100))
      console.log(`  ${rel(l.t)}  ${l.text}`);
    const i = requests.indexOf(open ?? (firstAfter as Request));
    const around = requests.slice(Math.max(0, i - 2), i + 4);
    console.log(
      `  the client's requests around the stall (sent → done): ${around
        .map(
          (r) =>
            `${rel(r.start)} → ${r.end === undefined ? "open" : rel(r.end)}${r.ok ? "" : " failed"}`,
        )
        .join(", ")}`,
    );
    const probeAfter = probes.filter((r) => r.start >= stall && r.ok && r.end !== undefined);
    const probeAgain = Math.min(...probeAfter.map((r) => (r.end as number) - stall));
    const firstProbe = probeAfter.find((r) => (r.end as number) - stall === probeAgain);
    console.log(
      `  probe (a fresh GET every 200 ms): ${probes.filter((r) => r.start >= stall && r.start < drillEnd).length} sent in the drill, ` +
        `first answer after the stall ${rel(stall + probeAgain)} (sent ${firstProbe ? rel(firstProbe.start) : "-"}); ` +
        `probes sent in the first 5 s: ${probes
          .filter((r) => r.start >= stall && r.start < stall + 5000)
          .map(
            (r) => `${rel(r.start)}→${r.end === undefined ? "open" : rel(r.end)}${r.ok ? "" : "!"}`,
          )
          .join(" ")}`,
    );
    const result: Drill = {
      answeredAgain:
        firstAfter === undefined ? Number.POSITIVE_INFINITY : (firstAfter.end as number) - stall,
      longestWait: Math.max(...waits),
      inFlight:
        open === undefined
          ? undefined
          : { waited: Math.min(open.end ?? drillEnd, drillEnd) - open.start, ok: open.ok },
      failedDuring: during.filter((r) => !r.ok).length,
      probeAgain,
      requestsDuring: during.length,
      medianBefore: before[Math.floor(before.length / 2)] ?? Number.NaN,
      colo: a.status().colo,
    };
    console.log(
      `  requests: median ${result.medianBefore.toFixed(0)} ms before the stall; ${result.requestsDuring} during the drill, ` +
        `${result.failedDuring} failed; the one in flight at the stall ` +
        (result.inFlight === undefined
          ? "none"
          : `${result.inFlight.ok ? "answered" : "failed"} after ${result.inFlight.waited.toFixed(0)} ms`) +
        `; agent's COLO state at the end: ${result.colo}`,
    );
    console.log(
      `  answered again ${result.answeredAgain.toFixed(0)} ms after the stall; longest wait ${result.longestWait.toFixed(0)} ms`,
    );
    return result;
  } finally {
    await agent?.close();
    await pair?.teardown();
  }
}

console.log(
  `peer-timeout ${options["peer-timeout"] ?? `${DEFAULT_PARAMS.peerTimeout} (the default)`} ms; a ${DRILL_MS / 1000} s stall of each pair`,
);
const hung = await drill("SIGSTOP");
const killed = await drill("SIGKILL");
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
console.log(
  `hung secondary: clients answered again ${s(hung.answeredAgain)} after the stall (longest wait ${s(hung.longestWait)}); ` +
    `killed (anchor) ${s(killed.answeredAgain)} (longest wait ${s(killed.longestWait)}); ` +
    `new requests (probe) served again ${s(hung.probeAgain)} vs ${s(killed.probeAgain)}; ` +
    `${(hung.answeredAgain / killed.answeredAgain).toFixed(2)}x the anchor; ` +
    `goal <= ${s(GOAL_MS)}: ${hung.answeredAgain <= GOAL_MS ? "met" : "missed"}`,
);
