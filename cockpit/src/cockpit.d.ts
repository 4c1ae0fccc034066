// Typings for the part of Cockpit's API (base1/cockpit.js, loaded by index.html from the
// host's own Cockpit) that the page uses. Checked against Cockpit 287's cockpit.js.

/** A D-Bus variant as the dbus-json3 channel carries it. */
export interface Variant {
  t: string;
  v: unknown;
}

/**
 * Cockpit's own promises: thenables whose callbacks may get more than one value (a D-Bus call
 * resolves with the reply's arguments and then its type); `await` sees the first.
 */
export interface CockpitPromise<T> extends PromiseLike<T> {
  catch(onRejected: (reason: unknown) => void): CockpitPromise<T>;
}

/** What a failed call or channel rejects with: a D-Bus error (name set) or a channel problem. */
export interface DBusError {
  name: string | null;
  problem: string | null;
  message: string;
}

export interface DBusMatch {
  path?: string;
  path_namespace?: string;
  interface?: string;
  member?: string;
  arg0?: string;
}

export interface DBusSubscription {
  remove(): void;
}

/** Property values by object path, then interface, then property name (changed ones only). */
export type DBusNotify = Record<string, Record<string, Record<string, unknown>>>;

/** The close of a channel: `problem` is "not-found", "access-denied", "disconnected"... */
export interface ChannelClose {
  problem?: string;
  message?: string;
}

export interface DBusClient {
  /** Resolves with the reply's arguments; `type` (the input signature) saves an introspection. */
  call(
    path: string,
    iface: string,
    method: string,
    args: unknown[],
    options?: { type?: string },
  ): CockpitPromise<unknown[]>;
  subscribe(
    match: DBusMatch,
    callback: (path: string, iface: string, member: string, args: unknown[]) => void,
  ): DBusSubscription;
  /** Fetches the properties at `path` and follows PropertiesChanged, as "notify" events. */
  watch(match: { path: string; interface?: string }): CockpitPromise<void> & { remove(): void };
  proxy(iface: string, path: string): DBusProxy;
  addEventListener(type: "notify", listener: (event: Event, data: DBusNotify) => void): void;
  addEventListener(type: "close", listener: (event: Event, close: ChannelClose) => void): void;
  addEventListener(type: "owner", listener: (event: Event, owner: string | null) => void): void;
  close(problem?: string): void;
}

export interface DBusProxy {
  readonly valid: boolean;
  readonly data: Record<string, unknown>;
  wait(): CockpitPromise<void>;
  addEventListener(type: "changed", listener: () => void): void;
}

export interface DBusOptions {
  bus: "system" | "session" | "internal";
  /** "try": through the administrative (superuser) bridge when the session has one. */
  superuser?: "try" | "require";
}

export interface SpawnOptions {
  /** "try": through the administrative (superuser) bridge when the session has one. */
  superuser?: "try";
  /** "message": the process's stderr becomes the error's message. */
  err?: "message";
}

/**
 * What a failed spawn rejects with: a problem ("not-found": no such program) or, for a process
 * that exited non-zero, its exit status.
 */
export interface ProcessError {
  problem: string | null;
  exit_status: number | null;
  message: string;
}

export interface CockpitLocation {
  /** The page's own path, below its URL (from the URL's hash when inside the shell). */
  readonly path: string[];
  go(path: string[] | string): void;
}

export interface Permission {
  readonly allowed: boolean | null;
  addEventListener(type: "changed", listener: () => void): void;
}

export interface Cockpit {
  gettext(text: string): string;
  /** "$0 of $1" with the arguments in place. */
  format(template: string, ...args: unknown[]): string;
  dbus(name: string | null, options: DBusOptions): DBusClient;
  /** Runs a program on the host; resolves with its standard output. */
  spawn(args: string[], options?: SpawnOptions): CockpitPromise<string>;
  permission(options: { admin: boolean }): Permission;
  readonly location: CockpitLocation;
  addEventListener(type: "locationchanged", listener: () => void): void;
  removeEventListener(type: "locationchanged", listener: () => void): void;
}

declare global {
  /** Defined by ../base1/cockpit.js before the page's bundle runs. */
  var cockpit: Cockpit;
}
