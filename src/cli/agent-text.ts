// How the agents' properties and signals read in a terminal: the `list` table, the `status`
// block, the `get` lines and the `events` lines, in virsh's manner.
import type { AgentEvent } from "../dbus/client.js";
import type { AgentProperties } from "../dbus/values.js";

const ms = (x: number) => `${x.toFixed(1)} ms`;

/** virsh's --timestamp format: "2024-05-01 12:00:00.123+0000". */
const stamp = (t: number) => new Date(t).toISOString().replace("T", " ").replace("Z", "+0000");

function duration(x: number): string {
  const s = Math.round(x / 1000);
  const [h, m] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60)];
  const two = (n: number) => String(n).padStart(2, "0");
  if (h > 0) return `${h}h ${two(m)}m ${two(s % 60)}s`;
  return m > 0 ? `${m}m ${two(s % 60)}s` : `${s}s`;
}

/**
 * `virsh list`'s layout: a header, a rule, one row per agent, a blank line. Mode, mean and rate
 * are a primary's in COLO: a secondary, or a pair out of COLO, has none (the page's "—").
 */
export function agentTable(agents: readonly AgentProperties[]): string {
  const rows = [
    ["Domain", "Role", "COLO state", "Mode", "Passive left", "Mean", "Checkpoints/min"],
    ...agents.map((p) => {
      const moded = p.Role === "primary" && p.ColoState === "colo";
      return [
        p.Domain,
        p.Role,
        p.ColoState,
        moded ? p.Mode : "-",
        moded && p.Mode === "passive" ? String(p.PassiveLeft) : "-",
        moded ? ms(p.Mean) : "-",
        moded ? (p.Statistics["per-minute"] ?? 0).toFixed(1) : "-",
      ];
    }),
  ];
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  const line = (r: string[]) => ` ${r.map((x, c) => x.padEnd(widths[c] ?? 0)).join("   ")}`;
  const [head, ...body] = rows.map((r) => line(r).trimEnd()) as [string, ...string[]];
  return `${[head, "-".repeat(head.length + 1), ...body].join("\n")}\n\n`;
}

const HISTORY_SHOWN = 10;

/** `status`, like `virsh dominfo`: one "Label: value" line each. */
export function describeAgent(p: AgentProperties): string {
  const st = (key: string) => p.Statistics[key] ?? 0;
  const recent = `last ${duration(st("window-ms"))}`;
  const summary = (what: string) =>
    st("per-minute") === 0
      ? `none in the ${recent}`
      : `min ${ms(st(`${what}-min`))}, avg ${ms(st(`${what}-avg`))}, max ${ms(st(`${what}-max`))} (${recent})`;
  const limit = p.Parameters["passive-limit"];
  const lines: [string, string][] = [
    ["Domain", p.Domain],
    ["UUID", p.Uuid],
    ["Role", p.Role],
    ["Peer", `${p.PeerDomain} on ${p.PeerUri}`],
    ["COLO state", p.ColoReason ? `${p.ColoState} (${p.ColoReason})` : p.ColoState],
    ["Mode", p.Mode === "passive" ? `passive, ${p.PassiveLeft} checkpoints left` : p.Mode],
    [
      "Mean",
      `${ms(p.Mean)} over ${p.Samples} samples${limit === undefined ? "" : `; passive below ${limit} ms`}`,
    ],
    [
      "Checkpoints",
      `${st("checkpoints")} (colo ${st("checkpoints-colo")}, passive ${st("checkpoints-passive")}), ${st("per-minute").toFixed(1)} per minute`,
    ],
    ["Length", summary("length")],
    ["Pause", summary("pause")],
    ["Time", `colo ${duration(st("time-colo"))}, passive ${duration(st("time-passive"))}`],
    [
      "QEMU",
      `${p.QemuPrimary || "unknown"} (primary), ${p.QemuSecondary || "unknown"} (secondary)`,
    ],
    ["Last error", p.LastError || "-"],
  ];
  const shown = p.History.slice(-HISTORY_SHOWN);
  const history = shown.map((h) => `  ${stamp(h.t)}  ${h.kind.padEnd(10)}  ${h.message}`);
  lines.push(["History", shown.length === 0 ? "-" : `last ${shown.length} of ${p.History.length}`]);
  return `${[...lines.map(([k, v]) => `${`${k}:`.padEnd(16)}${v}`), ...history].join("\n")}\n`;
}

/** `get`, like `virsh schedinfo`: "name : value". */
export function parametersText(params: AgentProperties["Parameters"]): string {
  const width = Math.max(...Object.keys(params).map((k) => k.length));
  return Object.entries(params)
    .map(([k, v]) => `${k.padEnd(width)} : ${v}\n`)
    .join("");
}

/** The first line of `events`: where the agent stands as following starts. */
export const followingLine = (p: AgentProperties) =>
  `${stamp(Date.now())}: domain '${p.Domain}': ${p.Role}, COLO state ${p.ColoState}, mode ${p.Mode}, mean ${ms(p.Mean)}; following, ^C to stop\n`;

/** "120.0", "120.0..300.0"; "?" when none is known. */
function range(xs: readonly (number | undefined)[]): string {
  const known = xs.filter((x): x is number => x !== undefined);
  if (known.length === 0) return "?";
  const [lo, hi] = [Math.min(...known), Math.max(...known)];
  return lo === hi ? lo.toFixed(1) : `${lo.toFixed(1)}..${hi.toFixed(1)}`;
}

/** The `events` line of an event, as `virsh event --timestamp` words its own; "" for none. */
export function eventLine(
  domain: string,
  event: AgentEvent,
  before: Partial<AgentProperties>,
): string {
  const line = (kind: string, text: string) =>
    `${stamp(Date.now())}: event '${kind}' for domain '${domain}': ${text}\n`;
  switch (event.type) {
    case "mode-changed":
      return line("mode", `${event.from} → ${event.to} (${event.reason}, mean ${ms(event.mean)})`);
    case "tick": {
      const cs = event.checkpoints;
      const modes = [...new Set(cs.map((c) => c.mode))].join("/");
      const mean = cs[cs.length - 1]?.mean ?? 0;
      return line(
        "checkpoints",
        `${cs.length} ended (${modes}), length ${range(cs.map((c) => c.length))} ms, pause ${range(cs.map((c) => c.pause))} ms, mean ${ms(mean)}`,
      );
    }
    case "properties": {
      const { ColoState, ColoReason, LastError } = event.changed;
      let out = "";
      if (ColoState !== undefined && ColoState !== before.ColoState) {
        const reason = ColoReason ?? before.ColoReason;
        out += line(
          "colo-state",
          `${before.ColoState ?? "?"} → ${ColoState}${reason ? ` (${reason})` : ""}`,
        );
      }
      if (LastError !== undefined && LastError !== before.LastError)
        out += line("error", LastError || "(none)");
      return out;
    }
    case "agent":
      return line("agent", event.running ? "started" : "stopped");
  }
}
