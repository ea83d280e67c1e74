// Random contents shaped like the values instructions get wrong: special
// doubles and floats, lane edge values, and the batch's data pattern.
import { DATA_SIZE } from './layout.js';
import { Rng } from './prng.js';

const DOUBLES: bigint[] = [
  0x0000000000000000n, 0x8000000000000000n, 0x3ff0000000000000n, 0xbff0000000000000n,
  0x3ff8000000000000n, 0x4004000000000000n, 0xc004000000000000n, 0x3fe0000000000000n,
  0x0000000000000001n, 0x000fffffffffffffn, 0x0010000000000000n, 0x7fefffffffffffffn,
  0x7ff0000000000000n, 0xfff0000000000000n, 0x7ff8000000000000n, 0xfff8000000000000n,
  0x7ff0000000000001n, 0x7ff4000000000000n, 0x41dfffffffc00000n, 0xc1e0000000000000n,
  0x43e0000000000000n, 0xc3e0000000000000n, 0x41e0000000000000n, 0x40c81c8000000000n,
];
const FLOATS: number[] = [
  0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3fc00000, 0x40200000, 0xc0200000,
  0x00000001, 0x007fffff, 0x00800000, 0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00000,
  0xffc00000, 0x7f800001, 0x4f000000, 0xcf000000, 0x5f000000,
];

/** A random double, often a special value or a number near 1. */
function randomDouble(rng: Rng): bigint {
  if (rng.chance(0.4)) return rng.pick(DOUBLES);
  const sign = BigInt(rng.int(2)) << 63n;
  const exp = BigInt(rng.chance(0.8) ? 1023 + rng.range(-70, 70) : rng.int(2048)) << 52n;
  return sign | exp | (rng.u64() & ((1n << 52n) - 1n));
}

function randomFloat(rng: Rng): number {
  if (rng.chance(0.4)) return rng.pick(FLOATS);
  const sign = rng.int(2) << 31;
  const exp = (rng.chance(0.8) ? 127 + rng.range(-30, 30) : rng.int(256)) << 23;
  return (sign | exp | (rng.u32() & 0x7fffff)) >>> 0;
}

/** 16 random bytes shaped as bytes, words, dwords, floats or doubles. */
function randomVector(rng: Rng): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  switch (rng.int(6)) {
    case 0: view.setBigUint64(0, randomDouble(rng), true); view.setBigUint64(8, randomDouble(rng), true); break;
    case 1: for (let i = 0; i < 4; i++) view.setUint32(4 * i, randomFloat(rng), true); break;
    case 2: for (let i = 0; i < 8; i++) view.setUint16(2 * i, Number(rng.interesting(16)), true); break;
    case 3: for (let i = 0; i < 16; i++) out[i] = Number(rng.interesting(8)); break;
    case 4: out.fill(rng.pick([0, 0xff])); break;
    default: out.set(rng.bytes(16));
  }
  return out;
}

export function randomXmm(rng: Rng): Uint8Array {
  const out = new Uint8Array(256);
  for (let i = 0; i < 16; i++) out.set(randomVector(rng), 16 * i);
  return out;
}

/** The batch's data pattern: 64-byte blocks of random, zero, all-ones, or vector-shaped bytes. */
export function makePattern(rng: Rng): Uint8Array {
  const out = new Uint8Array(DATA_SIZE);
  for (let block = 0; block < DATA_SIZE; block += 64) {
    const style = rng.int(10);
    for (let i = 0; i < 64; i += 16) {
      if (style < 5) out.set(rng.bytes(16), block + i);
      else if (style === 5) out.fill(0, block + i, block + i + 16);
      else if (style === 6) out.fill(0xff, block + i, block + i + 16);
      else out.set(randomVector(rng), block + i);
    }
  }
  return out;
}
