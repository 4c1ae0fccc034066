// A fake libvirt daemon on a unix socket, speaking just enough of the RPC protocol for the
// client's own tests: login, lookups, QMP, event registration. A test decides, per call, to
// answer, refuse, stay silent or hang up, and can push raw frames (events) at any time.
import { rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  decodeBody,
  decodeFrame,
  encodeMessage,
  FrameDecoder,
} from "../../src/libvirt/rpc/message.js";
import {
  events,
  MessageStatus,
  MessageType,
  procedures,
  QEMU,
  REMOTE,
  remoteError,
} from "../../src/libvirt/rpc/protocol.js";
import type { XdrReader, XdrType } from "../../src/libvirt/rpc/xdr.js";

export const FAKE_DOMAIN = {
  name: "fake1",
  uuid: Uint8Array.from(Buffer.from("6d1a3e5f0c2b4a7d9e8f112233445566", "hex")),
  id: 7,
};

type Proc = (typeof procedures)[keyof typeof procedures];

export interface FakeCall {
  /** 1 for the first connection the fake accepted, 2 for the next... */
  conn: number;
  proc: Proc;
  name: keyof typeof procedures;
  serial: number;
  body: XdrReader;
}

/** What to do with a call: answer it as the fake does, refuse it, ignore it, hang up. */
export type Verdict = "answer" | "silent" | "hangup" | { error: string };

export interface FakeConnection {
  readonly n: number;
  readonly socket: Socket;
  /** Server-side callback ids registered on this connection, by procedure name. */
  readonly callbacks: number[];
}

const byKey = new Map<string, [keyof typeof procedures, Proc]>(
  Object.entries(procedures).map(([name, p]) => [
    `${p.program.prog}:${p.proc}`,
    [name as keyof typeof procedures, p],
  ]),
);

export class FakeLibvirtd {
  readonly path = join(
    tmpdir(),
    `colo-hybrid-fake-${process.pid}-${Math.random().toString(36).slice(2)}.sock`,
  );
  readonly uri = `qemu+unix:///system?socket=${this.path}`;
  private readonly server: Server;
  /** Every connection accepted, open or not, in order. */
  readonly accepted: FakeConnection[] = [];
  readonly open = new Set<FakeConnection>();
  /** Most connections open at once. */
  maxOpen = 0;
  /** Decides each call; the default answers everything. */
  verdict: (call: FakeCall) => Verdict = () => "answer";
  private nextCallback = 100;

  constructor() {
    this.server = createServer((socket) => this.accept(socket));
  }

  listen(): Promise<this> {
    return new Promise((resolve) => this.server.listen(this.path, () => resolve(this)));
  }

  async stop(): Promise<void> {
    for (const c of this.open) c.socket.destroy();
    await new Promise((r) => this.server.close(r));
    rmSync(this.path, { force: true });
  }

  /** Hangs up every open connection. */
  dropAll(): void {
    for (const c of this.open) c.socket.destroy();
  }

  private accept(socket: Socket): void {
    const conn: FakeConnection = { n: this.accepted.length + 1, socket, callbacks: [] };
    this.accepted.push(conn);
    this.open.add(conn);
    this.maxOpen = Math.max(this.maxOpen, this.open.size);
    socket.on("close", () => this.open.delete(conn));
    socket.on("error", () => {});
    const decoder = new FrameDecoder();
    socket.on("data", (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) this.call(conn, frame);
    });
  }

  private call(conn: FakeConnection, frame: Buffer): void {
    const { header: h, body } = decodeFrame(frame);
    if (h.type !== MessageType.call) return;
    const found = byKey.get(`${h.prog}:${h.proc}`);
    if (!found) {
      this.reply(conn, h.prog, h.proc, h.serial, { error: `unknown procedure ${h.proc}` });
      return;
    }
    const [name, proc] = found;
    const verdict = this.verdict({ conn: conn.n, proc, name, serial: h.serial, body });
    if (verdict === "silent") return;
    if (verdict === "hangup") {
      conn.socket.destroy();
      return;
    }
    if (verdict !== "answer") {
      this.reply(conn, h.prog, h.proc, h.serial, verdict);
      return;
    }
    this.reply(conn, h.prog, h.proc, h.serial, this.answer(conn, name, body));
  }

  private answer(conn: FakeConnection, name: keyof typeof procedures, body: XdrReader): unknown {
    switch (name) {
      case "authList":
        return { types: [] };
      case "connectSupportsFeature":
        return { supported: 0 };
      case "domainLookupByName":
        return { dom: FAKE_DOMAIN };
      case "qemuMonitorCommand": {
        decodeBody(body, procedures.qemuMonitorCommand.args);
        return { result: '{"return":{"status":"paused","running":false},"id":"x"}' };
      }
      case "qemuMonitorEventRegister":
      case "domainEventCallbackRegisterAny": {
        const callbackID = this.nextCallback++;
        conn.callbacks.push(callbackID);
        return { callbackID };
      }
      default:
        return undefined;
    }
  }

  /** A reply frame for `serial` of a procedure: its return value, or an error. */
  replyFrame(name: keyof typeof procedures, serial: number, value: unknown): Buffer {
    const p = procedures[name];
    return this.frameFor(p.program.prog, p.proc, serial, value, p.ret);
  }

  private reply(conn: FakeConnection, prog: number, proc: number, serial: number, value: unknown) {
    const found = byKey.get(`${prog}:${proc}`);
    const ret: XdrType = found ? found[1].ret : { kind: "void" };
    conn.socket.write(this.frameFor(prog, proc, serial, value, ret));
  }

  private frameFor(prog: number, proc: number, serial: number, value: unknown, ret: XdrType) {
    const isError = typeof value === "object" && value !== null && "error" in value;
    const h = {
      prog,
      vers: 1,
      proc,
      type: MessageType.reply,
      serial,
      status: isError ? MessageStatus.error : MessageStatus.ok,
    };
    if (!isError) return encodeMessage(h, ret, value);
    return encodeMessage(h, remoteError, {
      code: 1,
      domain: 0,
      message: (value as { error: string }).error,
      level: 2,
      dom: null,
      str1: null,
      str2: null,
      str3: null,
      int1: 0,
      int2: 0,
      net: null,
    });
  }

  /** A QEMU monitor event frame for `callbackID`. */
  static qemuEvent(callbackID: number, event: string, details: string | null): Buffer {
    return encodeMessage(
      {
        prog: QEMU.prog,
        vers: 1,
        proc: events.qemuMonitorEvent.proc,
        type: MessageType.message,
        serial: 0,
        status: 0,
      },
      events.qemuMonitorEvent.msg,
      { callbackID, dom: FAKE_DOMAIN, event, seconds: 1795640730n, micros: 500, details },
    );
  }

  /** A lifecycle event frame (suspended, 3) for `callbackID`. */
  static lifecycleEvent(callbackID: number, event = 3): Buffer {
    return encodeMessage(
      {
        prog: REMOTE.prog,
        vers: 1,
        proc: events.domainLifecycle.proc,
        type: MessageType.message,
        serial: 0,
        status: 0,
      },
      events.domainLifecycle.msg,
      { callbackID, msg: { dom: FAKE_DOMAIN, event, detail: 0 } },
    );
  }
}
