// Reading a socket without its stream machinery: libuv reads into one buffer, reused for the
// socket's life, and each read goes to a sink at once (net's `onread`). No Buffer is allocated
// per read and no "data" event, nextTick or read-ahead runs per reply: on the QMP hot path, the
// reply is decoded in the same callback that read it.
//
// The chunk a sink gets is a view of that buffer, valid only during the call: whatever outlives
// it must be copied (FrameDecoder.feed does, for a frame's unfinished part).
import { createConnection, type NetConnectOpts, type Socket } from "node:net";
import type { Duplex } from "node:stream";

const DIRECT_READ = Symbol("colo-hybrid direct read");
const READ_BUFFER = 64 * 1024;

export interface DirectRead {
  /** Where reads go; until it is set, they are copied and kept in `early`. */
  sink: ((chunk: Buffer) => void) | undefined;
  early: Buffer[];
}

/** The direct reader of a stream made by connectDirect, or undefined for any other stream. */
export function directRead(stream: Duplex): DirectRead | undefined {
  return (stream as Duplex & { [DIRECT_READ]?: DirectRead })[DIRECT_READ];
}

/** net.createConnection, its reads going to a DirectRead instead of "data" events. */
export function connectDirect(options: NetConnectOpts): Socket {
  const reader: DirectRead = { sink: undefined, early: [] };
  const socket = createConnection({
    ...options,
    onread: {
      buffer: Buffer.allocUnsafe(READ_BUFFER),
      callback: (n: number, buf: Uint8Array) => {
        const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
        if (reader.sink) reader.sink(chunk);
        else reader.early.push(Buffer.from(chunk));
        return true;
      },
    },
  });
  Object.defineProperty(socket, DIRECT_READ, { value: reader });
  return socket;
}
