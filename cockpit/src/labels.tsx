// The words and colours for an agent's states, shared by the overview and the domain view.
import { Label } from "@patternfly/react-core";
import { _, format } from "./i18n.js";
import type { AgentModel } from "./model.js";

type Color = "green" | "blue" | "orange" | "red" | "grey" | "purple" | "teal";

function coloLook(colo: string): { text: string; color: Color } {
  switch (colo) {
    case "connecting":
      return { text: _("Connecting"), color: "grey" };
    case "unprotected":
      return { text: _("Unprotected"), color: "orange" };
    case "starting":
      return { text: _("Starting"), color: "blue" };
    case "colo":
      return { text: _("Protected"), color: "green" };
    case "exited":
      return { text: _("COLO ended"), color: "red" };
    case "failed-over":
      return { text: _("Failed over"), color: "red" };
    case "stopped":
      return { text: _("Domain stopped"), color: "grey" };
    default:
      return { text: colo, color: "grey" };
  }
}

/**
 * Whether the pair is protected (its COLO state), or why that is not known. Before the page has
 * read the agent's ColoState it says so, distinct from an agent that reports "connecting".
 */
export function StateLabel({ agent }: { agent: AgentModel }) {
  if (!agent.running)
    return (
      <Label color="red" variant="outline">
        {_("Agent not running")}
      </Label>
    );
  if (agent.failure)
    return (
      <Label color="red" variant="outline">
        {_("Cannot read agent")}
      </Label>
    );
  if (!agent.info?.colo)
    return (
      <Label color="grey" variant="outline" className="colo-reading">
        {_("Reading agent…")}
      </Label>
    );
  const look = coloLook(agent.info.colo);
  return <Label color={look.color}>{look.text}</Label>;
}

/**
 * The policy's mode means something only on a primary (the policy runs there; a secondary
 * always says "colo"), while its agent runs and the pair is in COLO.
 */
export function hasMode(agent: AgentModel): boolean {
  return agent.running && agent.info?.role === "primary" && agent.info.colo === "colo";
}

export function ModeLabel({ agent }: { agent: AgentModel }) {
  const info = agent.info;
  if (!info || !hasMode(agent)) return null;
  if (info.mode === "passive")
    return <Label color="purple">{format(_("Passive mode, $0 left"), info.passiveLeft)}</Label>;
  return <Label color="teal">{_("COLO mode")}</Label>;
}

export function roleText(role: string): string {
  if (role === "primary") return _("Primary");
  if (role === "secondary") return _("Secondary");
  return role || "—";
}
