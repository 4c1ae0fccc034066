// The only module that runs Pacemaker's tools, through cockpit.spawn: crm_mon for the cluster's
// state, cibadmin for which resource is which pair (src/cluster/ reads both). Pacemaker pushes
// nothing to a page, so this polls, and only while a domain view shows the result.
import { parseColoResources } from "../../src/cluster/cib.js";
import { parseCrmMon } from "../../src/cluster/crm-mon.js";
import type { ProcessError } from "./cockpit.js";
import { _ } from "./i18n.js";
import type { ClusterState, Store } from "./state.js";

const POLL_MS = 5000;
/** crm_mon's and cibadmin's exit status when no cluster answers (CRM_EX_DISCONNECT). */
const NOT_CONNECTED = 102;
/** Their exit status when the cluster refuses this user (CRM_EX_INSUFFICIENT_PRIV). */
const NOT_PERMITTED = 4;

const CRM_MON = ["crm_mon", "-1", "--output-as=xml", "--fence-history=3"];
const CIBADMIN = ["cibadmin", "-Q", "--scope", "resources"];

// Pacemaker lets only root and group haclient read the cluster: through the administrative
// bridge when the session has one.
const run = (args: string[]) => cockpit.spawn(args, { superuser: "try", err: "message" });

async function readCluster(): Promise<ClusterState> {
  try {
    const status = parseCrmMon(await run(CRM_MON));
    return { state: "running", status, resources: parseColoResources(await run(CIBADMIN)) };
  } catch (e) {
    const error = e as Partial<ProcessError> | undefined;
    if (error?.problem === "not-found") return { state: "absent" };
    if (error?.exit_status === NOT_CONNECTED) return { state: "stopped" };
    if (error?.exit_status === NOT_PERMITTED)
      return {
        state: "failed",
        message: _("Not permitted: only root and members of group haclient may read the cluster."),
      };
    return { state: "failed", message: error?.message || String(e) };
  }
}

/**
 * Reads the cluster into the store now and every POLL_MS after each read (a slow crm_mon does
 * not pile up), until the returned function is called.
 */
export function followCluster(store: Store): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const poll = async () => {
    const cluster = await readCluster();
    if (stopped) return;
    store.setCluster(cluster);
    timer = setTimeout(poll, POLL_MS);
  };
  void poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    // The next view reads afresh rather than show what was true minutes ago.
    store.setCluster({ state: "reading" });
  };
}
