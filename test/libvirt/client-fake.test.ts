// The RPC client against a fake daemon (fake-libvirtd.ts): reconnecting (one loop, one
// connection, close() stops it all) and event handlers that throw or get bad details, each
// played out exactly, which a real libvirtd cannot be made to do on cue.
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { LifecycleEvent, QemuMonitorEvent } from "../../src/libvirt/api.js";
import { LibvirtClient } from "../../src/libvirt/client.js";
import { RpcConnection } from "../../src/libvirt/rpc/connection.js";
import { encodeMessage } from "../../src/libvirt/rpc/message.js";
import { events, MessageType, procedures, QEMU } from "../../src/libvirt/rpc/protocol.js";
import { waitUntil } from "../support/wait.js";
import { FAKE_DOMAIN, type FakeCall, FakeLibvirtd } from "./fake-libvirtd.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const OPTIONS = { reconnectMin: 20, reconnectMax: 80, keepaliveInterval: 0 };

let fake: FakeLibvirtd;
beforeEach(async () => {
  fake = await new FakeLibvirtd().listen();
});
afterEach(async () => {
  await fake.stop();
});

/** A client with one QEMU event subscription, and what it told its listeners. */
async function subscribed() {
  const lv = await LibvirtClient.connect(fake.uri, OPTIONS);
  const seen: QemuMonitorEvent[] = [];
  const told = { disconnected: 0, reconnected: 0, eventErrors: [] as Error[] };
  lv.on("disconnected", () => told.disconnected++);
  lv.on("reconnected", () => told.reconnected++);
  lv.on("eventError", (e: Error) => told.eventErrors.push(e));
  const dom = await lv.lookupByName(FAKE_DOMAIN.name);
  await lv.onQemuMonitorEvent(dom, undefined, (e) => seen.push(e));
  return { lv, dom, seen, told };
}

const isRegistration = (c: FakeCall) => c.name === "qemuMonitorEventRegister";

/** The fake's one open connection. */
function theConnection() {
  expect(fake.open.size).toBe(1);
  return [...fake.open][0]!;
}

describe("reconnecting", () => {
  it.each([
    ["refused", { error: "registration refused" } as const],
    ["hung up on", "hangup" as const],
  ])(
    "a re-registration %s after a reconnect leaves one loop and one connection",
    async (_, failure) => {
      fake.verdict = (c) => (isRegistration(c) && c.conn === 2 ? failure : "answer");
      const { lv, seen, told } = await subscribed();
      try {
        fake.dropAll();
        await waitUntil("reconnected", () => told.reconnected > 0, 5_000, 5);
        // Several of the longest backoffs: a second loop would have connected by now.
        await sleep(400);
        expect(fake.accepted).toHaveLength(3);
        expect(fake.open.size).toBe(1);
        expect(fake.maxOpen).toBe(1);
        expect(told).toMatchObject({ disconnected: 1, reconnected: 1 });
        // Events flow on the connection that registered.
        const live = theConnection();
        live.socket.write(FakeLibvirtd.qemuEvent(live.callbacks[0]!, "STOP", null));
        await waitUntil("the event", () => seen.length === 1, 2_000, 5);
      } finally {
        await lv.close();
      }
      await waitUntil("every connection closed", () => fake.open.size === 0, 1_000, 5);
      await sleep(300);
      expect(fake.accepted).toHaveLength(3);
    },
  );

  it("close() while every re-registration fails stops the loop and every connection", async () => {
    fake.verdict = (c) => (isRegistration(c) && c.conn > 1 ? { error: "no" } : "answer");
    const { lv, told } = await subscribed();
    fake.dropAll();
    await waitUntil("three attempts", () => fake.accepted.length >= 4, 5_000, 5);
    expect(fake.maxOpen).toBe(1);
    await lv.close();
    const attempts = fake.accepted.length;
    await waitUntil("every connection closed", () => fake.open.size === 0, 1_000, 5);
    await sleep(300);
    expect(fake.accepted).toHaveLength(attempts);
    expect(fake.maxOpen).toBe(1);
    expect(told).toMatchObject({ disconnected: 1, reconnected: 0 });
  });

  it("close() while a reconnect waits on a silent daemon ends that connection at once", async () => {
    fake.verdict = (c) => (c.conn === 2 && c.name === "authList" ? "silent" : "answer");
    const { lv } = await subscribed();
    fake.dropAll();
    await waitUntil("the second connection", () => fake.accepted.length === 2, 5_000, 5);
    await sleep(50); // it asked for the auth list, which the fake leaves unanswered
    expect(fake.open.size).toBe(1);
    await lv.close();
    // At once: not after the call's timeout (30 s).
    await waitUntil("every connection closed", () => fake.open.size === 0, 1_000, 5);
    await sleep(200);
    expect(fake.accepted).toHaveLength(2);
  });

  it("a connection lost while registering is retried, quietly", async () => {
    // Three failed attempts, then one that works: still one disconnected, one reconnected.
    fake.verdict = (c) =>
      isRegistration(c) && c.conn > 1 && c.conn < 5
        ? c.conn % 2
          ? "hangup"
          : { error: "x" }
        : "answer";
    const { lv, told } = await subscribed();
    try {
      fake.dropAll();
      await waitUntil("reconnected", () => told.reconnected > 0, 5_000, 5);
      await sleep(300);
      expect(fake.accepted).toHaveLength(5);
      expect(fake.maxOpen).toBe(1);
      expect(told).toMatchObject({ disconnected: 1, reconnected: 1 });
    } finally {
      await lv.close();
    }
  });
});

describe("event handlers", () => {
  /** Holds the next QMP call's reply back, so a test can send it with other frames. */
  function holdQmp(): Promise<number> {
    return new Promise((resolve) => {
      fake.verdict = (c) => {
        if (c.name !== "qemuMonitorCommand") return "answer";
        resolve(c.serial);
        return "silent";
      };
    });
  }
  const qmpReply = (serial: number) =>
    fake.replyFrame("qemuMonitorCommand", serial, { result: '{"return":{"status":"running"}}' });

  it("a handler that throws is reported; the rest of the chunk is still processed", async () => {
    const lv = await LibvirtClient.connect(fake.uri, OPTIONS);
    try {
      const dom = await lv.lookupByName(FAKE_DOMAIN.name);
      const errors: Error[] = [];
      let disconnected = 0;
      lv.on("eventError", (e: Error) => errors.push(e));
      lv.on("disconnected", () => disconnected++);
      const qemu: QemuMonitorEvent[] = [];
      const life: LifecycleEvent[] = [];
      await lv.onQemuMonitorEvent(dom, undefined, (e) => {
        qemu.push(e);
        if (e.event === "STOP") throw new Error("handler bug");
      });
      await lv.onLifecycle(dom, (e) => life.push(e));
      const conn = theConnection();
      const [qemuId, lifeId] = conn.callbacks as [number, number];
      const held = holdQmp();
      const call = lv.qmp(dom, "query-status");
      const serial = await held;
      // One write: the throwing event, then a lifecycle event, then the QMP reply.
      conn.socket.write(
        Buffer.concat([
          FakeLibvirtd.qemuEvent(qemuId, "STOP", null),
          FakeLibvirtd.lifecycleEvent(lifeId),
          FakeLibvirtd.qemuEvent(qemuId, "RESUME", null),
          qmpReply(serial),
        ]),
      );
      expect(await call).toEqual({ status: "running" });
      expect(qemu.map((e) => e.event)).toEqual(["STOP", "RESUME"]);
      expect(life.map((e) => e.type)).toEqual(["suspended"]);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.message).toMatch(/QEMU monitor events of 'fake1'.*handler bug/);
      expect((errors[0] as Error & { cause?: unknown }).cause).toMatchObject({
        message: "handler bug",
      });
      expect(disconnected).toBe(0);
      fake.verdict = () => "answer";
      expect(await lv.qmp(dom, "query-status")).toMatchObject({ status: "paused" });
    } finally {
      await lv.close();
    }
  });

  it("details that are not JSON arrive as undefined, reported, and nothing else breaks", async () => {
    const { lv, dom, seen, told } = await subscribed();
    try {
      const conn = theConnection();
      const id = conn.callbacks[0]!;
      const held = holdQmp();
      const call = lv.qmp(dom, "query-status");
      const serial = await held;
      conn.socket.write(
        Buffer.concat([
          FakeLibvirtd.qemuEvent(id, "BAD", "{not json"),
          FakeLibvirtd.qemuEvent(id, "GOOD", '{"reason":"x"}'),
          qmpReply(serial),
        ]),
      );
      expect(await call).toEqual({ status: "running" });
      expect(seen.map((e) => [e.event, e.details])).toEqual([
        ["BAD", undefined],
        ["GOOD", { reason: "x" }],
      ]);
      expect(told.eventErrors).toHaveLength(1);
      expect(told.eventErrors[0]?.message).toMatch(/BAD.*not JSON.*\{not json/);
      expect(told.disconnected).toBe(0);
    } finally {
      await lv.close();
    }
  });

  it("without an eventError listener, a throwing handler becomes a process warning", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    const lv = await LibvirtClient.connect(fake.uri, OPTIONS);
    try {
      const dom = await lv.lookupByName(FAKE_DOMAIN.name);
      await lv.onQemuMonitorEvent(dom, undefined, () => {
        throw new Error("boom");
      });
      const conn = theConnection();
      conn.socket.write(FakeLibvirtd.qemuEvent(conn.callbacks[0]!, "STOP", null));
      await waitUntil("the warning", () => warn.mock.calls.length > 0, 2_000, 5);
      expect(String(warn.mock.calls[0]?.[0])).toMatch(/boom/);
      expect(await lv.qmp(dom, "query-status")).toMatchObject({ status: "paused" });
    } finally {
      warn.mockRestore();
      await lv.close();
    }
  });

  it("bad data still closes the connection, after the good frames before it", async () => {
    const { lv, dom, seen, told } = await subscribed();
    try {
      const conn = theConnection();
      const id = conn.callbacks[0]!;
      const held = holdQmp();
      const call = lv.qmp(dom, "query-status").catch((e: unknown) => e);
      await held;
      const impossible = Buffer.alloc(8);
      impossible.writeUInt32BE(3);
      conn.socket.write(Buffer.concat([FakeLibvirtd.qemuEvent(id, "STOP", null), impossible]));
      const e = await call;
      expect(e).toMatchObject({ kind: "protocol" });
      expect((e as Error).message).toMatch(/bad data from the server: bad frame length 3/);
      expect(seen.map((x) => x.event)).toEqual(["STOP"]);
      await waitUntil("disconnected", () => told.disconnected === 1, 2_000, 5);
      expect(told.eventErrors).toEqual([]);
    } finally {
      await lv.close();
    }
  });
});

describe("the connection alone", () => {
  const event = (callbackID: number, name: string) =>
    encodeMessage(
      { prog: QEMU.prog, vers: 1, proc: 6, type: MessageType.message, serial: 0, status: 0 },
      events.qemuMonitorEvent.msg,
      { callbackID, dom: FAKE_DOMAIN, event: name, seconds: 1n, micros: 0, details: null },
    );

  it("reports a throwing handler as handlerError and dispatches the next frames", async () => {
    const wire = new PassThrough();
    const conn = new RpcConnection(wire, { keepaliveInterval: 0 });
    const got: string[] = [];
    const errors: Error[] = [];
    conn.on("handlerError", (e: Error) => errors.push(e));
    conn.onEvent(QEMU, events.qemuMonitorEvent.proc, events.qemuMonitorEvent.msg, (m) => {
      got.push(m.event);
      if (m.event === "A") throw new Error("bad handler");
    });
    const call = conn.call(procedures.connectGetLibVersion, undefined);
    const reply = encodeMessage(
      { prog: 0x20008086, vers: 1, proc: 157, type: MessageType.reply, serial: 1, status: 0 },
      procedures.connectGetLibVersion.ret,
      { libVer: 9000000n },
    );
    wire.emit("data", Buffer.concat([event(1, "A"), event(1, "B"), reply]));
    expect(await call).toEqual({ libVer: 9000000n });
    expect(got).toEqual(["A", "B"]);
    expect(errors.map((e) => e.message)).toEqual(["bad handler"]);
    expect(conn.isClosed).toBe(false);
    conn.close();
  });

  it("an event body that does not decode closes the connection as a protocol error", async () => {
    const wire = new PassThrough();
    const conn = new RpcConnection(wire, { keepaliveInterval: 0 });
    const handler = vi.fn();
    conn.onEvent(QEMU, events.qemuMonitorEvent.proc, events.qemuMonitorEvent.msg, handler);
    const closed = new Promise<Error | undefined>((r) => conn.once("close", r));
    const bad = Buffer.concat([event(1, "A"), Buffer.alloc(4)]);
    bad.writeUInt32BE(bad.length, 0); // a well-framed message with 4 trailing bytes
    wire.emit("data", bad);
    expect(await closed).toMatchObject({ kind: "protocol" });
    expect(handler).not.toHaveBeenCalled();
  });
});
