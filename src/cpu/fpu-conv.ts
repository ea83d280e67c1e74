// Extended-precision (80-bit) conversions for the x87 FPU: an f64 or an
// integer to the 80-bit format (exact), an 80-bit value rounded to
// single/double precision or to an integer under a given rounding control.
// An 80-bit value is a 64-bit mantissa (explicit integer bit 63) and a 16-bit
// sign/exponent word (bias 16383). Functions that produce one put it in
// xMant/xSexp (no allocations).

// ---- status word bits ----
export const IE = 0x01;
export const DE = 0x02;
export const ZE = 0x04;
export const OE = 0x08;
export const UE = 0x10;
export const PE = 0x20;
export const SF = 0x40;
export const ES = 0x80;
export const C0 = 0x100;
export const C1 = 0x200;
export const C2 = 0x400;
export const C3 = 0x4000;
export const BUSY = 0x8000;

// ---- rounding control (CW bits 10-11) ----
export const RC_NEAREST = 0;
export const RC_DOWN = 1;
export const RC_UP = 2;
export const RC_CHOP = 3;

/** Exponent bias of the 80-bit format. */
export const BIAS = 16383;
export const INT_BIT: i64 = <i64>1 << 63;
export const QNAN_BIT: i64 = <i64>1 << 62;
/** The "real indefinite" (default quiet NaN): sign 1, exponent all ones, mantissa C000...0. */
export const INDEF_MANT: i64 = <i64>3 << 62;
export const INDEF_SEXP: i32 = 0xffff;
export const INDEF_F64: i64 = <i64>0xfff8 << 48;
export const INDEF_F32: i64 = 0xffc00000;
const F64_FRAC: i64 = (<i64>1 << 52) - 1;

/** An 80-bit value produced by extend(), intTo80() and friends. */
export let xMant: i64 = 0;
export let xSexp: i32 = 0;
/** Set by roundShift() (and so by packFloat() and toInt()) when bits were lost. */
export let inexact = false;
/** Set by roundShift() when the magnitude was rounded up (the x87 reports it in C1). */
export let roundedUp = false;
/** Exceptions raised by the last packFloat(). */
export let convExc = 0;
/** The last packFloat()'s value was below the destination's normal range (an unmasked UE reports that alone). */
export let convTiny = false;
/** Set by toInt() when the value is a NaN, infinite, unsupported or out of range. */
export let intInvalid = false;

/**
 * m >> s (unsigned) rounded under rounding control rc for a value of sign
 * `neg`; s may exceed 64. Sets `inexact`. The result fits (s >= 1 keeps it below 2^64).
 */
export function roundShift(m: i64, s: i32, rc: i32, neg: bool): i64 {
  inexact = false;
  roundedUp = false;
  if (s <= 0) return m;
  let q: i64, rem: i64, gt: bool, eq: bool;
  if (s < 64) {
    q = m >>> <i64>s;
    rem = m & ((<i64>1 << <i64>s) - 1);
    const half = <i64>1 << <i64>(s - 1);
    gt = <u64>rem > <u64>half;
    eq = rem == half;
  } else {
    q = 0;
    rem = m;
    gt = s == 64 && <u64>m > <u64>INT_BIT;
    eq = s == 64 && m == INT_BIT;
  }
  if (rem == 0) return q;
  inexact = true;
  let up: bool;
  if (rc == RC_NEAREST) up = gt || (eq && (q & 1) != 0);
  else if (rc == RC_DOWN) up = neg;
  else if (rc == RC_UP) up = !neg;
  else up = false;
  roundedUp = up;
  return up ? q + 1 : q;
}

/**
 * Round the 80-bit value (mant, sexp) to single (`single`) or double
 * precision under rounding control rc, as FST to memory does; returns the
 * bit pattern. NaNs are quieted; SNaNs and unsupported encodings raise IE.
 * Exceptions go to convExc.
 */
export function packFloat(mant: i64, sexp: i32, single: bool, rc: i32): i64 {
  const F: i32 = single ? 23 : 52;
  const eb: i32 = single ? 8 : 11;
  const bias: i32 = single ? 127 : 1023;
  const neg = (sexp & 0x8000) != 0;
  const sign: i64 = neg ? <i64>1 << <i64>(F + eb) : 0;
  const fracMask: i64 = (<i64>1 << <i64>F) - 1;
  const expAll: i64 = <i64>((1 << eb) - 1) << <i64>F;
  let exp = sexp & 0x7fff;
  convExc = 0;
  convTiny = false;
  inexact = false;
  roundedUp = false;
  // Pseudo-infinity, pseudo-NaN, unnormal and pseudo-zero encodings are unsupported (the 387 on).
  if (exp != 0 && mant >= 0) {
    convExc |= IE;
    return single ? INDEF_F32 : INDEF_F64;
  }
  if (exp == 0x7fff) {
    const frac = mant & ~INT_BIT;
    if (frac == 0) return sign | expAll; // infinity
    if ((mant & QNAN_BIT) == 0) convExc |= IE;
    return sign | expAll | (frac >>> <i64>(63 - F)) | (<i64>1 << <i64>(F - 1));
  }
  if (mant == 0) return sign;
  if (exp == 0) exp = 1; // denormal / pseudo-denormal
  const lz = <i32>clz<i64>(mant);
  const m = mant << <i64>lz;
  let e = exp - BIAS - lz;
  const emin = 1 - bias;
  if (e >= emin) {
    let q = roundShift(m, 63 - F, rc, neg);
    if (q == <i64>1 << <i64>(F + 1)) { q = q >>> 1; e++; }
    if (e > bias) {
      convExc |= OE | PE;
      inexact = true;
      const toInf = rc == RC_NEAREST || (rc == RC_DOWN && neg) || (rc == RC_UP && !neg);
      roundedUp = toInf;
      return toInf ? sign | expAll : sign | (expAll - (<i64>1 << <i64>F)) | fracMask;
    }
    if (inexact) convExc |= PE;
    return sign | (<i64>(e + bias) << <i64>F) | (q & fracMask);
  }
  convTiny = true;
  const q = roundShift(m, 63 - F + (emin - e), rc, neg);
  if (inexact) convExc |= UE | PE;
  return sign | q; // may carry into the smallest normal, which is right
}

/** The exact 80-bit form of an f64, into xMant/xSexp. */
export function extend(v: f64): void {
  const b = reinterpret<i64>(v);
  const sign = <i32>(b >>> 48) & 0x8000;
  const e = <i32>(b >>> 52) & 0x7ff;
  const f = b & F64_FRAC;
  if (e == 0x7ff) {
    xMant = INT_BIT | (f << 11);
    xSexp = sign | 0x7fff;
  } else if (e == 0) {
    if (f == 0) { xMant = 0; xSexp = sign; return; }
    const lz = <i32>clz<i64>(f);
    xMant = f << <i64>lz;
    xSexp = sign | (63 - lz - 1074 + BIAS);
  } else {
    xMant = INT_BIT | (f << 11);
    xSexp = sign | (e - 1023 + BIAS);
  }
}

/** The 80-bit form of the integer magnitude `mag` (unsigned) with sign `neg` (zero keeps the sign). */
export function uintTo80(mag: i64, neg: bool): void {
  const sign = neg ? 0x8000 : 0;
  if (mag == 0) { xMant = 0; xSexp = sign; return; }
  const lz = <i32>clz<i64>(mag);
  xMant = mag << <i64>lz;
  xSexp = sign | (BIAS + 63 - lz);
}

/** The 80-bit form of a signed 64-bit integer (exact). */
export function intTo80(v: i64): void {
  if (v < 0) uintTo80(-v, true); // -MIN wraps to 2^63 unsigned, which is right
  else uintTo80(v, false);
}

/**
 * Round an 80-bit value to an integer under rc; valid results lie in
 * [-(limit + 1), limit]. Sets intInvalid (NaN, infinity, unsupported, out of
 * range) and inexact.
 */
export function toInt(mant: i64, sexp: i32, rc: i32, limit: i64): i64 {
  intInvalid = false;
  inexact = false;
  roundedUp = false;
  const exp = sexp & 0x7fff;
  const neg = (sexp & 0x8000) != 0;
  if (exp == 0x7fff || (exp != 0 && mant >= 0)) { intInvalid = true; return 0; }
  if (mant == 0) return 0;
  const shift = BIAS + 63 - (exp == 0 ? 1 : exp);
  if (shift < 0) { intInvalid = true; return 0; }
  const q = roundShift(mant, shift, rc, neg);
  if (<u64>q > <u64>limit + <u64>(neg ? 1 : 0)) { intInvalid = true; inexact = false; roundedUp = false; return 0; }
  return neg ? -q : q;
}

