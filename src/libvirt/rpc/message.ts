// libvirt RPC messages on the wire: a 4-byte length (counting itself), a header, a body.
import { HEADER_SIZE, header, MESSAGE_MAX } from "./protocol.js";
import { XdrReader, type XdrType, type XdrValue, XdrWriter } from "./xdr.js";

export type Header = XdrValue<typeof header>;

/** A frame that cannot be a libvirt message: the connection must be dropped. */
export class FrameError extends Error {}

export function encodeMessage(h: Header, bodyType: XdrType, body: unknown): Buffer {
  const w = new XdrWriter(512);
  w.uint(0); // length, patched below
  w.write(header, h);
  w.write(bodyType, body);
  const out = w.finish();
  if (out.length > MESSAGE_MAX + 4)
    throw new FrameError(`message of ${out.length} bytes over the limit`);
  w.patchUint(0, out.length);
  return out;
}

/** Splits a byte stream into frames; holds at most one frame's worth of bytes. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.chunks[0] as Buffer;
      const first = head.length >= 4 ? head : Buffer.concat(this.chunks);
      const length = first.readUInt32BE(0);
      if (length < HEADER_SIZE || length > MESSAGE_MAX + 4) {
        throw new FrameError(
          `bad frame length ${length} (allowed ${HEADER_SIZE}..${MESSAGE_MAX + 4})`,
        );
      }
      if (this.buffered < length) break;
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks);
      frames.push(all.subarray(4, length));
      const rest = all.subarray(length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
    }
    return frames;
  }
}

/** The header of a frame (without its length word) and a reader positioned at its body. */
export function decodeFrame(frame: Buffer): { header: Header; body: XdrReader } {
  const r = new XdrReader(frame);
  return { header: r.read(header) as Header, body: r };
}

/** Reads a whole body: trailing bytes mean a misread. */
export function decodeBody<T extends XdrType>(body: XdrReader, type: T): XdrValue<T> {
  const value = body.read(type);
  body.end();
  return value as XdrValue<T>;
}
