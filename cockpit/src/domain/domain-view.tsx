// One agent in detail: what state the pair is in and why, the live checkpoint chart, the
// statistics, the pair and the cluster's view of it, the history; and, on its own tab, the
// parameters.
import {
  Alert,
  Breadcrumb,
  BreadcrumbItem,
  Button,
  Card,
  CardBody,
  CardTitle,
  Content,
  EmptyState,
  Flex,
  FlexItem,
  Gallery,
  PageSection,
  Spinner,
  Tab,
  Tabs,
  TabTitleText,
  Title,
} from "@patternfly/react-core";
import { useEffect, useState } from "react";
import { useActions } from "../context.js";
import { clock, ms } from "../format.js";
import { _, format } from "../i18n.js";
import { hasMode, ModeLabel, roleText, StateLabel } from "../labels.js";
import { navigate } from "../location.js";
import { type AgentInfo, type AgentModel, coloEnded } from "../model.js";
import { ParametersForm } from "../parameters/parameters-form.js";
import { CHECKPOINTS_KEPT_MS, type ClusterState } from "../state.js";
import { CheckpointChart } from "./checkpoint-chart.js";
import { ClusterCard } from "./cluster.js";
import { FailoverButton } from "./failover.js";
import { HistoryCard } from "./history.js";
import { PairCard } from "./pair.js";
import { CheckpointsCard, ModeShareCard } from "./statistics.js";

export type DomainTab = "status" | "parameters";

/** The chart's clock: the right edge moves on even when no checkpoint comes (idle COLO). */
function useNow(intervalMs: number): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/** What to do once COLO has ended, by how it ended and on which side. */
function endedAdvice(info: AgentInfo): string {
  if (info.colo === "failed-over")
    return format(
      _(
        "$0 runs alone, unprotected. To protect it again, make a new secondary and run colo-hybrid protect $0.",
      ),
      info.domain,
    );
  if (info.role === "secondary")
    return format(
      _("Fail this secondary over only if the primary, $0, is gone: it then runs alone."),
      info.peerDomain,
    );
  return _(
    "The primary was not failed over (auto-failover is off) and may be paused: fail it over to let it run alone.",
  );
}

/** Why the pair needs attention, if it does; the most pressing first. */
function StateAlerts({ agent, info }: { agent: AgentModel; info: AgentInfo }) {
  const alerts: React.ReactNode[] = [];
  if (!agent.running)
    alerts.push(
      <Alert
        key="down"
        variant="warning"
        isInline
        title={_("The agent is not running")}
        id="agent-down"
      >
        {_("Nothing watches this pair now. What is shown is what the agent published last.")}
      </Alert>,
    );
  if (agent.failure)
    alerts.push(
      <Alert key="failure" variant="danger" isInline title={_("Cannot read the agent")}>
        {agent.failure}
      </Alert>,
    );
  if (coloEnded(info.colo))
    alerts.push(
      <Alert key="ended" variant="danger" isInline title={_("COLO has ended")} id="colo-ended">
        {info.coloReason && <Content component="p">{info.coloReason}</Content>}
        <Content component="p">{endedAdvice(info)}</Content>
      </Alert>,
    );
  else if (info.colo === "unprotected")
    alerts.push(
      <Alert key="unprotected" variant="info" isInline title={_("Not replicating")}>
        {format(_("Replication is not running: colo-hybrid protect $0 starts it."), info.domain)}
      </Alert>,
    );
  if (info.lastError)
    alerts.push(
      <Alert key="error" variant="warning" isInline title={_("Last error")} id="last-error">
        {info.lastError}
      </Alert>,
    );
  return alerts.length > 0 ? <div className="colo-alerts">{alerts}</div> : null;
}

function Header({
  agent,
  info,
  admin,
}: {
  agent: AgentModel;
  info: AgentInfo;
  admin: boolean | null;
}) {
  const canFailover =
    admin === true && agent.running && (info.colo === "colo" || info.colo === "exited");
  // When the mode last changed, by the agent's clock.
  const since = info.history.findLast((h) => h.kind === "transition")?.t;
  return (
    <Flex alignItems={{ default: "alignItemsCenter" }} spaceItems={{ default: "spaceItemsMd" }}>
      <FlexItem>
        <Title headingLevel="h1" id="domain-title">
          {info.domain || agent.uuid}
        </Title>
      </FlexItem>
      <FlexItem>{roleText(info.role)}</FlexItem>
      <FlexItem>
        <StateLabel agent={agent} />
      </FlexItem>
      {hasMode(agent) && (
        <FlexItem id="domain-mode">
          <ModeLabel agent={agent} />
        </FlexItem>
      )}
      {info.role === "primary" && info.colo === "colo" && (
        <FlexItem className="colo-subtle" id="domain-mean">
          {format(_("mean $0, limit $1"), ms(info.mean), ms(Number(info.params["passive-limit"])))}
          {since !== undefined &&
            ` · ${format(_("$0 since $1"), info.mode === "passive" ? _("passive mode") : _("COLO mode"), clock(since))}`}
        </FlexItem>
      )}
      {canFailover && (
        <FlexItem align={{ default: "alignRight" }}>
          <FailoverButton busName={agent.busName} info={info} />
        </FlexItem>
      )}
    </Flex>
  );
}

interface StatusProps {
  agent: AgentModel;
  info: AgentInfo;
  cluster: ClusterState;
}

/** A secondary runs no policy: its checkpoints and mode are the primary's agent's to show. */
function SecondaryStatus({ agent, info, cluster }: StatusProps) {
  return (
    <div className="colo-status">
      <Alert variant="info" isInline title={_("Checkpoints are counted on the primary")}>
        {format(
          _(
            "The hybrid policy runs on the primary, $0 on $1; its agent shows the checkpoints and the mode.",
          ),
          info.peerDomain,
          info.peerUri,
        )}
      </Alert>
      <Gallery hasGutter minWidths={{ default: "100%", lg: "40%" }}>
        <PairCard info={info} uuid={agent.uuid} />
        <ClusterCard cluster={cluster} info={info} />
      </Gallery>
      <HistoryCard history={info.history} />
    </div>
  );
}

function StatusTab({ agent, info, cluster }: StatusProps) {
  const now = useNow(1000);
  const newest = agent.checkpoints?.at(-1)?.t ?? 0;
  const limit = info.params["passive-limit"];
  // The agent's "recent" window: RecentCheckpoints covers it, and the statistics beside it too.
  const span = Math.min(Math.max(info.stats["window-ms"] ?? 60_000, 10_000), CHECKPOINTS_KEPT_MS);
  return (
    <div className="colo-status">
      <Card>
        <CardTitle component="h2">{_("Checkpoint lengths")}</CardTitle>
        <CardBody>
          <CheckpointChart
            checkpoints={agent.checkpoints ?? []}
            limit={typeof limit === "number" ? limit : undefined}
            // A passive spell lasts until now only while the pair is still in COLO.
            mode={info.colo === "colo" ? info.mode : "colo"}
            // The browser's clock may lag the host's: never hide the newest checkpoint.
            now={Math.max(now, newest)}
            spanMs={span}
          />
        </CardBody>
      </Card>
      {/* Two by two: the cluster's card has more to say than the others. */}
      <Gallery hasGutter minWidths={{ default: "100%", lg: "40%" }}>
        <CheckpointsCard stats={info.stats} />
        <ModeShareCard stats={info.stats} />
        <PairCard info={info} uuid={agent.uuid} />
        <ClusterCard cluster={cluster} info={info} />
      </Gallery>
      <HistoryCard history={info.history} />
    </div>
  );
}

/** The domain's page before (or without) anything from its agent. */
function Unavailable({ agent, uuid }: { agent: AgentModel | undefined; uuid: string }) {
  let body: React.ReactNode;
  if (!agent)
    body = (
      <Alert variant="info" isInline title={_("No agent for this domain")}>
        {format(_("No agent for the domain with UUID $0 runs on this host."), uuid)}
      </Alert>
    );
  else if (agent.failure)
    body = (
      <Alert variant="danger" isInline title={_("Cannot read the agent")}>
        {agent.failure}
      </Alert>
    );
  else body = <EmptyState headingLevel="h2" titleText={_("Reading the agent")} icon={Spinner} />;
  return (
    <div className="colo-domain">
      <Title headingLevel="h1" id="domain-title">
        {uuid}
      </Title>
      {body}
    </div>
  );
}

export interface DomainViewProps {
  agent: AgentModel | undefined;
  uuid: string;
  tab: DomainTab;
  admin: boolean | null;
  cluster: ClusterState;
}

export function DomainView({ agent, uuid, tab, admin, cluster }: DomainViewProps) {
  const actions = useActions();
  const busName = agent?.busName;
  const running = agent?.running ?? false;
  const primary = agent?.info?.role === "primary";
  // Re-follow after an agent restart: the new one has its own recent checkpoints.
  useEffect(() => {
    if (busName === undefined || !running || !primary) return;
    return actions.followCheckpoints(busName);
  }, [actions, busName, running, primary]);

  const info = agent?.info;
  return (
    <>
      <PageSection>
        <Breadcrumb>
          <BreadcrumbItem>
            <Button variant="link" isInline onClick={() => navigate([])}>
              {_("Protected domains")}
            </Button>
          </BreadcrumbItem>
          <BreadcrumbItem isActive>{info?.domain || uuid}</BreadcrumbItem>
        </Breadcrumb>
      </PageSection>
      <PageSection>
        {!agent || !info ? (
          <Unavailable agent={agent} uuid={uuid} />
        ) : (
          <div className="colo-domain">
            <Header agent={agent} info={info} admin={admin} />
            <StateAlerts agent={agent} info={info} />
            <Tabs
              activeKey={tab}
              onSelect={(_event, key) =>
                navigate(key === "parameters" ? [uuid, "parameters"] : [uuid])
              }
              aria-label={_("Domain views")}
            >
              <Tab
                eventKey="status"
                title={<TabTitleText>{_("Status")}</TabTitleText>}
                id="tab-status"
              >
                {tab === "status" &&
                  (info.role === "secondary" ? (
                    <SecondaryStatus agent={agent} info={info} cluster={cluster} />
                  ) : (
                    <StatusTab agent={agent} info={info} cluster={cluster} />
                  ))}
              </Tab>
              <Tab
                eventKey="parameters"
                title={<TabTitleText>{_("Parameters")}</TabTitleText>}
                id="tab-parameters"
              >
                {tab === "parameters" && (
                  <Card className="colo-tab-card">
                    <CardBody>
                      <ParametersForm busName={agent.busName} info={info} admin={admin} />
                    </CardBody>
                  </Card>
                )}
              </Tab>
            </Tabs>
          </div>
        )}
      </PageSection>
    </>
  );
}
