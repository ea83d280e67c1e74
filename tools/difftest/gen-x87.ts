// x87 categories: a few operands loaded (80-bit special values, values near
// the rounding boundaries of 24, 53 and 64 bits, floats, integers, BCD)
// under a random precision and rounding control, one or two operations,
// then FNSAVE of the whole FPU: ST0-ST7 as 80-bit values, the control,
// status and tag words are compared bit for bit as memory.
import { CaseBuilder } from './case-builder.js';
import { ARITH_FLAGS } from './layout.js';
import type { Rng } from './prng.js';

/** Data offset of the FNSAVE image (108 bytes; operands may lie under it, they are read before). */
const SAVE_AREA = 0x100;
/** Offsets of FNSAVE's FCS/FOP and FDS words: selectors differ between a Linux process and the emulated guest. */
const FNSAVE_FCS = 16, FNSAVE_FDS = 24;

const M64 = (1n << 64n) - 1n;
const INT = 1n << 63n;

interface F80 { mant: bigint; sexp: number }

/** Encodings the x87 treats specially: zeros, infinities, NaNs, denormals, pseudo-denormals, unsupported ones, extremes. */
const SPECIAL: readonly F80[] = [
  { mant: 0n, sexp: 0 }, { mant: 0n, sexp: 0x8000 }, { mant: INT, sexp: 0x3fff }, { mant: INT, sexp: 0xbfff },
  { mant: INT, sexp: 0x7fff }, { mant: INT, sexp: 0xffff }, { mant: 0xc000000000000000n, sexp: 0xffff },
  { mant: 0xc000000000000001n, sexp: 0x7fff }, { mant: 0x8000000000000001n, sexp: 0x7fff }, { mant: 0xa000000000000000n, sexp: 0xffff },
  { mant: 1n, sexp: 0 }, { mant: 0x7fffffffffffffffn, sexp: 0x8000 }, { mant: INT, sexp: 0 }, { mant: 0xc000000000000000n, sexp: 0x8000 },
  { mant: M64, sexp: 0x7ffe }, { mant: M64, sexp: 0xfffe }, { mant: INT, sexp: 1 }, { mant: M64, sexp: 0x3ffe },
  { mant: 0x4000000000000000n, sexp: 0x3fff }, { mant: 0n, sexp: 0x7fff }, { mant: 0x4000000000000000n, sexp: 0x7fff },
  { mant: 0n, sexp: 0x3fff }, { mant: 0xc90fdaa22168c235n, sexp: 0x4000 }, { mant: 0xc90fdaa22168c234n, sexp: 0x3fff },
  { mant: INT, sexp: 0x403e }, { mant: M64, sexp: 0x403d }, { mant: INT, sexp: 0x3c01 }, { mant: INT, sexp: 0x3f81 },
];

/** Low significand bits that sit on or next to a rounding boundary for 64, 53 and 24 bits. */
const BOUNDARY_LOW: readonly bigint[] = [0x400n, 0x3ffn, 0x401n, 0x7ffn, 0x800n, 0xc00n,
  0x8000000000n, 0x7fffffffffn, 0x8000000001n, 0xffffffffffn, 0n, 1n, 0x7fffffffffffffffn];

function randomF80(rng: Rng): F80 {
  if (rng.chance(0.3)) return rng.pick(SPECIAL);
  const sign = rng.int(2) << 15;
  let exp: number;
  const r = rng.int(10);
  if (r < 7) exp = 0x3fff + rng.range(-70, 70);
  else if (r < 8) exp = rng.range(1, 70);             // near the bottom of the range (denormal results)
  else if (r < 9) exp = 0x7ffe - rng.int(70);         // near the top (overflow)
  else exp = rng.int(0x8000);
  let mant = rng.u64() | INT;
  if (rng.chance(0.4)) {
    const low = rng.pick(BOUNDARY_LOW);
    const width = low > 0xfffn ? 40n : 12n;
    mant = (mant & ~((1n << width) - 1n)) | (low & ((1n << width) - 1n));
    if (low === 0x7fffffffffffffffn) mant = INT | low;
  }
  if (rng.chance(0.05)) { exp = 0; mant >>= BigInt(rng.int(64)); }  // a denormal
  return { mant, sexp: sign | (exp & 0x7fff) };
}

function f80Value({ mant, sexp }: F80): bigint {
  return (BigInt(sexp) << 64n) | mant;
}

/**
 * Control word: random precision (including the reserved PC=1) and rounding
 * control; exceptions masked, or sometimes a random few unmasked (FNSAVE
 * does not wait, so the case still ends normally with the pending state).
 */
function randomCw(rng: Rng): number {
  const pc = rng.pick([0, 1, 2, 3, 3, 3]);
  const masks = rng.chance(0.8) ? 0x3f : rng.int(64);
  return 0x1040 | masks | (pc << 8) | (rng.int(4) << 10);
}

/** Put one operand on the stack: an 80-bit value mostly, or a float, integer or BCD from memory. */
function load(b: CaseBuilder): void {
  const kind = b.rng.int(10);
  if (kind < 6) {
    const m = b.mem(80);
    b.write(m.offset, 10, f80Value(randomF80(b.rng)));
    b.insn(`fld ${m.text}`);
  } else if (kind === 6) {
    const m = b.mem(64);
    const v = randomF80(b.rng);
    // A double near the extended value (its top bits), sometimes special.
    const e = (v.sexp & 0x7fff) - 0x3fff + 1023;
    const bits = BigInt(v.sexp >> 15) << 63n | (BigInt(Math.max(0, Math.min(2047, e))) << 52n) | ((v.mant >> 11n) & ((1n << 52n) - 1n));
    b.write(m.offset, 8, b.rng.chance(0.3) ? BigInt.asUintN(64, b.rng.interesting(64)) : bits);
    b.insn(`fld ${m.text}`);
  } else if (kind === 7) {
    const m = b.mem(32);
    b.write(m.offset, 4, b.rng.chance(0.5) ? BigInt(b.rng.u32()) : b.rng.interesting(32) & 0xffffffffn);
    b.insn(`fld ${m.text}`);
  } else if (kind === 8) {
    const bits = b.rng.pick([16, 32, 64]);
    const m = b.mem(bits);
    b.write(m.offset, bits / 8, b.rng.chance(0.5) ? b.rng.interesting(bits) & ((1n << BigInt(bits)) - 1n) : b.rng.u64() & ((1n << BigInt(bits)) - 1n));
    b.insn(`fild ${m.text}`);
  } else {
    b.insn(b.rng.pick(['fld1', 'fldl2t', 'fldl2e', 'fldpi', 'fldlg2', 'fldln2', 'fldz']));
  }
}

const REG_ARITH = ['fadd', 'fsub', 'fsubr', 'fmul', 'fdiv', 'fdivr'];
const ONE_REG = ['fsqrt', 'fabs', 'fchs', 'frndint', 'fscale', 'fxtract', 'fprem', 'fprem1', 'ftst', 'fxam',
  'fxch', 'fincstp', 'fdecstp', 'fcompp', 'fucompp', 'fnop'];
const TRANSCENDENTAL = ['fsin', 'fcos', 'fsincos', 'fptan', 'fpatan', 'f2xm1', 'fyl2x', 'fyl2xp1'];

/** One arithmetic, compare, conversion or store instruction on the loaded operands. */
function operation(b: CaseBuilder): void {
  const st = () => `st(${b.rng.int(8)})`;
  switch (b.rng.int(8)) {
    case 0: case 1: {
      const op = b.rng.pick(REG_ARITH);
      const form = b.rng.int(3);
      if (form === 0) b.insn(`${op} st, ${st()}`);
      else if (form === 1) b.insn(`${op} ${st()}, st`);
      else b.insn(`${op}p st(${1 + b.rng.int(7)}), st`);
      break;
    }
    case 2: {
      const op = b.rng.pick([...REG_ARITH, 'fcom', 'fcomp']);
      const bits = b.rng.pick([32, 64]);
      const m = b.mem(bits);
      const v = randomF80(b.rng);
      if (bits === 64) b.write(m.offset, 8, b.rng.chance(0.7) ? (BigInt(v.sexp >> 15) << 63n) | (BigInt(b.rng.int(2048)) << 52n) | (v.mant >> 11n & ((1n << 52n) - 1n)) : BigInt(b.rng.u32()) << 32n);
      else b.write(m.offset, 4, BigInt(b.rng.u32()));
      b.insn(`${op} ${m.text}`);
      break;
    }
    case 3: {
      const op = b.rng.pick(['fiadd', 'fisub', 'fisubr', 'fimul', 'fidiv', 'fidivr', 'ficom', 'ficomp']);
      const bits = b.rng.pick([16, 32]);
      const m = b.mem(bits);
      b.write(m.offset, bits / 8, b.rng.interesting(bits) & ((1n << BigInt(bits)) - 1n));
      b.insn(`${op} ${m.text}`);
      break;
    }
    case 4:
      b.insn(b.rng.pick(ONE_REG));
      break;
    case 5: {
      const op = b.rng.pick(['fcom', 'fcomp', 'fucom', 'fucomp', 'fcomi', 'fucomi', 'fcomip', 'fucomip', 'fld', 'fst', 'fstp', 'fxch', 'ffree']);
      b.insn(op.includes('comi') ? `${op} st, ${st()}` : `${op} ${st()}`, op.includes('comi') ? { writes: ARITH_FLAGS } : {});
      break;
    }
    case 6: {
      const [op, bits] = b.rng.pick([['fst', 32], ['fst', 64], ['fstp', 32], ['fstp', 64], ['fstp', 80], ['fist', 16], ['fist', 32],
        ['fistp', 16], ['fistp', 32], ['fistp', 64], ['fisttp', 16], ['fisttp', 32], ['fisttp', 64], ['fbstp', 80]] as const);
      b.insn(`${op} ${b.mem(bits).text}`);
      break;
    }
    default: {
      const m = b.mem(80);
      let v = 0n;
      // Valid digits only: FBLD of a nibble above 9 is undefined.
      for (let d = 0; d < 18; d++) v |= BigInt(b.rng.int(10)) << BigInt(4 * d);
      b.write(m.offset, 10, v | (BigInt(b.rng.int(2)) << 79n));
      b.insn(`fbld ${m.text}`);
    }
  }
}

/** Zeroed registers (FNSAVE stores empty ones too, and FNINIT keeps their contents), FNINIT, a random control word. */
function setUp(b: CaseBuilder): void {
  b.insn('fninit');
  for (let k = 0; k < 8; k++) b.insn('fldz');
  b.insn('fninit');
  const cw = b.mem(16);
  b.write(cw.offset, 2, BigInt(randomCw(b.rng)));
  b.insn(`fldcw ${cw.text}`);
}

/** FNSAVE the FPU into the data region, then clear the selector words (a Linux process's CS and DS are not the guest's). */
function saveState(b: CaseBuilder): void {
  const at = (off: number) => `[rip + {D:${SAVE_AREA + off}}]`;
  b.insn(`fnsave ${at(0)}`);
  b.insn(`mov word ptr ${at(FNSAVE_FCS)}, 0`);
  b.insn(`mov word ptr ${at(FNSAVE_FDS)}, 0`);
}

/** Basic arithmetic, compares, conversions, loads and stores. */
export function x87Arith(b: CaseBuilder): void {
  setUp(b);
  const loads = 1 + b.rng.int(3);
  for (let k = 0; k < loads; k++) load(b);
  operation(b);
  if (b.rng.chance(0.4)) operation(b);
  saveState(b);
}

/** The transcendental instructions on random operands. */
export function x87Transcendental(b: CaseBuilder): void {
  setUp(b);
  const loads = 1 + b.rng.int(2);
  for (let k = 0; k < loads; k++) load(b);
  b.insn(b.rng.pick(TRANSCENDENTAL));
  saveState(b);
}

export const x87Categories = {
  x87: x87Arith, 'x87-transcendental': x87Transcendental,
} satisfies Record<string, (b: CaseBuilder) => void>;
