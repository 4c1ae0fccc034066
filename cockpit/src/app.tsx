// The page: the overview, or one domain when the location names its UUID.
import { Page, PageSection, Title } from "@patternfly/react-core";
import { useEffect } from "react";
import type { AgentActions } from "./agents.js";
import { followCluster } from "./cluster.js";
import { ActionsContext } from "./context.js";
import { DomainView } from "./domain/domain-view.js";
import { _ } from "./i18n.js";
import { navigate, useLocationPath } from "./location.js";
import { Overview } from "./overview/overview.js";
import { type Store, usePageState } from "./state.js";

export function App({ store, actions }: { store: Store; actions: AgentActions }) {
  const state = usePageState(store);
  const [uuid, tab] = useLocationPath();
  const agent = uuid ? [...state.agents.values()].find((a) => a.uuid === uuid) : undefined;
  // The cluster is shown only beside a domain: read it only then.
  const domainShown = Boolean(uuid);
  useEffect(() => (domainShown ? followCluster(store) : undefined), [store, domainShown]);
  return (
    <ActionsContext.Provider value={actions}>
      <Page isContentFilled sidebar={null}>
        {uuid ? (
          <DomainView
            // Another domain starts afresh (its form edits, its dialog).
            key={uuid}
            agent={agent}
            uuid={uuid}
            tab={tab === "parameters" ? "parameters" : "status"}
            admin={state.admin}
            cluster={state.cluster}
          />
        ) : (
          <>
            <PageSection>
              <Title headingLevel="h1">{_("COLO protection")}</Title>
            </PageSection>
            <PageSection>
              <Overview state={state} onOpen={(id) => navigate([id])} />
            </PageSection>
          </>
        )}
      </Page>
    </ActionsContext.Provider>
  );
}
