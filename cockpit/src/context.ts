// What every component may need beyond its props: the agents' actions (real in the page, a fake
// in component tests).
import { createContext, useContext } from "react";
import type { AgentActions } from "./agents.js";

export const ActionsContext = createContext<AgentActions | undefined>(undefined);

export function useActions(): AgentActions {
  const actions = useContext(ActionsContext);
  if (!actions) throw new Error("useActions outside ActionsContext");
  return actions;
}
