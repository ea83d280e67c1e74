// Floats with a 128-bit significand for the x87's transcendental functions:
// enough bits that a result rounded once to the 64-bit extended significand
// is correctly rounded but in rare near-halfway cases. Values live in a small
// pool of slots in linear memory (no allocation): slot i holds the
// significand (bit 127 set unless zero), the exponent of bit 127 and the sign.
import { wHi, wLo, ltU, lt128, sub128, clz128, shl128, shrJam128, mulHi128, div128 } from './u128';

const SLOT = 24;
const SLOTS = 16;
const POOL: usize = memory.data(SLOT * SLOTS);

// @ts-ignore: decorator
@inline function at(i: i32): usize { return POOL + <usize>(i * SLOT); }
// @ts-ignore: decorator
@inline export function hiOf(i: i32): i64 { return load<i64>(at(i)); }
// @ts-ignore: decorator
@inline export function loOf(i: i32): i64 { return load<i64>(at(i), 8); }
// @ts-ignore: decorator
@inline export function expOf(i: i32): i32 { return load<i32>(at(i), 16); }
// @ts-ignore: decorator
@inline export function isNeg(i: i32): bool { return load<i32>(at(i), 20) != 0; }
// @ts-ignore: decorator
@inline export function isZero(i: i32): bool { return (hiOf(i) | loOf(i)) == 0; }

/** Slot d = (-1)^neg * (hi:lo) * 2^(exp - 127), normalized. */
export function wSet(d: i32, hi: i64, lo: i64, exp: i32, neg: bool): void {
  const p = at(d);
  store<i32>(p, neg ? 1 : 0, 20);
  if ((hi | lo) == 0) { store<i64>(p, 0); store<i64>(p, 0, 8); store<i32>(p, 0, 16); return; }
  const lz = clz128(hi, lo);
  shl128(hi, lo, lz);
  store<i64>(p, wHi);
  store<i64>(p, wLo, 8);
  store<i32>(p, exp - lz, 16);
}

export function wCopy(d: i32, a: i32): void { wSet(d, hiOf(a), loOf(a), expOf(a), isNeg(a)); }

export function wSetInt(d: i32, v: i64): void {
  const neg = v < 0;
  wSet(d, 0, neg ? -v : v, 127, neg);
}

/** An 80-bit value (finite) into slot d; `bias` is the format's exponent bias. */
export function wSetF80(d: i32, m: i64, s: i32, bias: i32): void {
  let e = s & 0x7fff;
  if (e == 0) e = 1;
  wSet(d, m, 0, e - bias, (s & 0x8000) != 0);
}

export function wNegate(d: i32): void { store<i32>(at(d), isNeg(d) ? 0 : 1, 20); }
export function wAbs(d: i32): void { store<i32>(at(d), 0, 20); }
export function wScale(d: i32, n: i32): void { if (!isZero(d)) store<i32>(at(d), expOf(d) + n, 16); }

export function wMul(d: i32, a: i32, b: i32): void {
  const neg = isNeg(a) != isNeg(b);
  if (isZero(a) || isZero(b)) { wSet(d, 0, 0, 0, neg); return; }
  mulHi128(hiOf(a), loOf(a), hiOf(b), loOf(b));
  wSet(d, wHi, wLo, expOf(a) + expOf(b) + 1, neg);
}

export function wDiv(d: i32, a: i32, b: i32): void {
  const neg = isNeg(a) != isNeg(b);
  if (isZero(a)) { wSet(d, 0, 0, 0, neg); return; }
  div128(hiOf(a), loOf(a), hiOf(b), loOf(b));
  wSet(d, wHi, wLo, expOf(a) - expOf(b), neg);
}

/** |a| < |b|. */
export function magLess(a: i32, b: i32): bool {
  if (isZero(a)) return !isZero(b);
  if (isZero(b)) return false;
  if (expOf(a) != expOf(b)) return expOf(a) < expOf(b);
  return lt128(hiOf(a), loOf(a), hiOf(b), loOf(b));
}

/** d = a + b, or a - b with `subtract`; bits shifted out of the smaller operand are kept sticky. */
export function wAdd(d: i32, a: i32, b: i32, subtract: bool): void {
  let x = a, y = b;
  let xn = isNeg(a), yn = isNeg(b) != subtract;
  if (magLess(a, b)) { x = b; y = a; const t = xn; xn = yn; yn = t; }
  if (isZero(y)) { wSet(d, hiOf(x), loOf(x), expOf(x), xn); return; }
  const xh = hiOf(x), xl = loOf(x), xe = expOf(x);
  shrJam128(hiOf(y), loOf(y), xe - expOf(y));
  const yh = wHi, yl = wLo;
  if (xn == yn) {
    const lo = xl + yl;
    const c: i64 = ltU(lo, xl) ? 1 : 0;
    const hi = xh + yh + c;
    const carry = ltU(hi, xh) || (hi == xh && c != 0);
    if (carry) wSet(d, (hi >>> 1) | (<i64>1 << 63), (lo >>> 1) | (hi << 63), xe + 1, xn);
    else wSet(d, hi, lo, xe, xn);
  } else {
    sub128(xh, xl, yh, yl);
    wSet(d, wHi, wLo, xe, xn);
  }
}

/** Slot d = a constant given as its 128-bit significand and exponent. */
export function wConst(d: i32, hi: i64, lo: i64, exp: i32): void { wSet(d, hi, lo, exp, false); }
