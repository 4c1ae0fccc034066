// The agents as a client sees them (the CLI, tests): found by their bus-name prefix, read whole,
// called, followed. Everything comes back as plain data (values.ts).
import { type Message, MessageType, Variant } from "@jellybrick/dbus-next";
import type { CheckpointRecord } from "../colo/stats.js";
import { ACCESS_DENIED, BusError, DBUS_NAME, SystemBus } from "./bus.js";
import { busNameForUuid, INTERFACE, OBJECT_PATH, uuidOfBusName } from "./names.js";
import {
  type AgentProperties,
  decodeCheckpoints,
  decodeProperties,
  type PropertyName,
  plain,
} from "./values.js";

const PROPERTIES_INTERFACE = "org.freedesktop.DBus.Properties";
/** What group libvirt may call (packaging/dbus/org.colo_hybrid.Agent.conf); the rest is root's. */
const READS = new Set(["Get", "GetAll", "RecentCheckpoints"]);
// Both change the domain through libvirt (metadata; QEMU's failover), which takes its time.
const SET_TIMEOUT_MS = 30_000;
const FAILOVER_TIMEOUT_MS = 120_000;

export interface AgentRef {
  busName: string;
  /** Lowercase, with dashes. */
  uuid: string;
}

export type AgentEvent =
  | { type: "mode-changed"; from: string; to: string; reason: string; mean: number }
  | { type: "tick"; checkpoints: CheckpointRecord[] }
  | { type: "properties"; changed: Partial<AgentProperties> }
  /** The agent left the bus, or came back (it is restarted with its domain). */
  | { type: "agent"; running: boolean };

export class AgentClient {
  private constructor(private readonly bus: SystemBus) {}

  static async connect(): Promise<AgentClient> {
    return new AgentClient(await SystemBus.connect());
  }

  /** The agents on the bus now, by UUID. */
  async agents(): Promise<AgentRef[]> {
    const [names] = await this.bus.callBus("ListNames");
    return (names as string[])
      .flatMap((busName) => {
        const uuid = uuidOfBusName(busName);
        return uuid === undefined ? [] : [{ busName, uuid }];
      })
      .sort((a, b) => a.uuid.localeCompare(b.uuid));
  }

  async properties(busName: string): Promise<AgentProperties> {
    const [props] = await this.call(busName, PROPERTIES_INTERFACE, "GetAll", "s", [INTERFACE]);
    return decodeProperties(props as Record<string, unknown>) as AgentProperties;
  }

  async property<K extends PropertyName>(busName: string, name: K): Promise<AgentProperties[K]> {
    const [value] = await this.call(busName, PROPERTIES_INTERFACE, "Get", "ss", [INTERFACE, name]);
    return decodeProperties({ [name]: value })[name] as AgentProperties[K];
  }

  /** All or nothing; values typed, or text as on the command line. */
  async setParameters(
    busName: string,
    patch: Readonly<Record<string, string | number | boolean>>,
  ): Promise<void> {
    const typed = Object.fromEntries(
      Object.entries(patch).map(([name, v]) => [name, new Variant(signatureOf(v), v)]),
    );
    await this.call(busName, INTERFACE, "SetParameters", "a{sv}", [typed], SET_TIMEOUT_MS);
  }

  async failover(busName: string): Promise<void> {
    await this.call(busName, INTERFACE, "Failover", "", [], FAILOVER_TIMEOUT_MS);
  }

  /**
   * Begins re-protection of the agent's side, running alone, with the secondary waiting on
   * `secondaryUri`'s host ("": its peer's); the agent's ColoState and LastError tell how it goes.
   */
  async resync(busName: string, secondaryUri = ""): Promise<void> {
    await this.call(busName, INTERFACE, "Resync", "s", [secondaryUri], SET_TIMEOUT_MS);
  }

  async resetStatistics(busName: string): Promise<void> {
    await this.call(busName, INTERFACE, "ResetStatistics");
  }

  async recentCheckpoints(busName: string): Promise<CheckpointRecord[]> {
    const [checkpoints] = await this.call(busName, INTERFACE, "RecentCheckpoints");
    return decodeCheckpoints(checkpoints);
  }

  /**
   * Calls `listener` with the agent's signals until the returned function is called. The match
   * rules are in place when this resolves; they name the well-known name, so they outlive a
   * restart of the agent.
   */
  async follow(busName: string, listener: (event: AgentEvent) => void): Promise<() => void> {
    const rules = [
      `type='signal',sender='${busName}',path='${OBJECT_PATH}'`,
      `type='signal',sender='${DBUS_NAME}',member='NameOwnerChanged',arg0='${busName}'`,
    ];
    // Signals come from the agent's unique name: the current one, learnt from the bus.
    let owner: string | undefined;
    const onMessage = (msg: Message) => {
      if (msg.type !== MessageType.SIGNAL) return;
      if (msg.sender === DBUS_NAME && msg.member === "NameOwnerChanged") {
        if (msg.body[0] !== busName) return;
        owner = (msg.body[2] as string) || undefined;
        listener({ type: "agent", running: owner !== undefined });
        return;
      }
      if (msg.sender !== owner || msg.path !== OBJECT_PATH) return;
      const event = decodeSignal(msg);
      if (event !== undefined) listener(event);
    };
    this.bus.bus.on("message", onMessage);
    for (const rule of rules) await this.bus.callBus("AddMatch", "s", [rule]);
    try {
      [owner] = (await this.bus.callBus("GetNameOwner", "s", [busName])) as [string];
    } catch (e) {
      if ((e as BusError).errorName !== "org.freedesktop.DBus.Error.NameHasNoOwner") throw e;
    }
    return () => {
      this.bus.bus.off("message", onMessage);
      for (const rule of rules) this.bus.callBus("RemoveMatch", "s", [rule]).catch(() => undefined);
    };
  }

  /** Settles when the connection to the bus breaks. */
  get lost(): Promise<BusError> {
    return this.bus.lost;
  }

  close(): void {
    this.bus.close();
  }

  private async call(
    busName: string,
    iface: string,
    member: string,
    signature = "",
    body: unknown[] = [],
    timeoutMs?: number,
  ): Promise<unknown[]> {
    const message = { destination: busName, path: OBJECT_PATH, interface: iface, member };
    try {
      return await this.bus.call({ ...message, signature, body }, timeoutMs);
    } catch (e) {
      // The bus's own text names rules and connections; say what the policy means instead.
      if (e instanceof BusError && e.errorName === ACCESS_DENIED)
        throw new BusError(
          ACCESS_DENIED,
          READS.has(member)
            ? "permission denied: only root and members of group 'libvirt' may read the agents"
            : `permission denied: only root may call ${member} (group 'libvirt' may only read)`,
        );
      throw e;
    }
  }
}

function signatureOf(v: string | number | boolean): string {
  if (typeof v === "boolean") return "b";
  if (typeof v === "string") return "s";
  return Number.isInteger(v) && v >= 0 ? "u" : "d";
}

function decodeSignal(msg: Message): AgentEvent | undefined {
  if (msg.interface === INTERFACE && msg.member === "ModeChanged") {
    const [from, to, reason, mean] = plain(msg.body) as [string, string, string, number];
    return { type: "mode-changed", from, to, reason, mean };
  }
  if (msg.interface === INTERFACE && msg.member === "Tick")
    return { type: "tick", checkpoints: decodeCheckpoints(msg.body[0]) };
  if (
    msg.interface === PROPERTIES_INTERFACE &&
    msg.member === "PropertiesChanged" &&
    msg.body[0] === INTERFACE
  )
    return {
      type: "properties",
      changed: decodeProperties(msg.body[1] as Record<string, unknown>),
    };
  return undefined;
}

/**
 * `use` with the agent of the domain `uuid` on this host's bus, when it runs; undefined when it
 * does not, or when there is no bus to find it on.
 */
export async function withAgentOf<T>(
  uuid: string,
  use: (client: AgentClient, busName: string) => Promise<T>,
): Promise<T | undefined> {
  const busName = busNameForUuid(uuid);
  const client = await AgentClient.connect().catch(() => undefined);
  if (client === undefined) return undefined;
  try {
    if (!(await client.agents()).some((a) => a.busName === busName)) return undefined;
    return await use(client, busName);
  } finally {
    client.close();
  }
}
