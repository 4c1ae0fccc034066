// One connection to the system bus and the one way to call over it: every call has a time limit
// and fails, rather than hangs, when the connection breaks (dbus-next leaves such calls pending).
import type { EventEmitter } from "node:events";
import {
  DBusError,
  Message,
  type MessageBus,
  type MessageLike,
  systemBus,
} from "@jellybrick/dbus-next";

export const DBUS_NAME = "org.freedesktop.DBus";
const DBUS_PATH = "/org/freedesktop/DBus";
// Error names: the bus's, and the agents' own (docs/dbus.md).
export const ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied";
export const INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs";
export const FAILED = "org.colo_hybrid.Error.Failed";
const NO_REPLY = "org.freedesktop.DBus.Error.NoReply";
const DISCONNECTED = "org.freedesktop.DBus.Error.Disconnected";

const CONNECT_TIMEOUT_MS = 10_000;
const CALL_TIMEOUT_MS = 10_000;

/** A D-Bus error: its name (`org.freedesktop.DBus.Error.InvalidArgs`) and its message. */
export class BusError extends Error {
  constructor(
    readonly errorName: string,
    message: string,
  ) {
    super(message);
  }
}

// dbus-next emits "error" on the bus and "end" on its connection without declaring either.
const emitter = (x: unknown) => x as EventEmitter;

const socketPath = () =>
  (process.env.DBUS_SYSTEM_BUS_ADDRESS ?? "unix:path=/run/dbus/system_bus_socket").replace(
    /^unix:path=/,
    "",
  );

export class SystemBus {
  /** Settles with why, when the connection breaks; never after close(). */
  readonly lost: Promise<BusError>;
  private closing = false;
  // Rejects when the connection ends either way: calls still waiting fail at once with it.
  private end!: (why: BusError) => void;
  private readonly ended = new Promise<never>((_, reject) => {
    this.end = reject;
  });

  private constructor(readonly bus: MessageBus) {
    this.ended.catch(() => undefined);
    this.lost = new Promise((resolve) => {
      const broken = (why: string) => {
        if (this.closing) return;
        const error = new BusError(DISCONNECTED, `lost the system bus: ${why}`);
        this.end(error);
        resolve(error);
      };
      emitter(bus).on("error", (e: Error) => broken(e.message));
      emitter((bus as unknown as { _connection: unknown })._connection).on("end", () =>
        broken("the bus closed the connection"),
      );
    });
  }

  static async connect(): Promise<SystemBus> {
    const bus = systemBus();
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)),
          CONNECT_TIMEOUT_MS,
        );
        bus.once("connect", () => {
          clearTimeout(timer);
          resolve();
        });
        emitter(bus).once("error", (e: Error) => {
          clearTimeout(timer);
          reject(e);
        });
      });
    } catch (e) {
      bus.disconnect();
      throw new BusError(
        DISCONNECTED,
        `cannot connect to the system bus at ${socketPath()}: ${(e as Error).message}`,
      );
    }
    return new SystemBus(bus);
  }

  /** The reply's body; a D-Bus error reply, a timeout or a lost connection throws BusError. */
  async call(message: MessageLike, timeoutMs = CALL_TIMEOUT_MS): Promise<unknown[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const what = `${message.interface}.${message.member}`;
        reject(
          new BusError(
            NO_REPLY,
            `no reply to ${what} from ${message.destination} within ${timeoutMs / 1000} s`,
          ),
        );
      }, timeoutMs);
    });
    try {
      const reply = await Promise.race([this.bus.call(new Message(message)), this.ended, timeout]);
      return reply?.body ?? [];
    } catch (e) {
      if (e instanceof DBusError) throw new BusError(e.type, e.text ?? e.type);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A method of the bus itself (ListNames, RequestName, AddMatch…). */
  callBus(member: string, signature = "", body: unknown[] = []): Promise<unknown[]> {
    return this.call({
      destination: DBUS_NAME,
      path: DBUS_PATH,
      interface: DBUS_NAME,
      member,
      signature,
      body,
    });
  }

  close(): void {
    this.closing = true;
    this.end(new BusError(DISCONNECTED, "the connection to the system bus was closed"));
    this.bus.disconnect();
  }
}
