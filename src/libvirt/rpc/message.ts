// libvirt RPC messages on the wire: a 4-byte length (counting itself), a header, a body.
import { HEADER_SIZE, type header, MESSAGE_MAX } from "./protocol.js";
import { encodeAt, sizeOf, XdrReader, type XdrType, type XdrValue } from "./xdr.js";

export type Header = XdrValue<typeof header>;

/** A frame that cannot be a libvirt message: the connection must be dropped. */
export class FrameError extends Error {}

/** One frame, in one buffer of exactly its size: measured first, then written once. */
export function encodeMessage(h: Header, bodyType: XdrType, body: unknown): Buffer {
  const length = HEADER_SIZE + sizeOf(bodyType, body);
  if (length > MESSAGE_MAX + 4) throw new FrameError(`message of ${length} bytes over the limit`);
  const out = Buffer.allocUnsafe(length);
  out.writeUInt32BE(length, 0);
  out.writeUInt32BE(h.prog, 4);
  out.writeUInt32BE(h.vers, 8);
  out.writeInt32BE(h.proc, 12);
  out.writeInt32BE(h.type, 16);
  out.writeUInt32BE(h.serial, 20);
  out.writeInt32BE(h.status, 24);
  const end = encodeAt(out, HEADER_SIZE, bodyType, body);
  // sizeOf and encodeAt walk the same description: they cannot disagree but for a bug.
  if (end !== length) throw new FrameError(`message encoded as ${end} bytes, not ${length}`);
  return out;
}

/**
 * Splits a byte stream into frames; holds at most one frame's worth of bytes, and joins the
 * chunks of a frame once, when it is complete.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes needed before the buffered chunks are worth joining: a length word, or a frame. */
  private need = 4;

  /** Every complete frame (length word excluded) of the stream so far. */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    this.feed(chunk, (f) => frames.push(f));
    return frames;
  }

  /**
   * Calls `onFrame` with each complete frame as it is found, so frames before a bad one are
   * delivered; then throws FrameError for the bad one. `onFrame` must not throw: the bytes
   * after its frame would be lost. A `transient` chunk is only valid during the call (a reused
   * read buffer): what is kept of it is copied, and frames are views valid during `onFrame`.
   */
  feed(chunk: Buffer, onFrame: (frame: Buffer) => void, transient = false): void {
    let buf = chunk;
    let borrowed = transient;
    if (this.buffered > 0) {
      this.chunks.push(transient ? Buffer.from(chunk) : chunk);
      this.buffered += chunk.length;
      if (this.buffered < this.need) return;
      buf = Buffer.concat(this.chunks, this.buffered);
      borrowed = false;
      this.chunks = [];
      this.buffered = 0;
    }
    let pos = 0;
    while (buf.length - pos >= 4) {
      const length = buf.readUInt32BE(pos);
      if (length < HEADER_SIZE || length > MESSAGE_MAX + 4) {
        throw new FrameError(
          `bad frame length ${length} (allowed ${HEADER_SIZE}..${MESSAGE_MAX + 4})`,
        );
      }
      if (buf.length - pos < length) break;
      const frame = buf.subarray(pos + 4, pos + length);
      pos += length;
      onFrame(frame);
    }
    if (pos < buf.length) {
      const rest = borrowed ? Buffer.from(buf.subarray(pos)) : buf.subarray(pos);
      this.chunks = [rest];
      this.buffered = rest.length;
      this.need = rest.length >= 4 ? rest.readUInt32BE(0) : 4;
    } else {
      this.need = 4;
    }
  }
}

/** The header of a frame (without its length word) and a reader positioned at its body. */
export function decodeFrame(frame: Buffer): { header: Header; body: XdrReader } {
  if (frame.length < HEADER_SIZE - 4) {
    throw new FrameError(`frame of ${frame.length} bytes is shorter than a header`);
  }
  return {
    header: {
      prog: frame.readUInt32BE(0),
      vers: frame.readUInt32BE(4),
      proc: frame.readInt32BE(8),
      type: frame.readInt32BE(12),
      serial: frame.readUInt32BE(16),
      status: frame.readInt32BE(20),
    },
    body: new XdrReader(frame, HEADER_SIZE - 4),
  };
}

/** Reads a whole body: trailing bytes mean a misread. */
export function decodeBody<T extends XdrType>(body: XdrReader, type: T): XdrValue<T> {
  const value = body.read(type);
  body.end();
  return value as XdrValue<T>;
}
