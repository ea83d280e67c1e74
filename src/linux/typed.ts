// Typed reads of kernel structures through BTF: `read(space, 'task_struct',
// addr).pid` reads just that member when it is asked for, so a record costs
// nothing until used, and reads what the guest holds at that moment.
import type { MemoryView } from 'xmhf-ts/hypapp';
import { Kind, type Btf, type BtfType } from './btf.js';

/** A value read through BTF: numbers for integers up to 32 bits, bigint for 64-bit ones and pointers, strings for char arrays. */
export type KernelValue = number | bigint | string | KernelRecord | KernelValue[];

/** A struct or union in guest memory; each member is read when its property is. */
export interface KernelRecord {
  readonly $address: bigint;
  /** The struct's name ("task_struct"). */
  readonly $type: string;
  readonly [member: string]: KernelValue;
}

/** Arrays longer than this are not read whole (a record's member stays lazy; read its elements by address). */
const MAX_ARRAY = 4096;

export function readValue(btf: Btf, mem: MemoryView, typeId: number, addr: bigint, bitOffset = 0, bitSize = 0): KernelValue {
  const t = btf.resolve(typeId);
  if (!t) throw new TypeError(`BTF type ${typeId} does not exist`);
  if (bitSize > 0) {
    // A bitfield: read the bytes that hold it and cut it out.
    const first = bitOffset >> 3, shift = bitOffset & 7, bytes = (shift + bitSize + 7) >> 3;
    const raw = mem.read(addr + BigInt(first), bytes);
    let v = 0n;
    for (let i = bytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]);
    v = (v >> BigInt(shift)) & ((1n << BigInt(bitSize)) - 1n);
    if (btf.isSigned(t)) v = BigInt.asIntN(bitSize, v);
    return Number(v);
  }
  const at = addr + BigInt(bitOffset >> 3);
  switch (t.kind) {
    case Kind.INT: case Kind.ENUM: case Kind.ENUM64: return readInt(mem, at, t.size, btf.isSigned(t));
    case Kind.PTR: return mem.readU64(at);
    case Kind.STRUCT: case Kind.UNION: return record(btf, mem, t, at);
    case Kind.ARRAY: {
      const n = btf.arrayLength(t), elem = btf.resolve(t.ref);
      if (elem.kind === Kind.INT && elem.size === 1 && elem.name.includes('char')) {
        const bytes = mem.read(at, n);
        const nul = bytes.indexOf(0);
        return Buffer.from(bytes.subarray(0, nul < 0 ? n : nul)).toString('utf8');
      }
      if (n > MAX_ARRAY) throw new RangeError(`array of ${n} elements at 0x${at.toString(16)}: read its elements by address`);
      const size = btf.sizeOf(t.ref);
      return Array.from({ length: n }, (_, i) => readValue(btf, mem, t.ref, at + BigInt(i * size)));
    }
    case Kind.FLOAT: return t.size === 8 ? new DataView(mem.read(at, 8).buffer).getFloat64(0, true) : new DataView(mem.read(at, 4).buffer).getFloat32(0, true);
    default: throw new TypeError(`cannot read a value of type ${btf.typeName(typeId)}`);
  }
}

function readInt(mem: MemoryView, at: bigint, size: number, signed: boolean): number | bigint {
  switch (size) {
    case 1: { const v = mem.readU8(at); return signed ? (v << 24) >> 24 : v; }
    case 2: { const v = mem.readU16(at); return signed ? (v << 16) >> 16 : v; }
    case 4: { const v = mem.readU32(at); return signed ? v | 0 : v; }
    case 8: { const v = mem.readU64(at); return signed ? BigInt.asIntN(64, v) : v; }
    default: throw new TypeError(`an integer of ${size} bytes`);
  }
}

/** A lazy record over the struct or union `t` at `addr`. */
export function record(btf: Btf, mem: MemoryView, t: BtfType, addr: bigint): KernelRecord {
  const target = { $address: addr, $type: t.name } as KernelRecord;
  return new Proxy(target, {
    get(obj, prop) {
      if (typeof prop !== 'string' || prop in obj) return Reflect.get(obj, prop);
      if (prop === 'then' || prop === 'toJSON') return undefined; // not a promise; JSON sees $address and $type
      const m = btf.member(t, prop);
      if (!m) throw new TypeError(`struct ${t.name} has no member "${prop}"`);
      return readValue(btf, mem, m.type, addr, m.bitOffset, m.bitSize);
    },
    has(obj, prop) { return typeof prop === 'string' && (prop in obj || btf.member(t, prop) !== undefined); },
  });
}

/**
 * A read-only copy of [addr, addr + size) that answers reads at the same
 * addresses: one walk of the guest's page tables for a whole struct instead
 * of one per member. Reads outside the copy go to `mem`.
 */
export function snapshot(mem: MemoryView, addr: bigint, size: number): MemoryView {
  const bytes = mem.read(addr, size);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = addr + BigInt(size);
  const inside = (a: bigint | number, n: number): number => {
    const at = BigInt(a);
    return at >= addr && at + BigInt(n) <= end ? Number(at - addr) : -1;
  };
  const readOnly = () => { throw new TypeError('a snapshot of guest memory is read-only'); };
  return {
    read: (a, n) => { const o = inside(a, n); return o >= 0 ? bytes.slice(o, o + n) : mem.read(a, n); },
    readU8: (a) => { const o = inside(a, 1); return o >= 0 ? bytes[o] : mem.readU8(a); },
    readU16: (a) => { const o = inside(a, 2); return o >= 0 ? dv.getUint16(o, true) : mem.readU16(a); },
    readU32: (a) => { const o = inside(a, 4); return o >= 0 ? dv.getUint32(o, true) : mem.readU32(a); },
    readU64: (a) => { const o = inside(a, 8); return o >= 0 ? dv.getBigUint64(o, true) : mem.readU64(a); },
    readString: (a, max) => mem.readString(a, max),
    write: readOnly, writeU8: readOnly, writeU16: readOnly, writeU32: readOnly, writeU64: readOnly,
  };
}
