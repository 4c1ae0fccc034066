// The cluster's view of the pair, beside the pair's own (cluster.ts reads it from Pacemaker's
// tools): where the pair's resource is promoted and unpromoted, what failed, whether this
// partition has quorum, the nodes, and fencing, which a safe failover needs.
import {
  Card,
  CardBody,
  CardTitle,
  CodeBlock,
  CodeBlockCode,
  Content,
  Flex,
  Label,
  List,
  ListItem,
} from "@patternfly/react-core";
import { type ColoResource, coloResourceOf } from "../../../src/cluster/cib.js";
import {
  type CrmMon,
  type FailedAction,
  type FenceEvent,
  instancesOf,
  type NodeStatus,
  type ResourceStatus,
} from "../../../src/cluster/crm-mon.js";
import { dateTime } from "../format.js";
import { _, format } from "../i18n.js";
import type { AgentInfo } from "../model.js";
import type { ClusterState } from "../state.js";
import { TermList } from "./term-list.js";

/** crm_mon gives the whole fence history; beside a pair, the latest few tell what happened. */
const FENCE_EVENTS_SHOWN = 5;

/**
 * README's configuration of a pair, as one crmsh transaction: a primitive committed alone would
 * start as a plain resource before its clone exists.
 */
function crmConfiguration(primary: string, secondary: string): string {
  const id = `colo-${primary}`;
  const params =
    secondary === "" || secondary === `${primary}-secondary`
      ? `domain=${primary}`
      : `domain=${primary} secondary=${secondary}`;
  return [
    "crm configure load update - <<'EOF'",
    `primitive ${id} ocf:colo-hybrid:colo params ${params} \\`,
    "  op monitor interval=2s role=Promoted timeout=20s op monitor interval=3s role=Unpromoted timeout=20s \\",
    "  op start timeout=60s op stop timeout=60s op promote timeout=60s op demote timeout=60s",
    `clone ${id}-clone ${id} meta promotable=true promoted-max=1 \\`,
    "  promoted-node-max=1 clone-max=2 clone-node-max=1 notify=true",
    `location ${id}-not-quorum ${id}-clone -inf: QUORUM-NODE`,
    "EOF",
  ].join("\n");
}

/** The nodes of the instances in `role`, a failed one marked; "none" without any. */
function placed(instances: readonly ResourceStatus[], role: string): string {
  const nodes = instances
    .filter((i) => i.role === role)
    .flatMap((i) => i.nodes.map((n) => (i.failed ? format(_("$0 (failed)"), n) : n)));
  return nodes.length > 0 ? nodes.join(", ") : _("none");
}

function failedText(f: FailedAction): string {
  const result = f.reason ? format(_("$0 ($1)"), f.result, f.reason) : f.result;
  const text = format(_("$0 on $1: $2"), f.task, f.node, result);
  return f.at === undefined ? text : format(_("$0, $1"), text, dateTime(f.at));
}

function fenceText(e: FenceEvent): string {
  const what = e.executioner ? format(_("$0 by $1"), e.action, e.executioner) : e.action;
  const text = format(_("$0: $1 ($2)"), e.target, what, e.status);
  return e.completed === undefined ? text : format(_("$0, $1"), text, dateTime(e.completed));
}

function quorumText(status: CrmMon): string {
  if (status.dc === undefined) return _("No DC: nothing is decided until one is elected");
  return status.quorum
    ? format(_("Partition with quorum, DC $0"), status.dc)
    : format(_("Partition WITHOUT quorum, DC $0"), status.dc);
}

function deviceText(r: ResourceStatus): string {
  const text =
    r.nodes.length > 0
      ? format(_("$0 on $1"), r.id, r.nodes.join(", "))
      : format(_("$0: $1"), r.id, r.role);
  return r.failed ? format(_("$0 (failed)"), text) : text;
}

const lines = (texts: readonly string[]) => (
  <List isPlain>
    {texts.map((t) => (
      <ListItem key={t}>{t}</ListItem>
    ))}
  </List>
);

type Row = [term: string, value: React.ReactNode];

function resourceRows(status: CrmMon, resource: ColoResource): Row[] {
  // An orphan is an instance Pacemaker has history of but no longer runs: not the pair's.
  const instances = instancesOf(status, resource.id).filter((i) => !i.orphaned);
  const stopped = instances.filter((i) => i.role === "Stopped").length;
  const failures = status.failures.filter((f) => f.resource === resource.id);
  const rows: Row[] = [
    [_("Resource"), resource.clone ?? resource.id],
    [_("Promoted"), placed(instances, "Promoted")],
    [_("Unpromoted"), placed(instances, "Unpromoted")],
  ];
  if (stopped > 0)
    rows.push([_("Stopped"), format(_("$0 of $1 instances"), stopped, instances.length)]);
  if (failures.length > 0) rows.push([_("Failed actions"), lines(failures.map(failedText))]);
  return rows;
}

function NodeLabel({ node }: { node: NodeStatus }) {
  if (node.unclean)
    return (
      <Label isCompact color="red">
        {format(_("$0 UNCLEAN"), node.name)}
      </Label>
    );
  return (
    <Label isCompact color={node.online ? "green" : "grey"}>
      {format(node.online ? _("$0 online") : _("$0 offline"), node.name)}
    </Label>
  );
}

function RunningCluster({
  status,
  resources,
  info,
}: {
  status: CrmMon;
  resources: readonly ColoResource[];
  info: AgentInfo;
}) {
  const resource = coloResourceOf(resources, info.domain);
  const devices = status.resources.filter((r) => r.agent.startsWith("stonith:"));
  const events = status.fenceHistory.slice(0, FENCE_EVENTS_SHOWN);
  const rows: Row[] = resource
    ? resourceRows(status, resource)
    : [[_("Resource"), _("Not a cluster resource")]];
  rows.push(
    [_("Quorum"), quorumText(status)],
    [
      _("Nodes"),
      <Flex key="nodes" spaceItems={{ default: "spaceItemsSm" }}>
        {status.nodes.map((n) => (
          <NodeLabel key={n.name} node={n} />
        ))}
      </Flex>,
    ],
    [
      _("Fencing"),
      status.stonithEnabled
        ? _("Enabled")
        : _("Disabled: a lost node is not fenced before its peer is promoted"),
    ],
    [_("Fence devices"), devices.length > 0 ? lines(devices.map(deviceText)) : _("none")],
  );
  if (events.length > 0) rows.push([_("Fence events"), lines(events.map(fenceText))]);
  // The primary's name is the resource's `domain` parameter.
  const [primary, secondary] =
    info.role === "secondary" ? [info.peerDomain, info.domain] : [info.domain, info.peerDomain];
  return (
    <>
      <TermList id="cluster" rows={rows} />
      {!resource && (
        <>
          <Content component="p">
            {_(
              "To make the pair a promotable clone, as root on any node (QUORUM-NODE: a node that runs neither side; without one, leave that line out):",
            )}
          </Content>
          <CodeBlock className="colo-commands" id="cluster-hint">
            <CodeBlockCode>{crmConfiguration(primary, secondary)}</CodeBlockCode>
          </CodeBlock>
        </>
      )}
    </>
  );
}

/** Nothing where Pacemaker is not installed, nor before the first read. */
export function ClusterCard({ cluster, info }: { cluster: ClusterState; info: AgentInfo }) {
  if (cluster.state === "reading" || cluster.state === "absent") return null;
  return (
    <Card isFullHeight id="cluster-card">
      <CardTitle component="h3">{_("Cluster")}</CardTitle>
      <CardBody>
        {cluster.state === "running" ? (
          <RunningCluster status={cluster.status} resources={cluster.resources} info={info} />
        ) : (
          <Content component="p" id="cluster-message">
            {cluster.state === "stopped"
              ? _("Pacemaker is not running on this host.")
              : format(_("Cannot read the cluster: $0"), cluster.message)}
          </Content>
        )}
      </CardBody>
    </Card>
  );
}
