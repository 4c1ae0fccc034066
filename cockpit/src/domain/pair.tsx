// Who is who in the pair, and which QEMU each side runs (COLO's behaviour differs by version).
import { Card, CardBody, CardTitle } from "@patternfly/react-core";
import { _ } from "../i18n.js";
import { roleText } from "../labels.js";
import type { AgentInfo } from "../model.js";
import { TermList } from "./term-list.js";

const unknown = (version: string) => version || _("unknown");

export function PairCard({ info, uuid }: { info: AgentInfo; uuid: string }) {
  const rows: [string, React.ReactNode][] = [
    [_("This side"), `${roleText(info.role)}: ${info.domain}`],
    [_("Peer"), info.peerDomain ? `${info.peerDomain} (${info.peerUri})` : "—"],
    [_("QEMU, primary"), unknown(info.qemuPrimary)],
    [_("QEMU, secondary"), unknown(info.qemuSecondary)],
    [_("UUID"), uuid],
  ];
  return (
    <Card isFullHeight>
      <CardTitle component="h3">{_("Pair")}</CardTitle>
      <CardBody>
        <TermList id="pair" rows={rows} />
      </CardBody>
    </Card>
  );
}
