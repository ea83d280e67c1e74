// x87 register formats between the backend (significand and sign/exponent
// word, abridged tag) and what debuggers read (10 little-endian bytes, the
// full tag word of FSTENV/FSAVE).
import type { X87Register } from '../backend/interface.js';

/** The register's 10 bytes, little-endian: significand, then sign and exponent. */
export function x87Bytes(r: X87Register): Uint8Array {
  const out = new Uint8Array(10);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt.asUintN(64, r.significand), true);
  view.setUint16(8, r.signExponent & 0xffff, true);
  return out;
}

export function x87Register(bytes: Uint8Array): X87Register {
  if (bytes.length !== 10) throw new RangeError(`an x87 register is 10 bytes, not ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 10);
  return { significand: view.getBigUint64(0, true), signExponent: view.getUint16(8, true) };
}

/**
 * The full tag word from the abridged one (bit p: physical register p in
 * use) and the physical registers' contents, as FSTENV computes it: 0 valid,
 * 1 zero, 2 special (NaN, infinity, denormal, unnormal), 3 empty.
 */
export function fullTagWord(abridged: number, physical: X87Register[]): number {
  let word = 0;
  for (let p = 0; p < 8; p++) {
    let tag = 3;
    if ((abridged >> p) & 1) {
      const exp = physical[p].signExponent & 0x7fff;
      const integer = (physical[p].significand >> 63n) & 1n;
      if (exp === 0x7fff) tag = 2;
      else if (exp === 0) tag = physical[p].significand === 0n ? 1 : 2;
      else tag = integer ? 0 : 2;
    }
    word |= tag << (2 * p);
  }
  return word;
}

/** The abridged tag of a full tag word: a register is in use unless its tag is 3 (empty). */
export function abridgedTag(full: number): number {
  let m = 0;
  for (let p = 0; p < 8; p++) if (((full >> (2 * p)) & 3) !== 3) m |= 1 << p;
  return m;
}
