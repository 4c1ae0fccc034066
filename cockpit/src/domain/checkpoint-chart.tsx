// Recent checkpoint lengths with the mean the policy compares (EWMA), passive-limit as a line
// and passive spells shaded. Plain SVG: four kinds of marks on a log axis do not need a chart
// library, and PatternFly's (Victory) would triple the page's size.
import { useEffect, useRef, useState } from "react";
import type { Mode } from "../../../src/colo/events.js";
import { axisMs, duration, ms } from "../format.js";
import { _, format as formatText } from "../i18n.js";
import type { Checkpoint } from "../model.js";
import { chartGeometry } from "./chart-geometry.js";

const HEIGHT = 240;
/** Until the container is measured (and in test DOMs, which have no layout). */
const DEFAULT_WIDTH = 800;

function useWidth(): [React.RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(DEFAULT_WIDTH);
  useEffect(() => {
    const element = ref.current;
    if (!element || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(([entry]) => {
      if (entry && entry.contentRect.width > 0) setWidth(Math.floor(entry.contentRect.width));
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/** An x axis label: "now", "−30 s", "−2 min". */
function ago(seconds: number): string {
  if (seconds === 0) return _("now");
  if (seconds % 60 === 0) return formatText(_("−$0 min"), seconds / 60);
  return formatText(_("−$0 s"), seconds);
}

export interface CheckpointChartProps {
  checkpoints: readonly Checkpoint[];
  limit: number | undefined;
  mode: Mode;
  now: number;
  spanMs: number;
}

export function CheckpointChart({ checkpoints, limit, mode, now, spanMs }: CheckpointChartProps) {
  const [ref, width] = useWidth();
  const g = chartGeometry({ checkpoints, limit, mode, now, spanMs, width, height: HEIGHT });
  const { plot } = g;
  return (
    <div ref={ref} className="colo-chart">
      <svg width={width} height={HEIGHT} role="img" aria-labelledby="colo-chart-title">
        <title id="colo-chart-title">
          {formatText(_("Checkpoint lengths of the last $0"), duration(spanMs))}
        </title>
        {g.spells.map((s) => (
          <rect
            key={s.x0}
            className="colo-chart-spell"
            x={s.x0}
            y={plot.top}
            width={Math.max(1, s.x1 - s.x0)}
            height={plot.bottom - plot.top}
          />
        ))}
        {g.yTicks.map((tick) => (
          <g key={tick.value}>
            <line
              className="colo-chart-grid"
              x1={plot.left}
              x2={plot.right}
              y1={tick.y}
              y2={tick.y}
            />
            <text className="colo-chart-axis" x={plot.left - 6} y={tick.y + 4} textAnchor="end">
              {axisMs(tick.value)}
            </text>
          </g>
        ))}
        {g.xTicks.map((tick) => (
          <text
            key={tick.secondsAgo}
            className="colo-chart-axis"
            x={tick.x}
            y={plot.bottom + 18}
            textAnchor={tick.secondsAgo === 0 ? "end" : "middle"}
          >
            {ago(tick.secondsAgo)}
          </text>
        ))}
        <line
          className="colo-chart-frame"
          x1={plot.left}
          x2={plot.left}
          y1={plot.top}
          y2={plot.bottom}
        />
        <line
          className="colo-chart-frame"
          x1={plot.left}
          x2={plot.right}
          y1={plot.bottom}
          y2={plot.bottom}
        />
        {g.meanPath && <path className="colo-chart-mean" d={g.meanPath} />}
        {g.limitY !== undefined && (
          <line
            className="colo-chart-limit"
            x1={plot.left}
            x2={plot.right}
            y1={g.limitY}
            y2={g.limitY}
          />
        )}
        {/* Last, so that a length equal to the mean (passive mode holds the mean) still shows. */}
        {g.lengths.map((p) => (
          <circle key={p.t} className="colo-chart-length" cx={p.x} cy={p.y} r={2.5} />
        ))}
      </svg>
      <ul className="colo-chart-legend">
        <li>
          <span className="colo-swatch colo-swatch-length" />
          {_("Checkpoint length")}
        </li>
        <li>
          <span className="colo-swatch colo-swatch-mean" />
          {_("Mean (EWMA)")}
        </li>
        <li>
          <span className="colo-swatch colo-swatch-limit" />
          {limit !== undefined
            ? formatText(_("passive-limit ($0)"), ms(limit))
            : _("passive-limit")}
        </li>
        <li>
          <span className="colo-swatch colo-swatch-spell" />
          {_("Passive mode")}
        </li>
      </ul>
    </div>
  );
}
