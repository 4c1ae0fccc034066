// The only module that talks to the agents (docs/dbus.md), through cockpit.dbus on the system
// bus: finds them by their bus-name prefix, follows their properties and signals into the
// store, and makes the calls the page's actions need. Nothing polls: the bus pushes.
import { BUS_NAME_PREFIX, INTERFACE, OBJECT_PATH, uuidOfBusName } from "../../src/dbus/names.js";
import type { ChannelClose, DBusClient, DBusError } from "./cockpit.js";
import { decodeCheckpoints, decodeProperties, encodePatch } from "./decode.js";
import { _, format } from "./i18n.js";
import type { Store } from "./state.js";

const BUS = "org.freedesktop.DBus";
const BUS_PATH = "/org/freedesktop/DBus";
/** Until the bus answers ListNames, the page says it is looking; past this, that it got none. */
const DISCOVERY_TIMEOUT_MS = 15_000;

/** What the components may ask of the agents (a fake stands in for it in component tests). */
export interface AgentActions {
  /** All or nothing; rejects with the agent's own message when it refuses. */
  setParameters(busName: string, patch: Readonly<Record<string, string | boolean>>): Promise<void>;
  failover(busName: string): Promise<void>;
  /** Keeps the agent's recent checkpoints in the store until the returned function is called. */
  followCheckpoints(busName: string): () => void;
}

/** The text to show for a failed call or channel: the agent's own message when it gave one. */
function errorMessage(e: unknown): string {
  const error = e as Partial<DBusError> | undefined;
  if (
    error?.problem === "access-denied" ||
    error?.name === "org.freedesktop.DBus.Error.AccessDenied"
  )
    return _("Not permitted: only root and members of group libvirt may talk to the agents.");
  return error?.message || String(e);
}

const isAgentName = (name: string) => name.startsWith(`${BUS_NAME_PREFIX}.`);

/** One agent's read channel: its properties and signals, until it leaves the bus. */
class AgentWatch {
  private readonly client: DBusClient;

  constructor(
    private readonly store: Store,
    readonly busName: string,
  ) {
    this.client = cockpit.dbus(busName, { bus: "system" });
    this.client.addEventListener("notify", (_event, data) => {
      const props = data[OBJECT_PATH]?.[INTERFACE];
      if (props) store.agentProperties(busName, decodeProperties(props));
    });
    this.client.addEventListener("close", (_event, close: ChannelClose) => {
      // "not-found" is the agent leaving, which NameOwnerChanged reports as well.
      if (close.problem && close.problem !== "not-found")
        store.agentFailed(busName, errorMessage(close));
    });
    // ModeChanged is not needed: Mode and History change with it, with the agent's own time.
    this.client.subscribe(
      { path: OBJECT_PATH, interface: INTERFACE, member: "Tick" },
      (_path, _iface, _member, args) => store.agentCheckpoints(busName, decodeCheckpoints(args[0])),
    );
    this.client
      .watch({ path: OBJECT_PATH, interface: INTERFACE })
      .then(undefined, (e: unknown) => store.agentFailed(busName, errorMessage(e)));
  }

  recentCheckpoints(): Promise<void> {
    return Promise.resolve(this.client.call(OBJECT_PATH, INTERFACE, "RecentCheckpoints", [])).then(
      (reply) => this.store.agentCheckpoints(this.busName, decodeCheckpoints(reply[0])),
    );
  }

  close(): void {
    this.client.close();
  }
}

/** Calls that change something go through the administrative bridge when the session has one. */
async function adminCall(
  busName: string,
  method: string,
  args: unknown[],
  type: string,
): Promise<void> {
  const client = cockpit.dbus(busName, { bus: "system", superuser: "try" });
  try {
    await client.call(OBJECT_PATH, INTERFACE, method, args, { type });
  } catch (e) {
    throw new Error(errorMessage(e));
  } finally {
    client.close();
  }
}

/**
 * Starts discovery and following, for the life of the page; returns the actions. Agents are
 * found by listing the bus's names and followed with NameOwnerChanged (subscribed first, so
 * that none is missed between the two).
 */
export function connectAgents(store: Store): AgentActions {
  const watches = new Map<string, AgentWatch>();
  const bus = cockpit.dbus(BUS, { bus: "system" });

  const appeared = (name: string) => {
    const uuid = uuidOfBusName(name);
    if (uuid === undefined || watches.has(name)) return;
    store.agentRunning(name, uuid);
    watches.set(name, new AgentWatch(store, name));
  };
  const left = (name: string) => {
    watches.get(name)?.close();
    watches.delete(name);
    store.agentStopped(name);
  };

  bus.subscribe(
    { path: BUS_PATH, interface: BUS, member: "NameOwnerChanged" },
    (_path, _iface, _member, args) => {
      const [name, , owner] = args as [string, string, string];
      if (!isAgentName(name)) return;
      if (owner) appeared(name);
      else left(name);
    },
  );
  // A bridge that cannot reach the system bus leaves the call pending rather than failing it.
  const timeout = setTimeout(() => {
    if (store.get().discovery.state === "starting")
      store.setDiscovery({ state: "failed", message: _("The system bus does not answer.") });
  }, DISCOVERY_TIMEOUT_MS);
  bus.call(BUS_PATH, BUS, "ListNames", []).then(
    (reply) => {
      clearTimeout(timeout);
      for (const name of (reply[0] as string[]).filter(isAgentName).sort()) appeared(name);
      store.setDiscovery({ state: "ready" });
    },
    (e: unknown) => {
      clearTimeout(timeout);
      store.setDiscovery({
        state: "failed",
        message: format(_("Cannot list the system bus: $0"), errorMessage(e)),
      });
    },
  );

  return {
    setParameters: (busName, patch) =>
      adminCall(busName, "SetParameters", [encodePatch(patch)], "a{sv}"),
    failover: (busName) => adminCall(busName, "Failover", [], ""),
    followCheckpoints(busName) {
      store.followCheckpoints(busName, true);
      watches
        .get(busName)
        ?.recentCheckpoints()
        .catch((e: unknown) => store.agentFailed(busName, errorMessage(e)));
      return () => store.followCheckpoints(busName, false);
    },
  };
}
