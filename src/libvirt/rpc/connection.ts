// One RPC connection to a libvirt daemon over any byte stream: calls matched to replies by
// serial, server events dispatched by program and procedure, keepalive answered and sent.
// It does not reconnect: client.ts makes a new one when this one closes.
//
// Bytes that are not libvirt's protocol (a bad length, a body that does not decode) close the
// connection. An event handler that throws is not the server's fault: its error is emitted as
// "handlerError" and the frames after it are dispatched as usual.
import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { LibvirtError } from "../errors.js";
import { directRead } from "../transport/direct-read.js";
import { decodeBody, decodeFrame, encodeMessage, FrameDecoder, type Header } from "./message.js";
import {
  KEEPALIVE,
  KeepaliveProc,
  MessageStatus,
  MessageType,
  type Procedure,
  type Program,
  remoteError,
} from "./protocol.js";
import type { XdrType, XdrValue } from "./xdr.js";

export interface ConnectionOptions {
  /** Default time a call may take, ms. */
  callTimeout: number;
  /** Calls marked slow (they may wait on QEMU) get this long, ms. */
  slowCallTimeout: number;
  /** Send a keepalive ping after this long without hearing from the server, ms (0: never). */
  keepaliveInterval: number;
  /** Give up after this many unanswered pings. */
  keepaliveCount: number;
}

export const DEFAULT_CONNECTION_OPTIONS: ConnectionOptions = {
  callTimeout: 30_000,
  slowCallTimeout: 60_000,
  keepaliveInterval: 5_000,
  keepaliveCount: 5,
};

interface Pending {
  ret: XdrType;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  /** performance.now() after which the call has timed out. */
  deadline: number;
  timeout: number;
  name: string;
}

/** How often pending calls are checked for their timeout, ms: one timer, not one per call. */
const SWEEP_INTERVAL = 250;

export type EventHandler<T extends XdrType = XdrType> = (
  value: XdrValue<T>,
  header: Header,
) => void;

interface EventRoute {
  type: XdrType;
  handler: EventHandler;
}

/**
 * Emits "close" (with the Error that ended it, or undefined when closed on purpose) once, and
 * "handlerError" (the Error an event handler threw, header) for each handler that throws.
 */
export class RpcConnection extends EventEmitter {
  private readonly opts: ConnectionOptions;
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  /** Event routes by program and procedure: (prog * 2^16 + proc), both small in practice. */
  private readonly handlers = new Map<number, EventRoute>();
  private serial = 0;
  private closed = false;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private unanswered = 0;
  /** performance.now() when the server was last heard from. */
  private lastHeard = performance.now();
  private readonly onFrame = (frame: Buffer) => this.dispatch(frame);

  constructor(
    private readonly stream: Duplex,
    options: Partial<ConnectionOptions> = {},
  ) {
    super();
    this.opts = { ...DEFAULT_CONNECTION_OPTIONS, ...options };
    const direct = directRead(stream);
    if (direct) {
      // Reads arrive in a reused buffer, decoded before the next read.
      direct.sink = (chunk) => this.receive(chunk, true);
      for (const chunk of direct.early.splice(0)) this.receive(chunk);
    } else {
      stream.on("data", (chunk: Buffer) => this.receive(chunk));
    }
    stream.resume(); // a transport may have paused it to read a greeting (TLS)
    stream.on("error", (e: Error) =>
      this.close(new LibvirtError("connection", `connection failed: ${e.message}`)),
    );
    stream.on("close", () =>
      this.close(new LibvirtError("connection", "connection closed by the server")),
    );
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Handles server messages of one event procedure, decoded as `type`. A body that does not
   * decode closes the connection; a handler that throws is reported as "handlerError".
   */
  onEvent<T extends XdrType>(
    program: Program,
    proc: number,
    type: T,
    handler: EventHandler<T>,
  ): void {
    this.handlers.set(routeKey(program.prog, proc), { type, handler: handler as EventHandler });
  }

  /** Starts pinging; call once the server said it supports keepalive. */
  startKeepalive(): void {
    if (this.opts.keepaliveInterval <= 0 || this.closed) return;
    this.armKeepalive();
  }

  call<A extends XdrType, R extends XdrType>(
    procedure: Procedure<A, R>,
    args: XdrValue<A>,
    name = `procedure ${procedure.proc}`,
  ): Promise<XdrValue<R>> {
    if (this.closed) {
      return Promise.reject(new LibvirtError("connection", `${name}: not connected`));
    }
    this.serial = (this.serial + 1) >>> 0;
    const serial = this.serial;
    const frame = encodeMessage(
      {
        prog: procedure.program.prog,
        vers: procedure.program.vers,
        proc: procedure.proc,
        type: MessageType.call,
        serial,
        status: MessageStatus.ok,
      },
      procedure.args,
      args,
    );
    const timeout = procedure.slow ? this.opts.slowCallTimeout : this.opts.callTimeout;
    return new Promise((resolve, reject) => {
      this.pending.set(serial, {
        ret: procedure.ret,
        resolve: resolve as (v: unknown) => void,
        reject,
        deadline: performance.now() + timeout,
        timeout,
        name,
      });
      this.sweepTimer ??= setInterval(() => this.sweep(), SWEEP_INTERVAL);
      this.stream.write(frame);
    });
  }

  private sweep(): void {
    const now = performance.now();
    for (const [serial, p] of this.pending) {
      if (now < p.deadline) continue;
      this.pending.delete(serial);
      p.reject(new LibvirtError("timeout", `${p.name}: no reply within ${p.timeout} ms`));
    }
    if (this.pending.size === 0) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
  }

  /** Ends the connection; pending calls fail with `reason` (or "closed"). */
  close(reason?: Error): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.keepaliveTimer);
    clearInterval(this.sweepTimer);
    for (const p of this.pending.values()) {
      p.reject(reason ?? new LibvirtError("connection", `${p.name}: connection closed`));
    }
    this.pending.clear();
    this.stream.destroy();
    this.emit("close", reason);
  }

  private receive(chunk: Buffer, transient = false): void {
    if (this.closed) return;
    this.unanswered = 0;
    this.lastHeard = performance.now();
    try {
      // Only decoding throws here: dispatch keeps handlers' exceptions to itself.
      this.decoder.feed(chunk, this.onFrame, transient);
    } catch (e) {
      this.close(new LibvirtError("protocol", `bad data from the server: ${(e as Error).message}`));
    }
  }

  private dispatch(frame: Buffer): void {
    if (this.closed) return; // a handler closed it: the rest of the chunk is moot
    const { header: h, body } = decodeFrame(frame);
    if (h.type === MessageType.reply) {
      const p = this.pending.get(h.serial);
      if (!p) return; // a reply after its call timed out
      // Decoded while still pending: a reply that does not decode fails with the close.
      if (h.status === MessageStatus.ok) {
        const value = decodeBody(body, p.ret);
        this.pending.delete(h.serial);
        p.resolve(value);
      } else {
        const error = LibvirtError.fromRemote(decodeBody(body, remoteError));
        this.pending.delete(h.serial);
        p.reject(error);
      }
      return;
    }
    if (h.type !== MessageType.message) return; // streams are not used
    if (h.prog === KEEPALIVE.prog) {
      if (h.proc === KeepaliveProc.ping) this.sendKeepalive(KeepaliveProc.pong);
      return;
    }
    const route = this.handlers.get(routeKey(h.prog, h.proc));
    if (!route) return;
    const value = decodeBody(body, route.type);
    try {
      route.handler(value, h);
    } catch (e) {
      this.handlerFailed(e, h);
    }
  }

  private handlerFailed(e: unknown, h: Header): void {
    const error = e instanceof Error ? e : new Error(String(e));
    try {
      this.emit("handlerError", error, h);
    } catch {
      // A "handlerError" listener that throws has nowhere further to report to.
    }
  }

  private sendKeepalive(proc: number): void {
    const h = {
      prog: KEEPALIVE.prog,
      vers: KEEPALIVE.vers,
      proc,
      type: MessageType.message,
      serial: 0,
      status: MessageStatus.ok,
    };
    this.stream.write(encodeMessage(h, { kind: "void" }, undefined));
  }

  // One timer, not one per message: when it fires it looks at when the server was last heard
  // and either pings (silent for a whole interval) or waits out the rest of the interval.
  private armKeepalive(delay = this.opts.keepaliveInterval): void {
    this.keepaliveTimer = setTimeout(() => this.keepaliveDue(), delay);
    this.keepaliveTimer.unref();
  }

  private keepaliveDue(): void {
    if (this.closed) return;
    const interval = this.opts.keepaliveInterval;
    const quiet = performance.now() - this.lastHeard;
    if (this.unanswered === 0 && quiet < interval) {
      this.armKeepalive(interval - quiet);
      return;
    }
    if (this.unanswered >= this.opts.keepaliveCount) {
      const silent = interval * (this.opts.keepaliveCount + 1);
      this.close(new LibvirtError("timeout", `no answer from the server for ${silent} ms`));
      return;
    }
    this.unanswered++;
    this.sendKeepalive(KeepaliveProc.ping);
    this.armKeepalive();
  }
}

/** One number for a program and procedure (procedures are 16-bit; others match nothing). */
const routeKey = (prog: number, proc: number) => (proc >>> 16 === 0 ? prog * 0x10000 + proc : -1);
