// Entry point: cockpit.js (loaded first by index.html) gives the global `cockpit`; this starts
// following the theme, the session's administrative access and the agents, and renders.
import "@patternfly/react-core/dist/styles/base.css";
import "./page.css";
import { createRoot } from "react-dom/client";
import { connectAgents } from "./agents.js";
import { App } from "./app.js";
import { Store } from "./state.js";
import { followSuperuser } from "./superuser.js";
import { followTheme } from "./theme.js";

followTheme();
const store = new Store();
followSuperuser(store);
const actions = connectAgents(store);
const root = document.getElementById("app");
if (root) createRoot(root).render(<App store={store} actions={actions} />);
