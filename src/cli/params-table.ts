// The parameter reference, as printed by `colo-hybrid params` and kept in docs/policy.md:
// a Markdown table with padded columns, readable in a terminal and stable under the formatter.
import { allowedText, PARAMETERS } from "../colo/params.js";

export function paramsTable(): string {
  const rows = [
    ["name", "allowed", "default", "meaning"],
    ...PARAMETERS.map((p) => [`\`${p.name}\``, allowedText(p), String(p.default), p.summary]),
  ];
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  const line = (cells: string[]) =>
    `| ${cells.map((x, c) => x.padEnd(widths[c] ?? 0)).join(" | ")} |`;
  const [head, ...body] = rows as [string[], ...string[][]];
  const rule = widths.map((w) => "-".repeat(w));
  return `${[line(head), line(rule), ...body.map(line)].join("\n")}\n`;
}
