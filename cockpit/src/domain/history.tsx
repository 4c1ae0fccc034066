// What happened to the pair, newest first: mode transitions, COLO changes, parameter changes,
// failovers and errors, each with its time and the agent's reason.
import { Card, CardBody, CardTitle, Label } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { dateTime } from "../format.js";
import { _ } from "../i18n.js";
import type { HistoryEntry } from "../model.js";

function KindLabel({ kind }: { kind: string }) {
  switch (kind) {
    case "transition":
      return <Label color="purple">{_("Mode")}</Label>;
    case "colo":
      return <Label color="blue">{_("COLO")}</Label>;
    case "params":
      return <Label color="grey">{_("Parameters")}</Label>;
    case "failover":
      return <Label color="orange">{_("Failover")}</Label>;
    case "error":
      return <Label color="red">{_("Error")}</Label>;
    default:
      return <Label>{kind}</Label>;
  }
}

export function HistoryCard({ history }: { history: readonly HistoryEntry[] }) {
  const newestFirst = [...history].reverse();
  return (
    <Card>
      <CardTitle component="h3">{_("History")}</CardTitle>
      <CardBody>
        {newestFirst.length === 0 ? (
          <div className="colo-subtle">{_("Nothing has happened since the agent started.")}</div>
        ) : (
          <Table aria-label={_("History")} variant="compact" id="history">
            <Thead>
              <Tr>
                <Th width={20}>{_("Time")}</Th>
                <Th width={15}>{_("What")}</Th>
                <Th>{_("Details")}</Th>
              </Tr>
            </Thead>
            <Tbody>
              {newestFirst.map((entry) => (
                <Tr key={`${entry.t} ${entry.kind} ${entry.message}`}>
                  <Td dataLabel={_("Time")}>{dateTime(entry.t)}</Td>
                  <Td dataLabel={_("What")}>
                    <KindLabel kind={entry.kind} />
                  </Td>
                  <Td dataLabel={_("Details")}>{entry.message}</Td>
                </Tr>
              ))}
            </Tbody>
          </Table>
        )}
      </CardBody>
    </Card>
  );
}
