// Rendering the page's components in jsdom for component tests: the App with a store and fake
// actions, as the page wires them.
import { cleanup, render } from "@testing-library/react";
import { createElement } from "react";
import { afterEach, vi } from "vitest";
import type { AgentActions } from "../../cockpit/src/agents.js";
import { App } from "../../cockpit/src/app.js";
import type { AgentModel } from "../../cockpit/src/model.js";
import { INITIAL_STATE, type PageState, Store } from "../../cockpit/src/state.js";
import { type FakeCockpit, installFakeCockpit } from "./fake-cockpit.js";

afterEach(cleanup);

export interface Rendered {
  cockpit: FakeCockpit;
  store: Store;
  actions: { [K in keyof AgentActions]: ReturnType<typeof vi.fn<AgentActions[K]>> };
}

/**
 * Renders the whole page at `path` (cockpit.location) with the given agents; `spawn` answers
 * the programs it runs (none is installed otherwise).
 */
export function renderPage(
  agents: AgentModel[],
  options: {
    path?: string[];
    admin?: boolean | null;
    state?: Partial<PageState>;
    spawn?: FakeCockpit["onSpawn"];
  } = {},
): Rendered {
  const cockpit = installFakeCockpit();
  if (options.spawn) cockpit.onSpawn = options.spawn;
  cockpit.location.go(options.path ?? []);
  const store = new Store({
    ...INITIAL_STATE,
    discovery: { state: "ready" },
    agents: new Map(agents.map((a) => [a.busName, a])),
    admin: options.admin ?? true,
    ...options.state,
  });
  const actions = {
    setParameters: vi.fn<AgentActions["setParameters"]>(async () => {}),
    failover: vi.fn<AgentActions["failover"]>(async () => {}),
    followCheckpoints: vi.fn<AgentActions["followCheckpoints"]>(() => () => {}),
  };
  render(createElement(App, { store, actions }));
  return { cockpit, store, actions };
}
