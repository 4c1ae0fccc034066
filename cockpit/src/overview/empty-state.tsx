// What the overview says when there is nothing to list, or nothing can be listed.
import {
  CodeBlock,
  CodeBlockCode,
  Content,
  EmptyState,
  EmptyStateBody,
  Spinner,
} from "@patternfly/react-core";
import { ExclamationCircleIcon } from "@patternfly/react-icons/dist/esm/icons/exclamation-circle-icon.js";
import { _ } from "../i18n.js";

/** README.md "Protecting a domain", with a placeholder domain. */
const PROTECT_COMMANDS = [
  "colo-hybrid pair create DOMAIN --secondary-uri qemu:///system --base-port 9000",
  "virsh start DOMAIN-secondary --paused && virsh start DOMAIN",
  "colo-hybrid protect DOMAIN",
].join("\n");

export function NoAgents() {
  return (
    <EmptyState headingLevel="h2" titleText={_("No protected domains")} id="no-agents">
      <EmptyStateBody>
        <Content component="p">
          {_(
            "No colo-hybrid agent runs on this host. A protected domain's agent starts with the domain and shows up here by itself.",
          )}
        </Content>
        <Content component="p">{_("To protect a shut-off domain, as root in a shell:")}</Content>
        <CodeBlock className="colo-commands">
          <CodeBlockCode>{PROTECT_COMMANDS}</CodeBlockCode>
        </CodeBlock>
      </EmptyStateBody>
    </EmptyState>
  );
}

export function Searching() {
  return <EmptyState headingLevel="h2" titleText={_("Looking for agents")} icon={Spinner} />;
}

export function DiscoveryFailed({ message }: { message: string }) {
  return (
    <EmptyState
      headingLevel="h2"
      titleText={_("Cannot look for agents")}
      icon={ExclamationCircleIcon}
      status="danger"
    >
      <EmptyStateBody>{message}</EmptyStateBody>
    </EmptyState>
  );
}
