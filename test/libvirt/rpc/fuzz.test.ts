// Random and mutated frames through the decoder and the message codec: every input ends in a
// decoded message or a FrameError/XdrError, never another exception. 100,000 inputs.
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { LibvirtError } from "../../../src/libvirt/errors.js";
import { RpcConnection } from "../../../src/libvirt/rpc/connection.js";
import {
  decodeBody,
  decodeFrame,
  encodeMessage,
  FrameDecoder,
  FrameError,
} from "../../../src/libvirt/rpc/message.js";
import { events, procedures, remoteError } from "../../../src/libvirt/rpc/protocol.js";
import { XdrError, type XdrType } from "../../../src/libvirt/rpc/xdr.js";
import { prng } from "../../../src/trace/synthetic.js";

const INPUTS = 100_000;
const dom = { name: "web1", uuid: new Uint8Array(16).fill(7), id: 3 };
const seeds: [XdrType, Buffer][] = [
  [
    remoteError,
    encodeMessage(
      { prog: 0x20008086, vers: 1, proc: 24, type: 1, serial: 1, status: 1 },
      remoteError,
      {
        code: 42,
        domain: 10,
        message: "Domain not found",
        level: 2,
        dom: { ...dom },
        str1: "a",
        str2: null,
        str3: null,
        int1: 0,
        int2: 0,
        net: null,
      },
    ),
  ],
  [
    events.qemuMonitorEvent.msg,
    encodeMessage(
      { prog: 0x20008087, vers: 1, proc: 6, type: 2, serial: 0, status: 0 },
      events.qemuMonitorEvent.msg,
      {
        callbackID: 1,
        dom,
        event: "STOP",
        seconds: 1795640730n,
        micros: 12,
        details: '{"reason":"x"}',
      },
    ),
  ],
  [
    procedures.qemuMonitorCommand.ret,
    encodeMessage(
      { prog: 0x20008087, vers: 1, proc: 1, type: 1, serial: 9, status: 0 },
      procedures.qemuMonitorCommand.ret,
      { result: '{"return":{"status":"running"}}' },
    ),
  ],
  [
    events.domainLifecycle.msg,
    encodeMessage(
      { prog: 0x20008086, vers: 1, proc: 318, type: 2, serial: 0, status: 0 },
      events.domainLifecycle.msg,
      { callbackID: 2, msg: { dom, event: 3, detail: 0 } },
    ),
  ],
];

function mutate(random: () => number, frame: Buffer): Buffer {
  const b = Buffer.from(frame);
  const edits = 1 + Math.floor(random() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * b.length);
    switch (Math.floor(random() * 4)) {
      case 0:
        b[at] = Math.floor(random() * 256);
        break;
      case 1:
        b[at] = (b[at] ?? 0) ^ (1 << Math.floor(random() * 8));
        break;
      case 2:
        return b.subarray(0, at); // truncated
      default: {
        const word = at - (at % 4);
        if (word + 4 <= b.length) b.writeUInt32BE(Math.floor(random() * 2 ** 32), word);
      }
    }
  }
  return b;
}

const expected = (e: unknown) => e instanceof FrameError || e instanceof XdrError;

describe("fuzz: frames and messages", () => {
  it(`never fails but with FrameError or XdrError (${INPUTS} inputs)`, () => {
    const random = prng(20261125);
    let decoded = 0;
    let refused = 0;
    for (let n = 0; n < INPUTS; n++) {
      const [type, seed] = seeds[n % seeds.length] as [XdrType, Buffer];
      const input =
        n % 10 === 0
          ? Buffer.from(
              Array.from({ length: Math.floor(random() * 96) }, () => Math.floor(random() * 256)),
            )
          : mutate(random, seed);
      try {
        for (const frame of new FrameDecoder().push(input)) {
          const { body } = decodeFrame(frame);
          decodeBody(body, type);
          decoded++;
        }
      } catch (e) {
        if (!expected(e)) throw e;
        refused++;
      }
    }
    expect(decoded).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(1000);
  });

  it("a connection fed garbage closes with a protocol error and fails its calls", async () => {
    const random = prng(7);
    for (let n = 0; n < 200; n++) {
      const wire = new PassThrough();
      const conn = new RpcConnection(wire, { keepaliveInterval: 0 });
      const closed = new Promise<Error | undefined>((resolve) => conn.once("close", resolve));
      const call = conn.call(procedures.connectGetLibVersion, undefined).catch((e: unknown) => e);
      // An impossible length first: the connection must close, not buffer.
      const garbage = Buffer.concat([
        Buffer.from("ffffffff", "hex"),
        mutate(random, seeds[n % seeds.length]?.[1] as Buffer),
      ]);
      wire.emit("data", garbage);
      const reason = await closed;
      expect(reason).toBeInstanceOf(LibvirtError);
      expect((reason as LibvirtError).kind).toBe("protocol");
      expect(await call).toBe(reason);
    }
  });
});
