// One RPC connection to a libvirt daemon over any byte stream: calls matched to replies by
// serial, server events dispatched by program and procedure, keepalive answered and sent.
// It does not reconnect: client.ts makes a new one when this one closes.
import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { LibvirtError } from "../errors.js";
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
import type { XdrReader, XdrType, XdrValue } from "./xdr.js";

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

export type EventHandler = (body: XdrReader, header: Header) => void;

/**
 * Emits "close" (with the Error that ended it, or undefined when closed on purpose) once.
 */
export class RpcConnection extends EventEmitter {
  private readonly opts: ConnectionOptions;
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, EventHandler>();
  private serial = 0;
  private closed = false;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private unanswered = 0;
  private keepaliveEnabled = false;

  constructor(
    private readonly stream: Duplex,
    options: Partial<ConnectionOptions> = {},
  ) {
    super();
    this.opts = { ...DEFAULT_CONNECTION_OPTIONS, ...options };
    stream.on("data", (chunk: Buffer) => this.receive(chunk));
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

  /** Handles server messages of one event procedure. */
  onEvent(program: Program, proc: number, handler: EventHandler): void {
    this.handlers.set(`${program.prog}:${proc}`, handler);
  }

  /** Starts pinging; call once the server said it supports keepalive. */
  startKeepalive(): void {
    if (this.opts.keepaliveInterval <= 0 || this.closed) return;
    this.keepaliveEnabled = true;
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

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.unanswered = 0;
    try {
      for (const frame of this.decoder.push(chunk)) this.dispatch(frame);
    } catch (e) {
      this.close(new LibvirtError("protocol", `bad data from the server: ${(e as Error).message}`));
    }
    if (this.keepaliveEnabled) this.armKeepalive();
  }

  private dispatch(frame: Buffer): void {
    const { header: h, body } = decodeFrame(frame);
    if (h.type === MessageType.reply) {
      const p = this.pending.get(h.serial);
      if (!p) return; // a reply after its call timed out
      this.pending.delete(h.serial);
      if (h.status === MessageStatus.ok) {
        p.resolve(decodeBody(body, p.ret));
      } else {
        p.reject(LibvirtError.fromRemote(decodeBody(body, remoteError)));
      }
      return;
    }
    if (h.type !== MessageType.message) return; // streams are not used
    if (h.prog === KEEPALIVE.prog) {
      if (h.proc === KeepaliveProc.ping) this.sendKeepalive(KeepaliveProc.pong);
      return;
    }
    this.handlers.get(`${h.prog}:${h.proc}`)?.(body, h);
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

  private armKeepalive(): void {
    clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = setTimeout(() => {
      if (this.unanswered >= this.opts.keepaliveCount) {
        const silent = this.opts.keepaliveInterval * (this.opts.keepaliveCount + 1);
        this.close(new LibvirtError("timeout", `no answer from the server for ${silent} ms`));
        return;
      }
      this.unanswered++;
      this.sendKeepalive(KeepaliveProc.ping);
      this.armKeepalive();
    }, this.opts.keepaliveInterval);
    this.keepaliveTimer.unref();
  }
}
