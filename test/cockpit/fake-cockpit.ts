// A stand-in for the global `cockpit` that base1/cockpit.js defines in the real page: gettext
// and format as Cockpit does them untranslated, a location kept in memory, D-Bus clients that
// record what the page asks and let a test play the bus's part, and spawn, which a test answers.
import type {
  ChannelClose,
  Cockpit,
  CockpitPromise,
  DBusClient,
  DBusMatch,
  DBusNotify,
  DBusOptions,
  ProcessError,
  SpawnOptions,
} from "../../cockpit/src/cockpit.js";

/** Any event's listener: each takes its own data type, so none can be called without a cast. */
type Listener = (event: Event, data: never) => void;

export interface FakeCall {
  client: FakeDBusClient;
  path: string;
  iface: string;
  method: string;
  args: unknown[];
  options: { type?: string } | undefined;
  resolve(reply: unknown[]): void;
  reject(error: { name?: string | null; problem?: string | null; message: string }): void;
}

/** Cockpit's promises resolve asynchronously, like real ones; a plain Promise does. */
function promise<T>(): {
  promise: CockpitPromise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const p = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise: p as unknown as CockpitPromise<T>, resolve, reject };
}

export class FakeDBusClient implements DBusClient {
  readonly listeners = new Map<string, Listener[]>();
  readonly subscriptions: {
    match: DBusMatch;
    callback: (...a: never[]) => void;
    active: boolean;
  }[] = [];
  readonly watches: { path: string; interface?: string }[] = [];
  closed = false;

  constructor(
    private readonly bus: FakeBus,
    readonly name: string | null,
    readonly options: DBusOptions,
  ) {}

  call(path: string, iface: string, method: string, args: unknown[], options?: { type?: string }) {
    const { promise: p, resolve, reject } = promise<unknown[]>();
    this.bus.calls.push({ client: this, path, iface, method, args, options, resolve, reject });
    this.bus.onCall?.(this.bus.calls.at(-1) as FakeCall);
    return p;
  }

  subscribe(
    match: DBusMatch,
    callback: (path: string, iface: string, member: string, args: unknown[]) => void,
  ) {
    const sub = { match, callback: callback as (...a: never[]) => void, active: true };
    this.subscriptions.push(sub);
    return { remove: () => (sub.active = false) };
  }

  watch(match: { path: string; interface?: string }) {
    this.watches.push(match);
    const { promise: p, resolve } = promise<void>();
    resolve();
    return Object.assign(p, { remove() {} });
  }

  proxy(): never {
    throw new Error("not faked");
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  close(): void {
    this.closed = true;
  }

  /** The bus's side: an event as Cockpit dispatches it. */
  emit(type: "notify", data: DBusNotify): void;
  emit(type: "close", data: ChannelClose): void;
  emit(type: string, data: unknown): void {
    for (const listener of this.listeners.get(type) ?? [])
      (listener as (event: Event, data: unknown) => void)(new Event(type), data);
  }

  /** The bus's side: a signal, delivered to the matching subscriptions. */
  signal(path: string, iface: string, member: string, args: unknown[]): void {
    for (const sub of this.subscriptions) {
      const m = sub.match;
      if (!sub.active || (m.path && m.path !== path) || (m.interface && m.interface !== iface))
        continue;
      if (m.member && m.member !== member) continue;
      (sub.callback as (...a: unknown[]) => void)(path, iface, member, args);
    }
  }
}

export class FakeBus {
  readonly clients: FakeDBusClient[] = [];
  readonly calls: FakeCall[] = [];
  onCall: ((call: FakeCall) => void) | undefined;

  client(name: string | null): FakeDBusClient {
    const found = this.clients.filter((c) => c.name === name && !c.closed).at(-1);
    if (!found) throw new Error(`no open client for ${name}`);
    return found;
  }

  callsOf(method: string): FakeCall[] {
    return this.calls.filter((c) => c.method === method);
  }
}

function format(template: string, ...args: unknown[]): string {
  return template.replace(/\$(\d+)/g, (_m, i: string) => String(args[Number(i)]));
}

/** What a spawned program does: writes `stdout` and exits 0, or fails as Cockpit says. */
export type FakeProcess = { stdout: string } | { problem: string } | { exitStatus: number };

export interface FakeCockpit extends Cockpit {
  bus: FakeBus;
  /** Every spawn the page made, in order. */
  spawned: { args: string[]; options: SpawnOptions | undefined }[];
  /** What a spawn does, by its arguments: by default, no such program ("not-found"). */
  onSpawn: (args: string[]) => FakeProcess;
}

/** A ProcessError, worded as cockpit.js words it when the bridge gave no message. */
function processError(
  args: string[],
  result: { problem: string } | { exitStatus: number },
): ProcessError {
  return "problem" in result
    ? { problem: result.problem, exit_status: null, message: result.problem }
    : {
        problem: null,
        exit_status: result.exitStatus,
        message: `${args[0]} exited with code ${result.exitStatus}`,
      };
}

/** Installs a fresh fake as the global `cockpit` and returns it. */
export function installFakeCockpit(): FakeCockpit {
  const bus = new FakeBus();
  const locationListeners = new Set<() => void>();
  let path: string[] = [];
  const fake: FakeCockpit = {
    bus,
    spawned: [],
    onSpawn: () => ({ problem: "not-found" }),
    spawn(args, options) {
      fake.spawned.push({ args, options });
      const result = fake.onSpawn(args);
      const { promise: p, resolve, reject } = promise<string>();
      if ("stdout" in result) resolve(result.stdout);
      else reject(processError(args, result));
      return p;
    },
    gettext: (text: string) => text,
    format,
    dbus(name, options) {
      const client = new FakeDBusClient(bus, name, options);
      bus.clients.push(client);
      return client;
    },
    permission: () => {
      throw new Error("not faked");
    },
    get location() {
      return {
        path,
        go(next: string[] | string) {
          path = typeof next === "string" ? next.split("/").filter(Boolean) : [...next];
          for (const listener of locationListeners) listener();
        },
      };
    },
    addEventListener: (_type, listener) => locationListeners.add(listener),
    removeEventListener: (_type, listener) => locationListeners.delete(listener),
  };
  globalThis.cockpit = fake;
  return fake;
}
