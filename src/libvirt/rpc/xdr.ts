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

// Field lists of struct descriptions, computed once: codecs walk them on every message.
const fieldCache = new WeakMap<object, [string, XdrType][]>();
function fieldsOf(type: { fields: Readonly<Record<string, XdrType>> }): [string, XdrType][] {
  let fields = fieldCache.get(type);
  if (!fields) {
    fields = Object.entries(type.fields);
    fieldCache.set(type, fields);
  }
  return fields;
}

export class XdrWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.alloc(initial);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.pos + n));
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
    this.buf.set(b, this.pos);
    this.pos += b.length;
    this.buf.fill(0, this.pos, this.pos + pad(b.length));
    this.pos += pad(b.length);
  }

  write(type: XdrType, value: unknown): void {
    encode(this, type, value);
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

function encode(w: XdrWriter, type: XdrType, value: unknown): void {
  switch (type.kind) {
    case "void":
      return;
    case "int":
    case "uint": {
      const v = value as number;
      const [lo, hi] = type.kind === "int" ? [-0x80000000, 0x7fffffff] : [0, 0xffffffff];
      if (!Number.isInteger(v) || v < lo || v > hi)
        throw new XdrError(`${v} is not an XDR ${type.kind}`);
      if (type.kind === "int") w.int(v);
      else w.uint(v);
      return;
    }
    case "hyper":
    case "uhyper": {
      const b = Buffer.alloc(8);
      if (type.kind === "hyper") b.writeBigInt64BE(value as bigint);
      else b.writeBigUInt64BE(value as bigint);
      w.bytes(b);
      return;
    }
    case "string": {
      const b = Buffer.from(value as string, "utf8");
      if (b.length > type.max) throw new XdrError(`string of ${b.length} bytes over ${type.max}`);
      w.uint(b.length);
      w.bytes(b);
      return;
    }
    case "opaque": {
      const b = value as Uint8Array;
      if (b.length !== type.size)
        throw new XdrError(`opaque of ${b.length} bytes, not ${type.size}`);
      w.bytes(b);
      return;
    }
    case "optional":
      if (value === null || value === undefined) {
        w.uint(0);
      } else {
        w.uint(1);
        encode(w, type.of, value);
      }
      return;
    case "array": {
      const items = value as unknown[];
      if (items.length > type.max) throw new XdrError(`array of ${items.length} over ${type.max}`);
      w.uint(items.length);
      for (const item of items) encode(w, type.of, item);
      return;
    }
    case "struct": {
      const o = value as Record<string, unknown>;
      for (const [name, t] of fieldsOf(type)) encode(w, t, o[name]);
      return;
    }
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

  read(type: XdrType): unknown {
    return decode(this, type);
  }

  /** Fails unless every byte was consumed: trailing bytes mean a misread. */
  end(): void {
    if (this.pos !== this.buf.length) {
      throw new XdrError(`${this.buf.length - this.pos} unexpected bytes at the end of a message`);
    }
  }
}

function decode(r: XdrReader, type: XdrType): unknown {
  switch (type.kind) {
    case "void":
      return undefined;
    case "int":
      return r.int();
    case "uint":
      return r.uint();
    case "hyper":
      return r.bytes(8).readBigInt64BE();
    case "uhyper":
      return r.bytes(8).readBigUInt64BE();
    case "string": {
      const n = r.uint();
      if (n > type.max) throw new XdrError(`string of ${n} bytes over its limit ${type.max}`);
      return r.bytes(n).toString("utf8");
    }
    case "opaque":
      return Uint8Array.from(r.bytes(type.size));
    case "optional": {
      const present = r.uint();
      if (present > 1) throw new XdrError(`bad optional flag ${present}`);
      return present ? decode(r, type.of) : null;
    }
    case "array": {
      const n = r.uint();
      if (n > type.max) throw new XdrError(`array of ${n} over its limit ${type.max}`);
      const items: unknown[] = [];
      for (let i = 0; i < n; i++) items.push(decode(r, type.of));
      return items;
    }
    case "struct": {
      const o: Record<string, unknown> = {};
      for (const [name, t] of fieldsOf(type)) o[name] = decode(r, t);
      return o;
    }
  }
}
