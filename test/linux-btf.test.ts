// The BTF reader and typed records of xmhf-ts/linux on a BTF blob written
// here by hand (include/uapi/linux/btf.h): bitfields signed and unsigned,
// anonymous unions, enums, typedefs, pointers, char arrays and function
// prototypes, read from a plain memory view.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Btf, Kind } from '../src/linux/btf.js';
import { record, snapshot } from '../src/linux/typed.js';
import type { MemoryView } from '../src/hypapp/api.js';

/** Writes BTF: types as [name, info fields, size-or-type, extra u32s]; strings interned. */
function buildBtf(types: Array<{ name: string; kind: Kind; vlen?: number; kindFlag?: boolean; sizeOrType: number; extra?: Array<number | string> }>): Uint8Array {
  const strings: string[] = [''];
  const offsets = new Map<string, number>([['', 0]]);
  let strLen = 1;
  const str = (s: string) => {
    if (!offsets.has(s)) { offsets.set(s, strLen); strings.push(s); strLen += Buffer.byteLength(s) + 1; }
    return offsets.get(s)!;
  };
  const words: number[] = [];
  for (const t of types) {
    words.push(str(t.name), ((t.kindFlag ? 1 : 0) << 31) | (t.kind << 24) | (t.vlen ?? 0), t.sizeOrType);
    for (const e of t.extra ?? []) words.push(typeof e === 'string' ? str(e) : e);
  }
  const typeLen = words.length * 4;
  const strBytes = Buffer.from(strings.map((s) => `${s}\0`).join(''), 'latin1');
  const out = new Uint8Array(24 + typeLen + strBytes.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 0xeb9f, true); out[2] = 1; dv.setUint32(4, 24, true);
  dv.setUint32(8, 0, true); dv.setUint32(12, typeLen, true); dv.setUint32(16, typeLen, true); dv.setUint32(20, strBytes.length, true);
  words.forEach((w, i) => dv.setUint32(24 + 4 * i, w >>> 0, true));
  out.set(strBytes, 24 + typeLen);
  return out;
}

const INT_SIGNED = 1 << 24;
const blob = buildBtf([
  /* 1 */ { name: 'unsigned int', kind: Kind.INT, sizeOrType: 4, extra: [32] },
  /* 2 */ { name: 'int', kind: Kind.INT, sizeOrType: 4, extra: [INT_SIGNED | 32] },
  /* 3 */ { name: 'char', kind: Kind.INT, sizeOrType: 1, extra: [INT_SIGNED | 8] },
  /* 4 */ { name: '', kind: Kind.ARRAY, sizeOrType: 0, extra: [3, 1, 8] },           // char[8]
  /* 5 */ { name: 'u32', kind: Kind.TYPEDEF, sizeOrType: 1 },
  /* 6 */ { name: 'long unsigned int', kind: Kind.INT, sizeOrType: 8, extra: [64] },
  /* 7 */ { name: '', kind: Kind.UNION, vlen: 2, sizeOrType: 8, extra: ['as_long', 6, 0, 'as_int', 2, 0] },
  /* 8 */ { name: 'thing', kind: Kind.STRUCT, vlen: 6, kindFlag: true, sizeOrType: 32, extra: [
    'low', 1, (3 << 24) | 0,       // unsigned :3 at bit 0
    'neg', 2, (5 << 24) | 3,       // signed :5 at bit 3
    'count', 5, 32,                // u32 at byte 4
    'name', 4, 64,                 // char[8] at byte 8
    '', 7, 128,                    // anonymous union at byte 16
    'next', 9, 192,                // struct thing * at byte 24
  ] },
  /* 9 */ { name: '', kind: Kind.PTR, sizeOrType: 8 },
  /* 10 */ { name: 'colour', kind: Kind.ENUM, vlen: 2, kindFlag: true, sizeOrType: 4, extra: ['RED', 1, 'DARK', -3] },
  /* 11 */ { name: '', kind: Kind.FUNC_PROTO, vlen: 2, sizeOrType: 2, extra: ['t', 9, 'n', 5] },
  /* 12 */ { name: 'poke', kind: Kind.FUNC, sizeOrType: 11 },
  /* 13 */ { name: '', kind: Kind.CONST, sizeOrType: 3 },
]);

/** Guest memory as a flat byte array at address 0x1000. */
function memory(bytes: number[]): MemoryView {
  const b = new Uint8Array(64);
  b.set(bytes);
  const dv = new DataView(b.buffer);
  const at = (a: bigint | number) => Number(BigInt(a) - 0x1000n);
  const fail = () => { throw new Error('read-only'); };
  return {
    read: (a, n) => b.slice(at(a), at(a) + n), readU8: (a) => b[at(a)], readU16: (a) => dv.getUint16(at(a), true),
    readU32: (a) => dv.getUint32(at(a), true), readU64: (a) => dv.getBigUint64(at(a), true), readString: () => '',
    write: fail, writeU8: fail, writeU16: fail, writeU32: fail, writeU64: fail,
  };
}

test('a struct reads member by member: bitfields (signed ones sign-extended), typedefs, char arrays, anonymous unions, pointers', () => {
  const btf = new Btf(blob);
  const t = btf.struct('thing');
  assert.equal(t.size, 32);
  // low = 5 (bits 0-2), neg = -2 (bits 3-7: 0b11110)
  const mem = memory([0b1111_0101, 0, 0, 0, 0x2a, 0, 0, 0, ...Buffer.from('kthread\0'), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x10, 0, 0, 0, 0, 0, 0]);
  for (const view of [mem, snapshot(mem, 0x1000n, 32)]) {
    const r = record(btf, view, t, 0x1000n);
    assert.equal(r.low, 5);
    assert.equal(r.neg, -2);
    assert.equal(r.count, 42, 'through the u32 typedef');
    assert.equal(r.name, 'kthread');
    assert.equal(r.as_long, 0xffff_ffff_ffff_ffffn, 'a member of the anonymous union, 64-bit unsigned');
    assert.equal(r.as_int, -1);
    assert.equal(r.next, 0x1000n);
    assert.equal(r.$address, 0x1000n);
    assert.equal(r.$type, 'thing');
    assert.ok('count' in r && !('nope' in r));
    assert.throws(() => r.nope, /struct thing has no member "nope"/);
  }
  assert.equal(btf.member(t, 'as_int')?.bitOffset, 128, 'found inside the anonymous union, offset from the struct');
  assert.equal(btf.sizeOf(4), 8);
});

test('enums, function prototypes with parameter names, and C spellings of types', () => {
  const btf = new Btf(blob);
  assert.deepEqual([...btf.enumValues(btf.named('colour')[0])], [['RED', 1n], ['DARK', -3n]]);
  const fn = btf.named('poke', [Kind.FUNC])[0];
  const proto = btf.types[fn.ref];
  assert.equal(btf.typeName(proto.ref), 'int');
  assert.deepEqual(btf.params(proto).map((p) => `${btf.typeName(p.type)} ${p.name}`), ['struct thing * t', 'u32 n']);
  assert.equal(btf.typeName(13), 'const char');
  assert.equal(btf.typeName(4), 'char[8]');
  assert.throws(() => btf.struct('nothing'), /no struct or union named "nothing"/);
});
