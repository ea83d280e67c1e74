// The kernel's own type information (BTF, between __start_BTF and __stop_BTF
// in its read-only data; include/uapi/linux/btf.h), found by its header in a
// copy of the image and parsed into layouts, enums, typedefs and function
// signatures. Types are indexed once; members are decoded when first asked.

export class BtfError extends Error {}

export enum Kind {
  INT = 1, PTR = 2, ARRAY = 3, STRUCT = 4, UNION = 5, ENUM = 6, FWD = 7, TYPEDEF = 8,
  VOLATILE = 9, CONST = 10, RESTRICT = 11, FUNC = 12, FUNC_PROTO = 13, VAR = 14,
  DATASEC = 15, FLOAT = 16, DECL_TAG = 17, TYPE_TAG = 18, ENUM64 = 19,
}

const MAGIC = 0xeb9f;
const HEADER_LEN = 24;

export interface Member {
  name: string;
  /** BTF type id of the member. */
  type: number;
  /** Offset from the start of the struct, in bits. */
  bitOffset: number;
  /** Width of a bitfield in bits (0: not a bitfield). */
  bitSize: number;
}

export interface Param { name: string; type: number }

export interface BtfType {
  id: number;
  kind: Kind;
  name: string;
  /** Byte size (INT, STRUCT, UNION, ENUM, DATASEC, FLOAT); 0 otherwise. */
  size: number;
  /** The referenced type (PTR, TYPEDEF, CONST, FUNC, FUNC_PROTO's return, VAR, ARRAY's element ...). */
  ref: number;
  vlen: number;
  kindFlag: boolean;
  /** Where the kind-specific data after the 12-byte header starts (in the BTF blob). */
  extra: number;
}

/** Find the BTF blob in `image`: the header magic, version 1, and sections that fit. */
export function findBtf(image: Uint8Array): Uint8Array {
  const buf = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  const sig = Uint8Array.of(0x9f, 0xeb, 1, 0, HEADER_LEN, 0, 0, 0);
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  for (let at = buf.indexOf(sig); at >= 0; at = buf.indexOf(sig, at + 1)) {
    if (at + HEADER_LEN > image.length) break;
    const typeOff = dv.getUint32(at + 8, true), typeLen = dv.getUint32(at + 12, true);
    const strOff = dv.getUint32(at + 16, true), strLen = dv.getUint32(at + 20, true);
    const end = at + HEADER_LEN + Math.max(typeOff + typeLen, strOff + strLen);
    // vmlinux's BTF is megabytes of types; a stray match of the header is not.
    if (typeOff === 0 && strOff === typeLen && typeLen > 4096 && end <= image.length && image[at + HEADER_LEN + strOff] === 0) {
      return image.subarray(at, end);
    }
  }
  throw new BtfError('no BTF found in the kernel image (a kernel built without CONFIG_DEBUG_INFO_BTF)');
}

export class Btf {
  readonly types: BtfType[] = [];
  private readonly dv: DataView;
  private readonly strings: number;
  private readonly byName = new Map<string, number[]>();
  private readonly members = new Map<number, Member[]>();

  constructor(private readonly blob: Uint8Array) {
    this.dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    if (this.dv.getUint16(0, true) !== MAGIC) throw new BtfError('not BTF (bad magic)');
    const typeOff = HEADER_LEN + this.dv.getUint32(8, true);
    const typeLen = this.dv.getUint32(12, true);
    this.strings = HEADER_LEN + this.dv.getUint32(16, true);
    this.types.push({ id: 0, kind: 0 as Kind, name: 'void', size: 0, ref: 0, vlen: 0, kindFlag: false, extra: 0 });
    let p = typeOff;
    const end = typeOff + typeLen;
    while (p < end) {
      const info = this.dv.getUint32(p + 4, true);
      const kind = ((info >>> 24) & 0x1f) as Kind, vlen = info & 0xffff;
      const sizeOrType = this.dv.getUint32(p + 8, true);
      const t: BtfType = {
        id: this.types.length, kind, name: this.str(this.dv.getUint32(p, true)), vlen, kindFlag: (info >>> 31) === 1, extra: p + 12,
        size: SIZED.has(kind) ? sizeOrType : 0, ref: SIZED.has(kind) ? 0 : sizeOrType,
      };
      if (kind === Kind.ARRAY) t.ref = this.dv.getUint32(p + 12, true);
      this.types.push(t);
      if (t.name) {
        const ids = this.byName.get(t.name);
        if (ids) ids.push(t.id); else this.byName.set(t.name, [t.id]);
      }
      p += 12 + extraSize(kind, vlen);
    }
  }

  str(off: number): string {
    const at = this.strings + off;
    const nul = this.blob.indexOf(0, at);
    return Buffer.from(this.blob.buffer, this.blob.byteOffset + at, nul - at).toString('latin1');
  }

  /** Types with this name, optionally of these kinds. */
  named(name: string, kinds?: readonly Kind[]): BtfType[] {
    return (this.byName.get(name) ?? []).map((id) => this.types[id]).filter((t) => !kinds || kinds.includes(t.kind));
  }

  /** The struct or union `name` (its full definition, not a forward declaration); throws if none. */
  struct(name: string): BtfType {
    const t = this.named(name, [Kind.STRUCT, Kind.UNION])[0];
    if (!t) throw new BtfError(`the kernel's BTF has no struct or union named "${name}"`);
    return t;
  }

  /** Skip typedefs and qualifiers (const, volatile, restrict, type tags). */
  resolve(id: number): BtfType {
    let t = this.types[id];
    for (let n = 0; n < 64 && t && (t.kind === Kind.TYPEDEF || t.kind === Kind.CONST || t.kind === Kind.VOLATILE || t.kind === Kind.RESTRICT || t.kind === Kind.TYPE_TAG); n++) t = this.types[t.ref];
    return t;
  }

  /** Members of a struct or union, as declared (anonymous members included, with empty names). */
  membersOf(t: BtfType): Member[] {
    let list = this.members.get(t.id);
    if (list) return list;
    list = [];
    if (t.kind === Kind.STRUCT || t.kind === Kind.UNION) {
      for (let i = 0; i < t.vlen; i++) {
        const at = t.extra + 12 * i;
        const raw = this.dv.getUint32(at + 8, true);
        list.push({
          name: this.str(this.dv.getUint32(at, true)), type: this.dv.getUint32(at + 4, true),
          bitOffset: t.kindFlag ? raw & 0xffffff : raw, bitSize: t.kindFlag ? raw >>> 24 : 0,
        });
      }
    }
    this.members.set(t.id, list);
    return list;
  }

  /** A member by name, looking into anonymous structs and unions; bitOffset is from the start of `t`. */
  member(t: BtfType, name: string): Member | undefined {
    const key = `${t.id}.${name}`;
    if (this.found.has(key)) return this.found.get(key);
    const m = this.findMember(t, name);
    this.found.set(key, m);
    return m;
  }
  private readonly found = new Map<string, Member | undefined>();

  private findMember(t: BtfType, name: string): Member | undefined {
    for (const m of this.membersOf(t)) {
      if (m.name === name) return m;
      if (m.name === '') {
        const inner = this.resolve(m.type);
        const found = inner && this.member(inner, name);
        if (found) return { ...found, bitOffset: found.bitOffset + m.bitOffset };
      }
    }
    return undefined;
  }

  /** Size in bytes of a type (pointers 8, arrays their element times count). */
  sizeOf(id: number): number {
    const t = this.resolve(id);
    if (!t) return 0;
    switch (t.kind) {
      case Kind.PTR: return 8;
      case Kind.ARRAY: return this.sizeOf(t.ref) * this.arrayLength(t);
      default: return t.size;
    }
  }

  arrayLength(t: BtfType): number { return this.dv.getUint32(t.extra + 8, true); }

  /** Whether an INT type is signed. */
  isSigned(t: BtfType): boolean { return t.kind === Kind.INT ? (this.dv.getUint32(t.extra, true) >>> 24 & 1) === 1 : t.kind === Kind.ENUM && t.kindFlag; }

  /** An enum's values by name. */
  enumValues(t: BtfType): Map<string, bigint> {
    const out = new Map<string, bigint>();
    for (let i = 0; i < t.vlen; i++) {
      if (t.kind === Kind.ENUM) {
        const at = t.extra + 8 * i;
        const v = t.kindFlag ? BigInt(this.dv.getInt32(at + 4, true)) : BigInt(this.dv.getUint32(at + 4, true));
        out.set(this.str(this.dv.getUint32(at, true)), v);
      } else if (t.kind === Kind.ENUM64) {
        const at = t.extra + 12 * i;
        const v = (BigInt(this.dv.getUint32(at + 8, true)) << 32n) | BigInt(this.dv.getUint32(at + 4, true));
        out.set(this.str(this.dv.getUint32(at, true)), t.kindFlag ? BigInt.asIntN(64, v) : v);
      }
    }
    return out;
  }

  /** Parameters of a FUNC_PROTO. */
  params(proto: BtfType): Param[] {
    const out: Param[] = [];
    for (let i = 0; i < proto.vlen; i++) {
      const at = proto.extra + 8 * i;
      out.push({ name: this.str(this.dv.getUint32(at, true)), type: this.dv.getUint32(at + 4, true) });
    }
    return out;
  }

  /** C-like spelling of a type ("struct file *", "const char *", "int"). */
  typeName(id: number, depth = 0): string {
    const t = this.types[id];
    if (!t || id === 0) return 'void';
    if (depth > 16) return '...';
    switch (t.kind) {
      case Kind.PTR: return `${this.typeName(t.ref, depth + 1)} *`;
      case Kind.CONST: return `const ${this.typeName(t.ref, depth + 1)}`;
      case Kind.VOLATILE: return `volatile ${this.typeName(t.ref, depth + 1)}`;
      case Kind.RESTRICT: case Kind.TYPE_TAG: return this.typeName(t.ref, depth + 1);
      case Kind.STRUCT: return `struct ${t.name || '(anon)'}`;
      case Kind.UNION: return `union ${t.name || '(anon)'}`;
      case Kind.ENUM: case Kind.ENUM64: return `enum ${t.name || '(anon)'}`;
      case Kind.FWD: return `${t.kindFlag ? 'union' : 'struct'} ${t.name}`;
      case Kind.ARRAY: return `${this.typeName(t.ref, depth + 1)}[${this.arrayLength(t)}]`;
      case Kind.FUNC_PROTO: return `${this.typeName(t.ref, depth + 1)} (*)(...)`;
      default: return t.name || '?';
    }
  }
}

const SIZED = new Set<Kind>([Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.DATASEC, Kind.FLOAT, Kind.ENUM64]);

function extraSize(kind: Kind, vlen: number): number {
  switch (kind) {
    case Kind.INT: case Kind.VAR: case Kind.DECL_TAG: return 4;
    case Kind.ARRAY: return 12;
    case Kind.STRUCT: case Kind.UNION: case Kind.DATASEC: case Kind.ENUM64: return 12 * vlen;
    case Kind.ENUM: case Kind.FUNC_PROTO: return 8 * vlen;
    default: return 0;
  }
}
