// Trace files: what the agent records and the simulator replays.
//
// Format "colo-hybrid trace v1": JSON lines, one policy event per line, times in ms.
//   {"type":"trace","version":1,"source":"agent","domain":"web1"}   optional, first line only
//   {"type":"colo-start","t":0}
//   {"type":"checkpoint-start","t":5000.125,"trigger":"timer"}      trigger optional
//   {"type":"checkpoint-end","t":5071.5}
//   {"type":"set-params","t":9000,"patch":{"passive-limit":300}}
//   {"type":"mark","t":60000,"label":"divergent"}                  a note, e.g. a load phase
// Times never decrease. Blank lines and lines starting with '#' are skipped.
//
// Also accepted: a plain file of checkpoint lengths in ms, one number per line; each becomes a
// checkpoint that starts that long after the previous one ended (pauses as given).
//
// Parsing is line by line (LineParser) so that huge traces stream; traceLines() splits a
// stream into lines, none longer than MAX_LINE_BYTES.
import { type PolicyEvent, TRIGGERS } from "../colo/events.js";
import { EXCERPT_CHARS, excerpt } from "../input/excerpt.js";

export const TRACE_VERSION = 1;

/**
 * The longest line a trace may have, in bytes. An event takes well under 1 KiB (a set-params
 * line with every parameter, about 300 bytes); a line longer than this is no trace (a binary
 * file, /dev/zero), and reading stops there rather than buffer it without end.
 */
export const MAX_LINE_BYTES = 64 * 1024;

/** Text of ours around what an engine says, cut like an excerpt (no quotes added). */
const shortened = (text: string, max: number) =>
  text.length > max ? `${text.slice(0, max)}…` : text;

export type MarkEvent = { type: "mark"; t: number; label: string };
export type TraceEvent = PolicyEvent | MarkEvent;
export type TraceHeader = { type: "trace"; version: number; source?: string; domain?: string };

export class TraceError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

type Format = "jsonl" | "lengths";

export interface LineParserOptions {
  /** Pause given to each checkpoint of a plain lengths file, ms. */
  pause?: number;
}

/** Turns the lines of a trace, in order, into events. */
export class LineParser {
  private lineNo = 0;
  private format: Format | undefined;
  private lastT = Number.NEGATIVE_INFINITY;
  private seenEvent = false;
  private readonly pause: number;

  constructor(options: LineParserOptions = {}) {
    this.pause = options.pause ?? 0;
  }

  /** Events of the next line (none for blanks, comments and the header). */
  line(text: string): TraceEvent[] {
    this.lineNo++;
    const s = text.trim();
    if (s === "" || s.startsWith("#")) return [];
    this.format ??= s.startsWith("{") ? "jsonl" : "lengths";
    return this.format === "jsonl" ? this.jsonLine(s) : this.lengthLine(s);
  }

  private fail(message: string): never {
    throw new TraceError(this.lineNo, message);
  }

  private lengthLine(s: string): TraceEvent[] {
    const length = Number(s);
    if (!/^[0-9.eE+-]+$/.test(s) || !Number.isFinite(length) || length < 0) {
      this.fail(`expected a checkpoint length in ms (a number >= 0), got ${excerpt(s)}`);
    }
    const events: TraceEvent[] = [];
    if (!this.seenEvent) {
      this.seenEvent = true;
      this.lastT = 0;
      events.push({ type: "colo-start", t: 0 });
    }
    const start = this.lastT + length;
    this.lastT = start + this.pause;
    events.push({ type: "checkpoint-start", t: start }, { type: "checkpoint-end", t: this.lastT });
    return events;
  }

  private jsonLine(s: string): TraceEvent[] {
    let value: unknown;
    try {
      value = JSON.parse(s);
    } catch (e) {
      // V8 quotes about 20 characters of the line in its message; another engine may quote
      // it all. Room for the engine's own words (~60) and an excerpt.
      this.fail(`not JSON: ${shortened((e as Error).message, 2 * EXCERPT_CHARS)}`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.fail("expected a JSON object");
    }
    const o = value as Record<string, unknown>;
    if (o.type === "trace") {
      if (this.seenEvent) this.fail("the trace header must come first");
      if (o.version !== TRACE_VERSION) {
        this.fail(`unsupported trace version ${excerpt(o.version)} (this reads ${TRACE_VERSION})`);
      }
      return [];
    }
    const t = o.t;
    if (typeof t !== "number" || !Number.isFinite(t)) this.fail(`"t" must be a number of ms`);
    if (t < this.lastT) this.fail(`time goes backwards (${t} after ${this.lastT})`);
    this.lastT = t;
    this.seenEvent = true;
    return [this.eventOf(o, t)];
  }

  private eventOf(o: Record<string, unknown>, t: number): TraceEvent {
    switch (o.type) {
      case "colo-start":
      case "checkpoint-end":
        return { type: o.type, t };
      case "checkpoint-start": {
        const trigger = o.trigger;
        if (trigger === undefined) return { type: o.type, t };
        if (!TRIGGERS.includes(trigger as never)) {
          this.fail(`"trigger" must be one of ${TRIGGERS.join(", ")}, got ${excerpt(trigger)}`);
        }
        return { type: o.type, t, trigger: trigger as (typeof TRIGGERS)[number] };
      }
      case "set-params": {
        const patch = o.patch;
        if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
          this.fail(`"patch" must be an object of parameter values`);
        }
        return { type: o.type, t, patch: patch as Record<string, unknown> };
      }
      case "mark":
        if (typeof o.label !== "string") this.fail(`"label" must be a string`);
        return { type: o.type, t, label: o.label };
      default:
        this.fail(`unknown event type ${excerpt(o.type)}`);
    }
  }
}

/**
 * The lines of a stream (UTF-8, "\n" or "\r\n"), as they come: a line longer than `maxBytes`
 * throws a TraceError naming it as soon as the limit is passed, and is never held whole.
 */
export async function* traceLines(
  input: AsyncIterable<Uint8Array | string>,
  maxBytes = MAX_LINE_BYTES,
): AsyncGenerator<string> {
  let held: Buffer[] = []; // the current line so far, copied out of its chunks
  let length = 0;
  let lineNo = 1;
  const text = (last: Buffer) => {
    const line = (held.length === 0 ? last : Buffer.concat([...held, last])).toString("utf8");
    held = [];
    length = 0;
    lineNo++;
    return line.endsWith("\r") ? line.slice(0, -1) : line;
  };
  for await (const chunk of input) {
    const buf =
      typeof chunk === "string"
        ? Buffer.from(chunk)
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      const end = nl === -1 ? buf.length : nl;
      length += end - start;
      if (length > maxBytes)
        throw new TraceError(lineNo, `longer than ${maxBytes} bytes: not a trace line`);
      if (nl === -1) {
        if (end > start) held.push(Buffer.from(buf.subarray(start)));
        break;
      }
      yield text(buf.subarray(start, nl));
      start = nl + 1;
    }
  }
  if (held.length > 0) yield text(Buffer.alloc(0));
}

export function parseTrace(text: string, options?: LineParserOptions): TraceEvent[] {
  const parser = new LineParser(options);
  return text.split("\n").flatMap((line) => parser.line(line));
}

/** One JSON line; times to the microsecond, as QEMU reports them. */
export function formatEvent(event: TraceEvent | TraceHeader): string {
  if (event.type === "trace") return JSON.stringify(event);
  return JSON.stringify({ ...event, t: Math.round(event.t * 1000) / 1000 });
}

export function traceHeader(source: string): TraceHeader {
  return { type: "trace", version: TRACE_VERSION, source };
}
