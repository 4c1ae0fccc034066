// XDR (RFC 4506), the encoding of libvirt's RPC. Types are described as data (see protocol.ts,
// which transcribes the parts of libvirt's .x files we use) and one codec walks a description
// to encode or decode a value; TypeScript infers each value's type from its description.

export type XdrType =
  | { readonly kind: "void" }
  | { readonly kind: "int" }
  | { readonly kind: "uint" }
  | { readonly kind: "hyper" }
  | { readonly kind: "uhyper" }
  | { readonly kind: "string"; readonly max: number }
  | { readonly kind: "opaque"; readonly size: number }
  | { readonly kind: "optional"; readonly of: XdrType }
  | { readonly kind: "array"; readonly of: XdrType; readonly max: number }
  | { readonly kind: "struct"; readonly fields: Readonly<Record<string, XdrType>> };

/**
 * The JavaScript value of an XDR type. 64-bit integers are bigints: no silent rounding.
 * `D` bounds the nesting TypeScript explores (our messages nest 3 deep), which keeps it from
 * recursing without end through a generic `XdrType`.
 */
export type XdrValue<T, D extends unknown[] = []> = D["length"] extends 6
  ? unknown
  : T extends { kind: "void" }
    ? undefined
    : T extends { kind: "int" | "uint" }
      ? number
      : T extends { kind: "hyper" | "uhyper" }
        ? bigint
        : T extends { kind: "string" }
          ? string
          : T extends { kind: "opaque" }
            ? Uint8Array
            : T extends { kind: "optional"; of: infer O }
              ? XdrValue<O, [...D, 0]> | null
              : T extends { kind: "array"; of: infer O }
                ? XdrValue<O, [...D, 0]>[]
                : T extends { kind: "struct"; fields: infer F }
                  ? { [K in keyof F]: XdrValue<F[K], [...D, 0]> }
                  : never;

export const xdr = {
  void: { kind: "void" } as const,
  int: { kind: "int" } as const,
  uint: { kind: "uint" } as const,
  hyper: { kind: "hyper" } as const,
  uhyper: { kind: "uhyper" } as const,
  string: (max: number) => ({ kind: "string", max }) as const,
  opaque: (size: number) => ({ kind: "opaque", size }) as const,
  optional: <O extends XdrType>(of: O) => ({ kind: "optional", of }) as const,
  array: <O extends XdrType>(of: O, max: number) => ({ kind: "array", of, max }) as const,
  struct: <F extends Record<string, XdrType>>(fields: F) => ({ kind: "struct", fields }) as const,
};

/** Bad bytes from the peer, or a value that does not fit its description. */
export class XdrError extends Error {}

const pad = (n: number) => (4 - (n % 4)) % 4;

export class XdrWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int(v: number): void {
    this.room(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }

  uint(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length + pad(b.length));
    this.pos = putBytes(this.buf, this.pos, b);
  }

  write(type: XdrType, value: unknown): void {
    const c = codecOf(type);
    this.room(c.size(value));
    this.pos = c.encode(this.buf, this.pos, value);
  }

  /** The bytes written so far (a view, not a copy). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** Overwrites a 32-bit word already written, e.g. a frame's length. */
  patchUint(offset: number, v: number): void {
    this.buf.writeUInt32BE(v, offset);
  }
}

export class XdrReader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    offset = 0,
  ) {
    this.pos = offset;
  }

  private take(n: number): number {
    if (n < 0 || this.pos + n > this.buf.length) {
      throw new XdrError(`truncated message: need ${n} bytes at offset ${this.pos}`);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  int(): number {
    return this.buf.readInt32BE(this.take(4));
  }

  uint(): number {
    return this.buf.readUInt32BE(this.take(4));
  }

  bytes(n: number): Buffer {
    const at = this.take(n + pad(n));
    return this.buf.subarray(at, at + n);
  }

  /** `n` bytes (and their padding) as UTF-8 text, without an intermediate view. */
  text(n: number): string {
    const at = this.take(n + pad(n));
    return this.buf.toString("utf8", at, at + n);
  }

  /** `n` bytes (and their padding), copied: the value must not keep the frame alive. */
  copy(n: number): Uint8Array {
    const at = this.take(n + pad(n));
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(at, at + n));
    return out;
  }

  hyper(): bigint {
    return this.buf.readBigInt64BE(this.take(8));
  }

  uhyper(): bigint {
    return this.buf.readBigUInt64BE(this.take(8));
  }

  read(type: XdrType): unknown {
    return codecOf(type).decode(this);
  }

  /** Fails unless every byte was consumed: trailing bytes mean a misread. */
  end(): void {
    if (this.pos !== this.buf.length) {
      throw new XdrError(`${this.buf.length - this.pos} unexpected bytes at the end of a message`);
    }
  }
}

// ---- codecs ----------------------------------------------------------------------------------
// Each description is made, once, into a codec: three functions specialised to it. Encoding is
// two passes, size then encode into a buffer of exactly that size (allocated once, not zeroed:
// every byte is written, padding included); size only measures, encode checks every value
// against its description. A struct's functions are generated with its field names written in
// (new Function, from our own descriptions in protocol.ts, never from the wire): the objects
// decode builds all have one shape and every field access is a plain property access, where a
// walk over the description would build each object key by key and look every field up by a
// computed name.

interface Codec {
  /** Bytes `value` takes (before it is checked). */
  size(value: unknown): number;
  /** Writes `value` at `pos` (with room for size(value) bytes); returns the position after it. */
  encode(buf: Buffer, pos: number, value: unknown): number;
  decode(r: XdrReader): unknown;
}

const codecs = new WeakMap<XdrType, Codec>();

function codecOf(type: XdrType): Codec {
  let c = codecs.get(type);
  if (!c) {
    c = makeCodec(type);
    codecs.set(type, c);
  }
  return c;
}

/** How many bytes `value` takes as `type` (before it is checked). */
export function sizeOf(type: XdrType, value: unknown): number {
  return codecOf(type).size(value);
}

/** Encodes `value` at `pos` (with room for sizeOf bytes); returns the position after it. */
export function encodeAt(buf: Buffer, pos: number, type: XdrType, value: unknown): number {
  return codecOf(type).encode(buf, pos, value);
}

function putBytes(buf: Buffer, pos: number, b: Uint8Array): number {
  buf.set(b, pos);
  const end = pos + b.length;
  const padded = end + pad(b.length);
  if (padded > end) buf.fill(0, end, padded);
  return padded;
}

const codec = (size: Codec["size"], encode: Codec["encode"], decode: Codec["decode"]): Codec => ({
  size,
  encode,
  decode,
});

const four = () => 4;
const eight = () => 8;

function makeCodec(type: XdrType): Codec {
  switch (type.kind) {
    case "void":
      return codec(
        () => 0,
        (_, pos) => pos,
        () => undefined,
      );
    case "int":
      return codec(
        four,
        (buf, pos, value) => {
          const v = value as number;
          if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff)
            throw new XdrError(`${v} is not an XDR int`);
          buf.writeInt32BE(v, pos);
          return pos + 4;
        },
        (r) => r.int(),
      );
    case "uint":
      return codec(
        four,
        (buf, pos, value) => {
          const v = value as number;
          if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
            throw new XdrError(`${v} is not an XDR uint`);
          buf.writeUInt32BE(v, pos);
          return pos + 4;
        },
        (r) => r.uint(),
      );
    case "hyper":
      return codec(
        eight,
        (buf, pos, value) => {
          buf.writeBigInt64BE(value as bigint, pos);
          return pos + 8;
        },
        (r) => r.hyper(),
      );
    case "uhyper":
      return codec(
        eight,
        (buf, pos, value) => {
          buf.writeBigUInt64BE(value as bigint, pos);
          return pos + 8;
        },
        (r) => r.uhyper(),
      );
    case "string": {
      const max = type.max;
      return codec(
        (value) => {
          const n = typeof value === "string" ? Buffer.byteLength(value, "utf8") : 0;
          return 4 + n + pad(n);
        },
        (buf, pos, value) => {
          if (typeof value !== "string") throw new XdrError(`${typeof value} is not an XDR string`);
          const n = buf.write(value, pos + 4, "utf8");
          if (n > max) throw new XdrError(`string of ${n} bytes over ${max}`);
          buf.writeUInt32BE(n, pos);
          const end = pos + 4 + n;
          const padded = end + pad(n);
          if (padded > end) buf.fill(0, end, padded);
          return padded;
        },
        (r) => {
          const n = r.uint();
          if (n > max) throw new XdrError(`string of ${n} bytes over its limit ${max}`);
          return r.text(n);
        },
      );
    }
    case "opaque": {
      const size = type.size;
      return codec(
        () => size + pad(size),
        (buf, pos, value) => {
          const b = value as Uint8Array;
          if (b.length !== size) throw new XdrError(`opaque of ${b.length} bytes, not ${size}`);
          return putBytes(buf, pos, b);
        },
        (r) => r.copy(size),
      );
    }
    case "optional": {
      const of = codecOf(type.of);
      return codec(
        (value) => (value === null || value === undefined ? 4 : 4 + of.size(value)),
        (buf, pos, value) => {
          if (value === null || value === undefined) {
            buf.writeUInt32BE(0, pos);
            return pos + 4;
          }
          buf.writeUInt32BE(1, pos);
          return of.encode(buf, pos + 4, value);
        },
        (r) => {
          const present = r.uint();
          if (present > 1) throw new XdrError(`bad optional flag ${present}`);
          return present ? of.decode(r) : null;
        },
      );
    }
    case "array": {
      const of = codecOf(type.of);
      const max = type.max;
      return codec(
        (value) => {
          let n = 4;
          for (const item of value as unknown[]) n += of.size(item);
          return n;
        },
        (buf, pos, value) => {
          const items = value as unknown[];
          if (items.length > max) throw new XdrError(`array of ${items.length} over ${max}`);
          buf.writeUInt32BE(items.length, pos);
          let at = pos + 4;
          for (const item of items) at = of.encode(buf, at, item);
          return at;
        },
        (r) => {
          const n = r.uint();
          if (n > max) throw new XdrError(`array of ${n} over its limit ${max}`);
          const items: unknown[] = [];
          for (let i = 0; i < n; i++) items.push(of.decode(r));
          return items;
        },
      );
    }
    case "struct":
      return structCodec(type.fields);
  }
}

function structCodec(fields: Readonly<Record<string, XdrType>>): Codec {
  const entries = Object.entries(fields);
  const parts = entries.map(([, t]) => codecOf(t));
  const keys = entries.map(([name]) => JSON.stringify(name));
  const names = keys.map((_, i) => i);
  // f0..fn: the fields' codecs, bound once; v[key]: each field read by its literal name.
  const prelude = names.map((i) => `const f${i} = parts[${i}];`).join("\n");
  const make = (body: string) =>
    new Function("parts", `"use strict";\n${prelude}\nreturn ${body};`)(parts);
  const size = make(
    `function sizeStruct(v) { return 0${names.map((i) => ` + f${i}.size(v[${keys[i]}])`).join("")}; }`,
  ) as Codec["size"];
  const encode = make(
    `function encodeStruct(buf, pos, v) {${names
      .map((i) => ` pos = f${i}.encode(buf, pos, v[${keys[i]}]);`)
      .join("")} return pos; }`,
  ) as Codec["encode"];
  // Fields are read in order: an object literal's values are evaluated left to right.
  const decode = make(
    `function decodeStruct(r) { return {${names.map((i) => ` ${keys[i]}: f${i}.decode(r)`).join(",")} }; }`,
  ) as Codec["decode"];
  return codec(size, encode, decode);
}
