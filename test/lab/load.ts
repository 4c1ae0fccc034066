// HTTP load for the lab guest (test/lab/guest.ts), in phases: divergent (answers differ between
// primary and secondary), convergent (a fixed body) and idle. Open loop: requests leave on
// schedule whether or not earlier ones were answered, one connection each, as a client
// population would send them. Only ever to 127.0.0.1, where a forwarded guest port listens, or
// to a UNIX socket that a forwarder pipes into a lab client namespace (test/lab/bridge.ts).
//
//   npx tsx test/lab/load.ts --port N|--socket-path PATH
//     --phases divergent:30:2,idle:10[,convergent:SECONDS:RATE]
//     [--max-requests N] [--timeout-ms MS] [--request-timeout-ms MS]
//
// prints the summary as JSON.
import { request } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { FIXED_BODY } from "./guest.js";

const HOST = "127.0.0.1";
const PATHS = { divergent: "/cgi-bin/divergent", convergent: "/cgi-bin/fixed" } as const;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Kept of a wrong body, for the summary. */
const MAX_SHOWN_BODY = 200;

export type Phase =
  | { kind: "idle"; seconds: number }
  | { kind: "divergent" | "convergent"; seconds: number /** Requests per second. */; rate: number };
export type PhaseKind = Phase["kind"];

export interface LoadOptions {
  /** Where the guest answers: a port on 127.0.0.1, or a UNIX socket; exactly one of them. */
  port?: number;
  socketPath?: string;
  phases: readonly Phase[];
  /** No more requests are sent in all than this. */
  maxRequests: number;
  /** The run ends by then, and requests still open are abandoned (counted as "timeout"). */
  timeoutMs: number;
  /** A single request's limit; default 10 s. */
  requestTimeoutMs?: number;
  /** Told of each request's outcome as it comes, for progress. */
  onOutcome?: (phase: PhaseKind, outcome: "correct" | "wrong" | "error") => void;
}

export interface Latency {
  minMs: number;
  medianMs: number;
  p99Ms: number;
  maxMs: number;
}

export interface PhaseResult {
  kind: PhaseKind;
  seconds: number;
  rate: number;
  /** Sent: ok plus every error. */
  requests: number;
  /** Answered with 200 and a complete body. */
  ok: number;
  /** By kind: "timeout", "status 404", or the socket's code ("ECONNRESET", "ECONNREFUSED"). */
  errors: Record<string, number>;
  /** Of the ok requests, from sending to the body's end; null when none was ok. */
  latency: Latency | null;
  /** Of the ok bodies, how many were right: fixed ones exactly FIXED_BODY, divergent ones well-formed. */
  correct: number;
  wrong: number;
  /** The first wrong body (its start), to show what came instead. */
  firstWrong?: string;
}

export interface LoadResult {
  phases: PhaseResult[];
  /** Why the run ended before the phases did, if it did. */
  stoppedBy: "maxRequests" | "timeout" | null;
  elapsedMs: number;
}

type Outcome = { body: string; ms: number } | { error: string };

const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/;

/** A divergent body holds /proc/timer_list's "now at N nsecs" line and a UUID. */
export function isWellFormedDivergent(body: string): boolean {
  return /^now at \d+ nsecs$/m.test(body) && UUID.test(body);
}

/** Where the requests go: node's http.request takes either. */
type Target = { host: string; port: number } | { socketPath: string };

function get(target: Target, path: string, timeoutMs: number): Promise<Outcome> {
  const started = performance.now();
  const signal = AbortSignal.timeout(Math.ceil(timeoutMs));
  const failure = (e?: NodeJS.ErrnoException): Outcome => ({
    error: signal.aborted ? "timeout" : (e?.code ?? e?.message ?? "closed before the end"),
  });
  // The first of these calls to resolve counts.
  return new Promise((resolve) => {
    const req = request({
      ...target,
      path,
      agent: false,
      headers: { connection: "close" },
      signal,
    });
    req.once("error", (e) => resolve(failure(e)));
    req.once("response", (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve({ error: `status ${res.statusCode}` });
        return;
      }
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.once("error", (e) => resolve(failure(e)));
      res.once("end", () =>
        resolve({ body: Buffer.concat(chunks).toString("utf8"), ms: performance.now() - started }),
      );
      res.once("close", () => resolve(failure()));
    });
    req.end();
  });
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

function latencyOf(ms: number[]): Latency | null {
  if (ms.length === 0) return null;
  const sorted = [...ms].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    minMs: round(sorted[0]!),
    medianMs: round(percentile(sorted, 0.5)),
    p99Ms: round(percentile(sorted, 0.99)),
    maxMs: round(sorted.at(-1)!),
  };
}

function validate(opts: LoadOptions): void {
  const problems: string[] = [];
  if ((opts.port === undefined) === (opts.socketPath === undefined)) {
    problems.push("either a port or a socketPath, not both or none");
  } else if (
    opts.port !== undefined &&
    (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65_535)
  ) {
    problems.push(`port ${opts.port} is not a TCP port`);
  }
  if (!Number.isInteger(opts.maxRequests) || opts.maxRequests < 0) {
    problems.push(`maxRequests ${opts.maxRequests} is not a count`);
  }
  for (const [name, ms] of [
    ["timeoutMs", opts.timeoutMs],
    ["requestTimeoutMs", opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS],
  ] as const) {
    if (!(Number.isFinite(ms) && ms > 0)) problems.push(`${name} ${ms} is not a positive time`);
  }
  if (opts.phases.length === 0) problems.push("no phases");
  opts.phases.forEach((p, i) => {
    if (!(Number.isFinite(p.seconds) && p.seconds > 0)) {
      problems.push(`phase ${i + 1}: ${p.seconds} is not a positive number of seconds`);
    }
    if (p.kind !== "idle" && !(Number.isFinite(p.rate) && p.rate > 0)) {
      problems.push(`phase ${i + 1}: rate ${p.rate} is not a positive number of requests/s`);
    }
  });
  if (problems.length > 0) throw new Error(`runLoad: ${problems.join("; ")}`);
}

/** Requests a phase sends when nothing cuts it short: one every 1/rate s from its start. */
export function plannedRequests(phase: Phase): number {
  return phase.kind === "idle" ? 0 : Math.ceil(phase.seconds * phase.rate);
}

function sleepUntil(t: number): Promise<void> {
  return sleep(Math.max(0, t - performance.now()));
}

/** Runs the phases one after the other; ends at the first of: phases done, maxRequests, timeoutMs. */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  validate(opts);
  const target: Target =
    opts.socketPath === undefined
      ? { host: HOST, port: opts.port as number }
      : { socketPath: opts.socketPath };
  const requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const start = performance.now();
  const deadline = start + opts.timeoutMs;
  const pending: Promise<void>[] = [];
  const started: { result: PhaseResult; latencies: number[] }[] = [];
  let stoppedBy: LoadResult["stoppedBy"] = null;
  let sent = 0;
  let phaseStart = start;

  run: for (const phase of opts.phases) {
    const result: PhaseResult = {
      kind: phase.kind,
      seconds: phase.seconds,
      rate: phase.kind === "idle" ? 0 : phase.rate,
      requests: 0,
      ok: 0,
      errors: {},
      latency: null,
      correct: 0,
      wrong: 0,
    };
    const latencies: number[] = [];
    started.push({ result, latencies });
    const phaseEnd = phaseStart + phase.seconds * 1000;
    if (phase.kind !== "idle") {
      const path = PATHS[phase.kind];
      const correct =
        phase.kind === "convergent" ? (body: string) => body === FIXED_BODY : isWellFormedDivergent;
      const record = (o: Outcome): void => {
        if ("error" in o) {
          result.errors[o.error] = (result.errors[o.error] ?? 0) + 1;
          opts.onOutcome?.(phase.kind, "error");
          return;
        }
        result.ok++;
        latencies.push(o.ms);
        if (correct(o.body)) {
          result.correct++;
          opts.onOutcome?.(phase.kind, "correct");
        } else {
          result.wrong++;
          result.firstWrong ??= o.body.slice(0, MAX_SHOWN_BODY);
          opts.onOutcome?.(phase.kind, "wrong");
        }
      };
      for (let k = 0; k < plannedRequests(phase); k++) {
        const at = phaseStart + (k * 1000) / phase.rate;
        if (at >= deadline) {
          stoppedBy = "timeout";
          break run;
        }
        if (sent >= opts.maxRequests) {
          stoppedBy = "maxRequests";
          break run;
        }
        await sleepUntil(at);
        sent++;
        result.requests++;
        const timeoutMs = Math.max(1, Math.min(requestTimeoutMs, deadline - performance.now()));
        pending.push(get(target, path, timeoutMs).then(record));
      }
    }
    if (phaseEnd > deadline) {
      await sleepUntil(deadline);
      stoppedBy = "timeout";
      break;
    }
    await sleepUntil(phaseEnd);
    phaseStart = phaseEnd;
  }
  await Promise.all(pending);
  for (const { result, latencies } of started) result.latency = latencyOf(latencies);
  return {
    phases: started.map((s) => s.result),
    stoppedBy,
    elapsedMs: Math.round(performance.now() - start),
  };
}

const PHASE_SPEC =
  /^(?:(idle):(\d+(?:\.\d+)?)|(divergent|convergent):(\d+(?:\.\d+)?):(\d+(?:\.\d+)?))$/;

/** "divergent:30:2,idle:10,convergent:20:1": idle:SECONDS or KIND:SECONDS:RATE (requests/s). */
export function parsePhases(spec: string): Phase[] {
  return spec.split(",").map((item) => {
    const m = PHASE_SPEC.exec(item);
    if (m?.[1] === "idle") return { kind: "idle", seconds: Number(m[2]) };
    if (m?.[3] === "divergent" || m?.[3] === "convergent") {
      return { kind: m[3], seconds: Number(m[4]), rate: Number(m[5]) };
    }
    throw new Error(
      `phase ${JSON.stringify(item)}: expected idle:SECONDS, divergent:SECONDS:RATE or convergent:SECONDS:RATE`,
    );
  });
}

/** Slack beyond the phases' own time, for the last answers and a slow start. */
const CLI_SLACK_MS = 15_000;

async function main(argv: string[]): Promise<number> {
  let opts: LoadOptions;
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        port: { type: "string" },
        "socket-path": { type: "string" },
        phases: { type: "string" },
        "max-requests": { type: "string" },
        "timeout-ms": { type: "string" },
        "request-timeout-ms": { type: "string" },
      },
    });
    if ((values.port === undefined) === (values["socket-path"] === undefined)) {
      throw new Error("one of --port and --socket-path is required");
    }
    if (values.phases === undefined) throw new Error("--phases is required");
    const phases = parsePhases(values.phases);
    const planned = phases.reduce((n, p) => n + plannedRequests(p), 0);
    const seconds = phases.reduce((s, p) => s + p.seconds, 0);
    opts = {
      ...(values.port === undefined
        ? { socketPath: values["socket-path"] as string }
        : { port: Number(values.port) }),
      phases,
      maxRequests: Number(values["max-requests"] ?? planned),
      timeoutMs: Number(values["timeout-ms"] ?? seconds * 1000 + CLI_SLACK_MS),
      ...(values["request-timeout-ms"] === undefined
        ? {}
        : { requestTimeoutMs: Number(values["request-timeout-ms"]) }),
    };
    validate(opts);
  } catch (e) {
    process.stderr.write(`load: ${e instanceof Error ? e.message : e}\n`);
    process.stderr.write(
      "usage: load.ts --port N|--socket-path PATH --phases KIND:SECONDS[:RATE],... [--max-requests N] [--timeout-ms MS] [--request-timeout-ms MS]\n",
    );
    return 2;
  }
  process.stdout.write(`${JSON.stringify(await runLoad(opts), null, 2)}\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
