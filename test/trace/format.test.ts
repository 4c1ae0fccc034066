import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatEvent, parseTrace, TraceError, type TraceEvent } from "../../src/trace/format.js";

const errorOf = (text: string) => {
  try {
    parseTrace(text);
  } catch (e) {
    return e as TraceError;
  }
  throw new Error("parsed without error");
};

describe("trace format", () => {
  it("reads JSON lines with a header, comments and every event type", () => {
    const text = [
      '{"type":"trace","version":1,"source":"agent"}',
      "# recorded on the lab",
      '{"type":"colo-start","t":0}',
      '{"type":"checkpoint-start","t":250.5,"trigger":"miscompare"}',
      "",
      '{"type":"checkpoint-end","t":320}',
      '{"type":"set-params","t":400,"patch":{"passive-limit":300}}',
      '{"type":"mark","t":400,"label":"divergent"}',
    ].join("\n");
    expect(parseTrace(text)).toEqual([
      { type: "colo-start", t: 0 },
      { type: "checkpoint-start", t: 250.5, trigger: "miscompare" },
      { type: "checkpoint-end", t: 320 },
      { type: "set-params", t: 400, patch: { "passive-limit": 300 } },
      { type: "mark", t: 400, label: "divergent" },
    ]);
  });

  it("reads a plain file of lengths, one per line, with the pause asked for", () => {
    expect(parseTrace("100\n\n# a comment\n250.5\n", { pause: 10 })).toEqual([
      { type: "colo-start", t: 0 },
      { type: "checkpoint-start", t: 100 },
      { type: "checkpoint-end", t: 110 },
      { type: "checkpoint-start", t: 360.5 },
      { type: "checkpoint-end", t: 370.5 },
    ]);
  });

  it.each([
    ["100\n200\nabc\n", 3, 'expected a checkpoint length in ms (a number >= 0), got "abc"'],
    ["100\n-5\n", 2, "expected a checkpoint length"],
    ['{"type":"colo-start","t":0}\n{"type":"checkpoint-start"}\n', 2, '"t" must be a number'],
    ['{"type":"colo-start","t":5}\n{"type":"checkpoint-end","t":4}\n', 2, "time goes backwards"],
    ['{"type":"colo-start","t":0}\n{"type":"reboot","t":1}\n', 2, 'unknown event type "reboot"'],
    ['{"type":"checkpoint-start","t":1,"trigger":"cosmic-ray"}\n', 1, '"trigger" must be one of'],
    ['{"type":"trace","version":2}\n', 1, "unsupported trace version 2"],
    [
      '{"type":"colo-start","t":0}\n{"type":"trace","version":1}\n',
      2,
      "the trace header must come first",
    ],
    ['{"type":"colo-start","t":0}\n{"type":\n', 2, "not JSON"],
    ['{"type":"colo-start","t":0}\n[1,2]\n', 2, "expected a JSON object"],
  ])("reports the line of a malformed trace (%#)", (text, line, message) => {
    const e = errorOf(text);
    expect(e).toBeInstanceOf(TraceError);
    expect(e.line).toBe(line);
    expect(e.message).toContain(`line ${line}: ${message}`);
  });

  it("parses back what it formats, to the microsecond", () => {
    const event = fc.oneof(
      fc.record({
        type: fc.constant("checkpoint-end" as const),
        t: fc.double({ min: 0, max: 1e9, noNaN: true }),
      }),
      fc.record({
        type: fc.constant("mark" as const),
        t: fc.double({ min: 0, max: 1e9, noNaN: true }),
        label: fc.string(),
      }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), (events) => {
        const sorted = [...events].sort((a, b) => a.t - b.t) as TraceEvent[];
        const back = parseTrace(sorted.map(formatEvent).join("\n"));
        expect(back.length).toBe(sorted.length);
        back.forEach((e, i) => {
          expect(e.t).toBeCloseTo(sorted[i]!.t, 3);
        });
      }),
    );
  });
});
