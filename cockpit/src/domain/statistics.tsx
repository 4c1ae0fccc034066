// The numbers behind the chart: checkpoint counts, lengths and pauses over the agent's recent
// window, and how the time since the agent started splits between the two modes.
import {
  Card,
  CardBody,
  CardTitle,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
} from "@patternfly/react-core";
import { duration, ms, percent } from "../format.js";
import { _, format } from "../i18n.js";
import type { Statistics } from "../model.js";

function Item({ term, children }: { term: string; children: React.ReactNode }) {
  return (
    <DescriptionListGroup>
      <DescriptionListTerm>{term}</DescriptionListTerm>
      <DescriptionListDescription>{children}</DescriptionListDescription>
    </DescriptionListGroup>
  );
}

const minAvgMax = (stats: Statistics, what: "length" | "pause") =>
  `${ms(stats[`${what}-min`])} / ${ms(stats[`${what}-avg`])} / ${ms(stats[`${what}-max`])}`;

export function CheckpointsCard({ stats }: { stats: Statistics }) {
  const window = stats["window-ms"];
  return (
    <Card isFullHeight>
      <CardTitle component="h3">{_("Checkpoints")}</CardTitle>
      <CardBody>
        <DescriptionList isHorizontal isCompact id="checkpoint-stats">
          <Item term={_("Since the agent started")}>
            {format(
              _("$0 (COLO $1, passive $2)"),
              stats.checkpoints ?? 0,
              stats["checkpoints-colo"] ?? 0,
              stats["checkpoints-passive"] ?? 0,
            )}
          </Item>
          <Item term={_("Per minute")}>{(stats["per-minute"] ?? 0).toFixed(1)}</Item>
          <Item term={_("Length min / avg / max")}>{minAvgMax(stats, "length")}</Item>
          <Item term={_("Pause min / avg / max")}>{minAvgMax(stats, "pause")}</Item>
        </DescriptionList>
        {window !== undefined && (
          <div className="colo-subtle">
            {format(_("Per minute, lengths and pauses: the last $0."), duration(window))}
          </div>
        )}
      </CardBody>
    </Card>
  );
}

export function ModeShareCard({ stats }: { stats: Statistics }) {
  const colo = stats["time-colo"] ?? 0;
  const passive = stats["time-passive"] ?? 0;
  const total = colo + passive;
  return (
    <Card isFullHeight>
      <CardTitle component="h3">{_("Time per mode")}</CardTitle>
      <CardBody>
        <div
          className="colo-share"
          role="img"
          aria-label={format(
            _("COLO $0, passive $1"),
            percent(colo, total),
            percent(passive, total),
          )}
        >
          <div className="colo-share-colo" style={{ flexGrow: colo }} />
          <div className="colo-share-passive" style={{ flexGrow: passive }} />
        </div>
        <DescriptionList isHorizontal isCompact id="mode-share">
          <Item term={_("COLO")}>
            {percent(colo, total)} ({duration(colo)})
          </Item>
          <Item term={_("Passive")}>
            {percent(passive, total)} ({duration(passive)})
          </Item>
        </DescriptionList>
      </CardBody>
    </Card>
  );
}
