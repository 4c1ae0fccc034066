import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeBody,
  decodeFrame,
  encodeMessage,
  FrameDecoder,
  FrameError,
} from "../../../src/libvirt/rpc/message.js";
import { events, MESSAGE_MAX, procedures, remoteError } from "../../../src/libvirt/rpc/protocol.js";
import { XdrError, XdrReader, XdrWriter, xdr } from "../../../src/libvirt/rpc/xdr.js";

const roundTrip = (type: Parameters<XdrWriter["write"]>[0], value: unknown) => {
  const w = new XdrWriter(4);
  w.write(type, value);
  const r = new XdrReader(Buffer.from(w.finish()));
  const back = r.read(type);
  r.end();
  return back;
};

describe("XDR", () => {
  it("encodes as RFC 4506 says: big-endian words, padded strings, optional flags", () => {
    const w = new XdrWriter();
    w.write(
      xdr.struct({ a: xdr.int, s: xdr.string(10), o: xdr.optional(xdr.uint), h: xdr.hyper }),
      {
        a: -2,
        s: "abcde",
        o: null,
        h: -1n,
      },
    );
    expect(w.finish().toString("hex")).toBe(
      ["fffffffe", "00000005", "6162636465000000", "00000000", "ffffffffffffffff"].join(""),
    );
  });

  it("decodes what it encodes, for every type libvirt's messages use", () => {
    const dom = procedures.domainLookupByName.ret;
    fc.assert(
      fc.property(
        fc.record({
          dom: fc.record({
            name: fc.string({ unit: "grapheme", maxLength: 40 }),
            uuid: fc.uint8Array({ minLength: 16, maxLength: 16 }),
            id: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
          }),
        }),
        (value) => {
          expect(roundTrip(dom, value)).toEqual(value);
        },
      ),
    );
    const event = {
      callbackID: 3,
      dom: { name: "d", uuid: new Uint8Array(16), id: 1 },
      event: "STOP",
      seconds: 1795640730n,
      micros: 696407,
      details: null,
    };
    expect(roundTrip(events.qemuMonitorEvent.msg, event)).toEqual(event);
  });

  it("refuses values that do not fit their description", () => {
    expect(() => roundTrip(xdr.uint, -1)).toThrow(XdrError);
    expect(() => roundTrip(xdr.int, 2 ** 31)).toThrow(XdrError);
    expect(() => roundTrip(xdr.string(3), "abcd")).toThrow(/over 3/);
    expect(() => roundTrip(xdr.opaque(16), new Uint8Array(3))).toThrow(/not 16/);
  });

  it("refuses truncated data, oversized counts and trailing bytes", () => {
    const r = new XdrReader(Buffer.from("00000010616263", "hex"));
    expect(() => r.read(xdr.string(100))).toThrow(/truncated/);
    expect(() =>
      new XdrReader(Buffer.from("7fffffff", "hex")).read(xdr.array(xdr.int, 20)),
    ).toThrow(/over its limit/);
    expect(() => new XdrReader(Buffer.from("00000002", "hex")).read(xdr.optional(xdr.int))).toThrow(
      /optional/,
    );
    const extra = new XdrReader(Buffer.from("0000000100000002", "hex"));
    extra.read(xdr.int);
    expect(() => extra.end()).toThrow(/unexpected bytes/);
  });
});

describe("frames", () => {
  const header = { prog: 0x20008086, vers: 1, proc: 1, type: 1, serial: 7, status: 1 };
  const error = {
    code: 42,
    domain: 10,
    message: "Domain not found",
    level: 2,
    dom: null,
    str1: null,
    str2: null,
    str3: null,
    int1: 0,
    int2: 0,
    net: null,
  };

  it("reassembles messages split anywhere and joined in any way", () => {
    const a = encodeMessage(header, remoteError, error);
    const b = encodeMessage({ ...header, serial: 8 }, remoteError, { ...error, message: "x" });
    const all = Buffer.concat([a, b, a]);
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: all.length - 1 }), { maxLength: 6 }),
        (cuts) => {
          const d = new FrameDecoder();
          const points = [...new Set(cuts)].sort((x, y) => x - y);
          const frames: Buffer[] = [];
          let from = 0;
          for (const p of [...points, all.length]) {
            frames.push(...d.push(all.subarray(from, p)));
            from = p;
          }
          expect(frames.map((f) => decodeFrame(f).header.serial)).toEqual([7, 8, 7]);
          const { body } = decodeFrame(frames[1] as Buffer);
          expect(decodeBody(body, remoteError).message).toBe("x");
        },
      ),
    );
  });

  it("drops a frame whose length is impossible, before buffering it", () => {
    const d = new FrameDecoder();
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(MESSAGE_MAX + 5);
    expect(() => d.push(huge)).toThrow(FrameError);
    const tiny = Buffer.alloc(8);
    tiny.writeUInt32BE(8);
    expect(() => new FrameDecoder().push(tiny)).toThrow(/bad frame length 8/);
  });
});
