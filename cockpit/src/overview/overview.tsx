// Every agent at a glance: one row per protected domain (or side of one) on this host.
import { Button, Card, CardBody, CardHeader, CardTitle } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { ms } from "../format.js";
import { _ } from "../i18n.js";
import { hasMode, ModeLabel, roleText, StateLabel } from "../labels.js";
import type { AgentModel } from "../model.js";
import type { PageState } from "../state.js";
import { DiscoveryFailed, NoAgents, Searching } from "./empty-state.js";

function meanText(agent: AgentModel): string {
  const info = agent.info;
  if (!info || !hasMode(agent)) return "—";
  const limit = info.params["passive-limit"];
  return `${ms(info.mean)} / ${typeof limit === "number" ? ms(limit) : "—"}`;
}

/** A pair's two sides next to each other: "web1", then "web1-secondary". */
const byDomain = (a: AgentModel, b: AgentModel) =>
  (a.info?.domain || a.uuid).localeCompare(b.info?.domain || b.uuid);

function AgentRow({ agent, onOpen }: { agent: AgentModel; onOpen: (uuid: string) => void }) {
  const info = agent.info;
  const perMinute = info?.stats["per-minute"];
  return (
    <Tr data-uuid={agent.uuid}>
      <Td dataLabel={_("Domain")}>
        <Button variant="link" isInline onClick={() => onOpen(agent.uuid)}>
          {info?.domain || agent.uuid}
        </Button>
      </Td>
      <Td dataLabel={_("Role")}>{roleText(info?.role ?? "")}</Td>
      <Td dataLabel={_("Peer")}>
        {info?.peerDomain ? (
          <>
            {info.peerDomain}
            <div className="colo-subtle">{info.peerUri}</div>
          </>
        ) : (
          "—"
        )}
      </Td>
      <Td dataLabel={_("Protection")}>
        <StateLabel agent={agent} />
      </Td>
      <Td dataLabel={_("Mode")}>{hasMode(agent) ? <ModeLabel agent={agent} /> : "—"}</Td>
      <Td dataLabel={_("Mean / limit")} modifier="nowrap">
        {meanText(agent)}
      </Td>
      <Td dataLabel={_("Checkpoints/min")}>
        {hasMode(agent) && perMinute !== undefined ? perMinute.toFixed(1) : "—"}
      </Td>
    </Tr>
  );
}

export function Overview({ state, onOpen }: { state: PageState; onOpen: (uuid: string) => void }) {
  const agents = [...state.agents.values()].sort(byDomain);
  let body: React.ReactNode;
  if (state.discovery.state === "failed")
    body = <DiscoveryFailed message={state.discovery.message} />;
  else if (agents.length > 0)
    body = (
      <Table aria-label={_("Protected domains")} variant="compact" id="agents">
        <Thead>
          <Tr>
            <Th modifier="wrap">{_("Domain")}</Th>
            <Th modifier="wrap">{_("Role")}</Th>
            <Th modifier="wrap">{_("Peer")}</Th>
            <Th modifier="wrap">{_("Protection")}</Th>
            <Th modifier="wrap">{_("Mode")}</Th>
            <Th modifier="wrap">{_("Mean / limit")}</Th>
            <Th modifier="wrap">{_("Checkpoints/min")}</Th>
          </Tr>
        </Thead>
        <Tbody>
          {agents.map((agent) => (
            <AgentRow key={agent.busName} agent={agent} onOpen={onOpen} />
          ))}
        </Tbody>
      </Table>
    );
  else if (state.discovery.state === "starting") body = <Searching />;
  else body = <NoAgents />;
  return (
    <Card>
      <CardHeader>
        <CardTitle component="h2">{_("Protected domains")}</CardTitle>
      </CardHeader>
      <CardBody>{body}</CardBody>
    </Card>
  );
}
