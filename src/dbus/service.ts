// An agent on the system bus (docs/dbus.md): its own bus name and one object whose properties
// follow the agent, methods that call into it, and signals: ModeChanged as it happens, Tick with
// the checkpoints that ended at most once a second, PropertiesChanged for what really changed at
// most a few times a second (the agent says "changed" far more often than anything changes).
// Only root may change an agent, and the agent checks that itself (rootOnly below).
import {
  DBusError,
  interface as dbusInterface,
  Message,
  NameFlag,
  RequestNameReply,
  type Variant,
} from "@jellybrick/dbus-next";
import type { AgentControl, SetParamsResult } from "../agent/status.js";
import type { Transition } from "../colo/events.js";
import type { CheckpointRecord } from "../colo/stats.js";
import { ACCESS_DENIED, type BusError, FAILED, INVALID_ARGS, SystemBus } from "./bus.js";
import { busNameForUuid, INTERFACE, OBJECT_PATH } from "./names.js";
import { Batcher, PROPERTIES_INTERVAL_MS, Throttle, TICK_INTERVAL_MS } from "./throttle.js";
import {
  CHECKPOINT,
  checkpointTuple,
  PROPERTIES,
  PROPERTY_NAMES,
  type PropertyName,
  plain,
  propertyValues,
} from "./values.js";

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

// The methods that change the agent, with their in signatures: root's only (docs/dbus.md). The
// bus policy says so too, but a policy file is configuration that another file, a local
// override or a mistake can open; the agent checks every such call itself, and refuses when it
// cannot tell who called.
//
// dbus-next calls a method with the message's body alone, so a method cannot know its caller,
// and its method handlers are synchronous while the caller's uid is a question to the bus. So a
// handler of ours (rootOnly) takes these calls over before the library dispatches them, asks the
// bus for the sender's uid, then answers AccessDenied or runs the method's one implementation
// (AgentInterface.runRootOnly) and answers. The members the library sees under these names stay
// for introspection, and only refuse: were a call ever to reach them past the handler (another
// library version dispatching differently), it would be refused, not run unchecked.
const ROOT_ONLY = {
  SetParameters: "a{sv}",
  Failover: "",
  ResetStatistics: "",
  Resync: "s",
} as const;
type RootOnly = keyof typeof ROOT_ONLY;
const isRootOnly = (member: string | undefined): member is RootOnly =>
  member !== undefined && Object.hasOwn(ROOT_ONLY, member);

const unchecked = (member: RootOnly) =>
  new DBusError(ACCESS_DENIED, `${member} needs root: the caller was not checked`);

class AgentInterface extends dbusInterface.Interface {
  private cached: Record<PropertyName, unknown> | undefined;

  constructor(private readonly control: AgentControl) {
    super(INTERFACE);
    // The library's constructor sets these as own fields (undefined), hiding what
    // configureMembers put on the prototype: without this the object exports no members.
    for (const k of ["$properties", "$methods", "$signals"] as const) delete this[k];
  }

  /** Every property from one status(): GetAll reads the properties one by one. */
  values(): Record<PropertyName, unknown> {
    if (this.cached === undefined) {
      this.cached = propertyValues(this.control.status());
      queueMicrotask(() => {
        this.cached = undefined;
      });
    }
    return this.cached;
  }

  /** A root-only method, its caller already known to be root (rootOnly). */
  async runRootOnly(member: RootOnly, body: unknown[]): Promise<void> {
    switch (member) {
      case "SetParameters":
        return this.setParameters(body[0] as Record<string, Variant>);
      case "Failover":
        return this.failover();
      case "ResetStatistics":
        return this.control.resetStats();
      case "Resync":
        return this.resync(body[0] as string);
    }
  }

  private async resync(secondaryUri: string): Promise<void> {
    try {
      await this.control.resync(secondaryUri);
    } catch (e) {
      throw new DBusError(FAILED, messageOf(e));
    }
  }

  private async setParameters(patch: Record<string, Variant>): Promise<void> {
    let result: SetParamsResult;
    try {
      result = await this.control.setParams(plain(patch) as Record<string, unknown>);
    } catch (e) {
      // Valid, but the agent could not store them (libvirt refused the metadata).
      throw new DBusError(FAILED, messageOf(e));
    }
    if (!result.ok)
      throw new DBusError(INVALID_ARGS, result.errors.map((e) => e.message).join("\n"));
  }

  private async failover(): Promise<void> {
    try {
      await this.control.failover();
    } catch (e) {
      throw new DBusError(FAILED, messageOf(e));
    }
  }

  // What the library would run for the root-only methods: nothing (see ROOT_ONLY).
  SetParameters(): never {
    throw unchecked("SetParameters");
  }

  Failover(): never {
    throw unchecked("Failover");
  }

  ResetStatistics(): never {
    throw unchecked("ResetStatistics");
  }

  Resync(): never {
    throw unchecked("Resync");
  }

  RecentCheckpoints(): unknown[] {
    return this.control.recent().map(checkpointTuple);
  }

  // Signals: dbus-next sends what these return.
  ModeChanged(t: Transition): unknown[] {
    return [t.from, t.to, t.reason, t.mean];
  }

  Tick(checkpoints: readonly CheckpointRecord[]): unknown[] {
    return checkpoints.map(checkpointTuple);
  }
}

for (const name of PROPERTY_NAMES) {
  Object.defineProperty(AgentInterface.prototype, name, {
    get(this: AgentInterface) {
      return this.values()[name];
    },
  });
}

AgentInterface.configureMembers({
  properties: Object.fromEntries(
    PROPERTY_NAMES.map((name) => [
      name,
      { signature: PROPERTIES[name].signature, access: dbusInterface.ACCESS_READ },
    ]),
  ),
  methods: {
    SetParameters: { inSignature: ROOT_ONLY.SetParameters },
    Failover: { inSignature: ROOT_ONLY.Failover },
    ResetStatistics: { inSignature: ROOT_ONLY.ResetStatistics },
    Resync: { inSignature: ROOT_ONLY.Resync },
    RecentCheckpoints: { outSignature: `a${CHECKPOINT}` },
  },
  signals: {
    ModeChanged: { signature: "sssd" },
    Tick: { signature: `a${CHECKPOINT}` },
  },
});

/** The caller's uid, from the bus; throws when the bus cannot say. */
async function callerUid(bus: SystemBus, sender: string | undefined): Promise<number> {
  if (sender === undefined) throw new Error("the call names no sender");
  const [uid] = await bus.callBus("GetConnectionUnixUser", "s", [sender]);
  if (typeof uid !== "number") throw new Error(`the bus answered ${JSON.stringify(uid)}`);
  return uid;
}

/** Throws AccessDenied unless the bus says `sender` is root. */
async function mustBeRoot(bus: SystemBus, member: RootOnly, sender: string | undefined) {
  let uid: number;
  try {
    uid = await callerUid(bus, sender);
  } catch (e) {
    throw new DBusError(
      ACCESS_DENIED,
      `${member} needs root: cannot tell who the caller is (${messageOf(e)})`,
    );
  }
  if (uid !== 0)
    throw new DBusError(ACCESS_DENIED, `${member} needs root: the caller is uid ${uid}`);
}

async function answerRootOnly(
  bus: SystemBus,
  iface: AgentInterface,
  msg: Message,
  member: RootOnly,
): Promise<void> {
  let reply: Message;
  try {
    await mustBeRoot(bus, member, msg.sender);
    await iface.runRootOnly(member, msg.body);
    reply = Message.newMethodReturn(msg);
  } catch (e) {
    reply =
      e instanceof DBusError
        ? Message.newError(msg, e.type, e.text)
        : Message.newError(msg, FAILED, messageOf(e));
  }
  try {
    bus.bus.send(reply);
  } catch {
    // The connection is gone: nobody to answer.
  }
}

/**
 * The method handler that takes the root-only calls over (see ROOT_ONLY): exactly those the
 * library would dispatch to them (path, interface, member, signature); any other it answers
 * itself, UnknownMethod, running nothing.
 */
function rootOnly(bus: SystemBus, iface: AgentInterface): (msg: Message) => boolean {
  return (msg) => {
    const { member } = msg;
    if (msg.path !== OBJECT_PATH || msg.interface !== INTERFACE || !isRootOnly(member))
      return false;
    if ((msg.signature || "") !== ROOT_ONLY[member]) return false;
    void answerRootOnly(bus, iface, msg, member);
    return true;
  };
}

export interface PublishedAgent {
  readonly busName: string;
  /** Settles, with why, if the connection to the bus breaks: the agent is then unreachable. */
  readonly lost: Promise<BusError>;
  /** Gives the name up and leaves the bus. */
  close(): Promise<void>;
}

/** Why `name` cannot be ours: who holds it. */
async function holder(bus: SystemBus, name: string): Promise<string> {
  try {
    const [owner] = await bus.callBus("GetNameOwner", "s", [name]);
    const [pid] = await bus.callBus("GetConnectionUnixProcessID", "s", [owner]);
    return `process ${pid} holds it (another agent of this domain?)`;
  } catch {
    return "another connection holds it";
  }
}

async function ownName(bus: SystemBus, name: string): Promise<void> {
  let reply: unknown;
  try {
    [reply] = await bus.callBus("RequestName", "su", [name, NameFlag.DO_NOT_QUEUE]);
  } catch (e) {
    throw new Error(
      `cannot own ${name} on the system bus: ${messageOf(e)} (is org.colo_hybrid.Agent.conf installed in /usr/share/dbus-1/system.d?)`,
    );
  }
  if (reply !== RequestNameReply.PRIMARY_OWNER)
    throw new Error(`cannot own ${name} on the system bus: ${await holder(bus, name)}`);
}

/** Puts the agent on the system bus under its domain's name; fails if that name is taken. */
export async function publishAgent(control: AgentControl, uuid: string): Promise<PublishedAgent> {
  const busName = busNameForUuid(uuid);
  const bus = await SystemBus.connect();
  const iface = new AgentInterface(control);
  const guard = rootOnly(bus, iface);
  bus.bus.addMethodHandler(guard);
  // Exported before the name is taken: whoever sees the name appear finds the object.
  bus.bus.export(OBJECT_PATH, iface);
  try {
    await ownName(bus, busName);
  } catch (e) {
    bus.close();
    throw e;
  }

  // What PropertiesChanged last said (or GetAll could have seen), by property, as JSON.
  const shown = new Map<string, string>();
  const changes = () => {
    const values = propertyValues(control.status());
    const changed: Record<string, unknown> = {};
    for (const name of PROPERTY_NAMES) {
      const text = JSON.stringify(values[name]);
      if (shown.get(name) === text) continue;
      shown.set(name, text);
      changed[name] = values[name];
    }
    return changed;
  };
  changes();
  const properties = new Throttle(PROPERTIES_INTERVAL_MS, () => {
    const changed = changes();
    if (Object.keys(changed).length > 0)
      dbusInterface.Interface.emitPropertiesChanged(iface, changed);
  });

  const tick = new Batcher<CheckpointRecord>(TICK_INTERVAL_MS, (ended) => iface.Tick(ended));

  const onChanged = () => properties.trigger();
  const onTransition = (t: Transition) => iface.ModeChanged(t);
  const onCheckpoint = (c: CheckpointRecord) => tick.add(c);
  control.on("changed", onChanged);
  control.on("transition", onTransition);
  control.on("checkpoint", onCheckpoint);

  let closed = false;
  return {
    busName,
    lost: bus.lost,
    async close() {
      if (closed) return;
      closed = true;
      control.off("changed", onChanged);
      control.off("transition", onTransition);
      control.off("checkpoint", onCheckpoint);
      properties.cancel();
      tick.cancel();
      // Leaving the bus releases the name too; released first, it never names a missing object.
      await bus.callBus("ReleaseName", "s", [busName]).catch(() => undefined);
      bus.bus.unexport(OBJECT_PATH, iface);
      bus.bus.removeMethodHandler(guard);
      bus.close();
    },
  };
}
