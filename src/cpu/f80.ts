// IEEE 754 extended-precision arithmetic on 80-bit values, as the x87 does
// it: add, subtract, multiply, divide and square root correctly rounded
// under the control word's precision (24/53/64 bits) and rounding control,
// with the x87's special operands (denormals, pseudo-denormals, unsupported
// encodings, NaN propagation) and masked or unmasked overflow/underflow.
// Operands and results are (mantissa i64 with explicit integer bit, sign/
// exponent word); results go to rM/rS, exceptions to fExc, "rounded up" to fUp.
import {
  IE, DE, ZE, OE, UE, PE, RC_NEAREST, RC_DOWN, RC_UP, INT_BIT, QNAN_BIT, INDEF_MANT, INDEF_SEXP, BIAS,
} from './fpu-conv';
import { wHi, wLo, ltU, mul64, clz128, shl128, shrJam128, divJam, sqrtJam } from './u128';

export let rM: i64 = 0;
export let rS: i32 = 0;
/** Exceptions raised by the last operation. */
export let fExc = 0;
/** The last rounding increased the magnitude (the x87 reports it in C1). */
export let fUp = false;

const EXP_INF = 0x7fff;
/** Unmasked overflow/underflow deliver the result with its exponent moved by this (SDM 8.5.3/8.5.4). */
const WRAP = 24576;

export const K_ZERO = 0, K_FINITE = 1, K_INF = 2, K_NAN = 3, K_UNSUPPORTED = 4;

/** Class of an 80-bit value; pseudo-denormals are finite, unnormals and pseudo-NaN/infinity unsupported. */
export function classOf(m: i64, s: i32): i32 {
  const e = s & 0x7fff;
  if (e != 0 && m >= 0) return K_UNSUPPORTED;
  if (e == EXP_INF) return (m & ~INT_BIT) == 0 ? K_INF : K_NAN;
  return m == 0 ? K_ZERO : K_FINITE;
}

// @ts-ignore: decorator
@inline export function isDenormal(m: i64, s: i32): bool { return (s & 0x7fff) == 0 && m != 0; }
// @ts-ignore: decorator
@inline export function isSignaling(m: i64, s: i32): bool { return classOf(m, s) == K_NAN && (m & QNAN_BIT) == 0; }

/** Significand precision selected by the control word's PC field. */
export function precisionOf(cw: i32): i32 {
  const pc = (cw >> 8) & 3;
  return pc == 0 ? 24 : pc == 2 ? 53 : 64;
}

export function setIndefinite(): void { rM = INDEF_MANT; rS = INDEF_SEXP; }

export function setResult(m: i64, s: i32): void { rM = m; rS = s; }

function invalid(): void { fExc |= IE; setIndefinite(); }

/** The result of an operation with a NaN operand (SDM table 4-7): quiet beats signaling, then the larger significand. */
export function propagateNaN(am: i64, as: i32, bm: i64, bs: i32): void {
  const an = classOf(am, as) == K_NAN, bn = classOf(bm, bs) == K_NAN;
  const aSig = an && (am & QNAN_BIT) == 0, bSig = bn && (bm & QNAN_BIT) == 0;
  if (aSig || bSig) fExc |= IE;
  let pickA: bool;
  if (!bn) pickA = true;
  else if (!an) pickA = false;
  else if (aSig != bSig) pickA = bSig;
  else if (am != bm) pickA = ltU(bm, am);
  else pickA = (as & 0x8000) == 0;
  rM = (pickA ? am : bm) | QNAN_BIT;
  rS = pickA ? as : bs;
}

/**
 * Screen two operands: unsupported encodings give IE and the indefinite,
 * NaNs propagate; returns true when that decided the result. Otherwise
 * raises DE for a denormal operand (or memDenormal: b came from a denormal
 * float in memory, normal as an 80-bit value) and returns false.
 */
export function screen2(am: i64, as: i32, bm: i64, bs: i32, memDenormal: bool): bool {
  const ka = classOf(am, as), kb = classOf(bm, bs);
  if (ka == K_UNSUPPORTED || kb == K_UNSUPPORTED) { invalid(); return true; }
  if (ka == K_NAN || kb == K_NAN) { propagateNaN(am, as, bm, bs); return true; }
  if (memDenormal || isDenormal(am, as) || isDenormal(bm, bs)) fExc |= DE;
  return false;
}

/** One operand's version of screen2. */
export function screen1(m: i64, s: i32): bool {
  const k = classOf(m, s);
  if (k == K_UNSUPPORTED) { invalid(); return true; }
  if (k == K_NAN) { propagateNaN(m, s, m, s); return true; }
  if (isDenormal(m, s)) fExc |= DE;
  return false;
}

// ---- rounding ----
let inexact128 = false;
let up128 = false;

/**
 * (hi:lo) >> sh (sh >= 64) rounded under rc for sign neg; sets inexact128
 * and up128. The result has at most 64 - (sh - 64) + 1 bits; a carry out of
 * 64 bits (sh = 64, all ones rounded up) wraps to 0, which the caller sees.
 */
function roundShift128(hi: i64, lo: i64, sh: i32, rc: i32, neg: bool): i64 {
  const t = sh - 64;
  let q: i64, gt: bool, eq: bool, nz: bool;
  if (t == 0) {
    q = hi; nz = lo != 0; gt = ltU(INT_BIT, lo); eq = lo == INT_BIT;
  } else if (t < 64) {
    q = hi >>> <i64>t;
    const r = hi & ((<i64>1 << <i64>t) - 1);
    const half = <i64>1 << <i64>(t - 1);
    nz = (r | lo) != 0;
    gt = ltU(half, r) || (r == half && lo != 0);
    eq = r == half && lo == 0;
  } else if (t == 64) {
    q = 0; nz = (hi | lo) != 0;
    gt = ltU(INT_BIT, hi) || (hi == INT_BIT && lo != 0);
    eq = hi == INT_BIT && lo == 0;
  } else {
    q = 0; nz = (hi | lo) != 0; gt = false; eq = false;
  }
  inexact128 = nz;
  up128 = false;
  if (!nz) return q;
  let up: bool;
  if (rc == RC_NEAREST) up = gt || (eq && (q & 1) != 0);
  else if (rc == RC_DOWN) up = neg;
  else if (rc == RC_UP) up = !neg;
  else up = false;
  up128 = up;
  return up ? q + 1 : q;
}

/**
 * Round (hi:lo) / 2^127 * 2^(exp - BIAS) to `prec` bits under the control
 * word cw and deliver it as an 80-bit value: denormal results at the fixed
 * bit positions of the extended format, overflow and underflow masked or
 * unmasked (exponent wrapped by 24576) as the control word says.
 */
export function roundPack(neg: bool, exp: i32, hi: i64, lo: i64, prec: i32, cw: i32): void {
  const sign = neg ? 0x8000 : 0;
  fUp = false;
  if ((hi | lo) == 0) { rM = 0; rS = sign; return; }
  const lz = clz128(hi, lo);
  shl128(hi, lo, lz);
  hi = wHi; lo = wLo;
  exp -= lz;
  const rc = (cw >> 10) & 3;
  const sh = 128 - prec;
  const topBit: i64 = <i64>1 << <i64>(prec - 1);
  if (exp < 1 && (cw & UE) == 0 && exp + WRAP < 1) {
    // Unmasked, too small to wrap by 24576 (FSCALE by a huge factor): zero whatever the rounding control (host).
    fExc |= UE | PE;
    rM = 0; rS = sign;
    return;
  }
  if (exp < 1 && (cw & UE) != 0) {
    // Masked underflow: a denormal (or, rounded up, the smallest normal).
    const q = roundShift128(hi, lo, sh + (1 - exp), rc, neg);
    const m = q << <i64>(64 - prec);
    fUp = up128;
    // Tiny after rounding: the result (rounded with an unbounded exponent) is still below the normal range.
    if (inexact128) {
      fExc |= PE;
      if (m >= 0 || tinyAfterRounding(hi, lo, sh, rc, neg, exp)) fExc |= UE;
    }
    rM = m;
    rS = sign | (m < 0 ? 1 : 0);
    return;
  }
  let q = roundShift128(hi, lo, sh, rc, neg);
  if (prec == 64 ? (up128 && q == 0) : q == topBit << 1) { q = topBit; exp++; }
  const inexact = inexact128;
  fUp = up128;
  if (exp < 1) {
    // Unmasked underflow: the rounded result, exponent moved up.
    fExc |= UE | (inexact ? PE : 0);
    exp += WRAP;
  } else if (exp >= EXP_INF) {
    if ((cw & OE) == 0 && exp - WRAP >= EXP_INF) {
      // Too large to wrap: infinity whatever the rounding control (host).
      fExc |= OE | PE;
      fUp = true;
      rM = INT_BIT; rS = sign | EXP_INF;
      return;
    } else if ((cw & OE) == 0) {
      fExc |= OE | (inexact ? PE : 0);
      exp -= WRAP;
    } else {
      fExc |= OE | PE;
      const toInf = rc == RC_NEAREST || (rc == RC_DOWN && neg) || (rc == RC_UP && !neg);
      fUp = toInf;
      if (toInf) { rM = INT_BIT; rS = sign | EXP_INF; }
      else { rM = (topBit << 1) - 1 << <i64>(64 - prec); rS = sign | (EXP_INF - 1); }
      return;
    }
  } else if (inexact) fExc |= PE;
  rM = q << <i64>(64 - prec);
  rS = sign | exp;
}

/** Whether a result below the normal range stays there when rounded to prec bits with an unbounded exponent. */
function tinyAfterRounding(hi: i64, lo: i64, sh: i32, rc: i32, neg: bool, exp: i32): bool {
  if (exp < 0) return true;
  const q = roundShift128(hi, lo, sh, rc, neg);
  const carried = sh == 64 ? (up128 && q == 0) : q == <i64>1 << <i64>(128 - sh);
  return !carried;
}

// ---- the operations ----
/** Normalize a finite nonzero operand: its significand with bit 63 set, its exponent (may be below 1). */
let nM: i64 = 0;
let nE = 0;
function normalize(m: i64, s: i32): void {
  let e = s & 0x7fff;
  if (e == 0) e = 1;
  const lz = <i32>clz<i64>(m);
  nM = m << <i64>lz;
  nE = e - lz;
}

/** a + b (b negated when `subtract`), both screened. */
export function add80(am: i64, as: i32, bm: i64, bs: i32, subtract: bool, cw: i32): void {
  const na = (as & 0x8000) != 0, nb = ((bs & 0x8000) != 0) != subtract;
  const ka = classOf(am, as), kb = classOf(bm, bs);
  const rc = (cw >> 10) & 3;
  if (ka == K_INF || kb == K_INF) {
    if (ka == K_INF && kb == K_INF && na != nb) { invalid(); return; }
    rM = INT_BIT;
    rS = (ka == K_INF ? na : nb) ? 0xffff : EXP_INF;
    return;
  }
  if (ka == K_ZERO && kb == K_ZERO) {
    rM = 0;
    rS = (na == nb ? na : rc == RC_DOWN) ? 0x8000 : 0;
    return;
  }
  let ea = as & 0x7fff, eb = bs & 0x7fff;
  if (ea == 0) ea = 1;
  if (eb == 0) eb = 1;
  let xm = am, xe = ea, xn = na, ym = bm, ye = eb, yn = nb;
  if (ea < eb || (ea == eb && ltU(am, bm))) { xm = bm; xe = eb; xn = nb; ym = am; ye = ea; yn = na; }
  shrJam128(ym, 0, xe - ye);
  let hi: i64, lo: i64;
  let exp = xe;
  if (xn == yn) {
    lo = wLo;
    hi = xm + wHi;
    if (ltU(hi, xm)) {
      // Carry out of 128 bits: shift right one, keeping the lost bit sticky.
      lo = (lo >>> 1) | (hi << 63) | (lo & 1);
      hi = (hi >>> 1) | INT_BIT;
      exp++;
    }
  } else {
    lo = -wLo;
    hi = xm - wHi - (wLo != 0 ? 1 : 0);
    if ((hi | lo) == 0) { rM = 0; rS = rc == RC_DOWN ? 0x8000 : 0; return; }
  }
  roundPack(xn, exp, hi, lo, precisionOf(cw), cw);
}

/** a * b, both screened. */
export function mul80(am: i64, as: i32, bm: i64, bs: i32, cw: i32): void {
  const neg = ((as ^ bs) & 0x8000) != 0;
  const ka = classOf(am, as), kb = classOf(bm, bs);
  if (ka == K_INF || kb == K_INF) {
    if (ka == K_ZERO || kb == K_ZERO) { invalid(); return; }
    rM = INT_BIT; rS = (neg ? 0x8000 : 0) | EXP_INF;
    return;
  }
  if (ka == K_ZERO || kb == K_ZERO) { rM = 0; rS = neg ? 0x8000 : 0; return; }
  normalize(am, as);
  const xm = nM, xe = nE;
  normalize(bm, bs);
  mul64(xm, nM);
  roundPack(neg, xe + nE - BIAS + 1, wHi, wLo, precisionOf(cw), cw);
}

/** a / b, both screened. */
export function div80(am: i64, as: i32, bm: i64, bs: i32, cw: i32): void {
  const neg = ((as ^ bs) & 0x8000) != 0;
  const sign = neg ? 0x8000 : 0;
  const ka = classOf(am, as), kb = classOf(bm, bs);
  if (ka == K_INF) {
    if (kb == K_INF) { invalid(); return; }
    rM = INT_BIT; rS = sign | EXP_INF;
    return;
  }
  if (kb == K_INF) { rM = 0; rS = sign; return; }
  if (kb == K_ZERO) {
    fExc &= ~DE; // the host reports a zero divisor without a denormal dividend
    if (ka == K_ZERO) { invalid(); return; }
    fExc |= ZE;
    rM = INT_BIT; rS = sign | EXP_INF;
    return;
  }
  if (ka == K_ZERO) { rM = 0; rS = sign; return; }
  normalize(am, as);
  const xm = nM, xe = nE;
  normalize(bm, bs);
  divJam(xm, nM, 66);
  roundPack(neg, xe - nE + BIAS + 61, wHi, wLo, precisionOf(cw), cw);
}

/** sqrt(a), screened. */
export function sqrt80(am: i64, as: i32, cw: i32): void {
  const k = classOf(am, as);
  const neg = (as & 0x8000) != 0;
  if (k == K_ZERO) { rM = 0; rS = as; return; }
  if (neg) { invalid(); return; }
  if (k == K_INF) { rM = am; rS = as; return; }
  normalize(am, as);
  // The value is nM * 2^e with e = nE - BIAS - 63; take the root of nM * 2^t with e - t even.
  const e = nE - BIAS - 63;
  const t = (e & 1) == 0 ? 68 : 69;
  sqrtJam(nM, t);
  roundPack(false, BIAS + 127 + ((e - t) >> 1), wHi, wLo, precisionOf(cw), cw);
}

/** Withdraw a denormal-operand report (an invalid operation that outranks it). */
export function clearDE(): void { fExc &= ~DE; }

/** Clear the per-operation outputs. */
export function begin(): void { fExc = 0; fUp = false; }

/** Raise exceptions from another module (fExc is read-only outside this one). */
export function raise(e: i32): void { fExc |= e; }

// ---- partial remainder (FPREM, FPREM1) ----
/** The low three bits of the last remainder's quotient, and whether it was partial (C2). */
export let remQuotient = 0;
export let remPartial = false;

/**
 * The partial remainder of finite nonzero a by b: exact. The quotient is
 * truncated (FPREM) or rounded to nearest even (FPREM1, `ieee`); an exponent
 * difference of 64 or more reduces a by at most 63 exponent steps only.
 */
export function remainder80(am: i64, as: i32, bm: i64, bs: i32, ieee: bool, cw: i32): void {
  normalize(am, as);
  const xm = nM, xe = nE;
  normalize(bm, bs);
  const ym = nM, ye = nE;
  let neg = (as & 0x8000) != 0;
  const d = xe - ye;
  remPartial = d >= 64;
  // Quotient bits to develop beyond the first: all of them, or N (32..63) for a partial remainder.
  const k = remPartial ? (d & 31) | 32 : d;
  let r = xm, q = 0, re = xe;
  if (k >= 0) {
    re = ye + (d - k);
    if (!ltU(r, ym)) { r -= ym; q = 1; }
    for (let i = 0; i < k; i++) {
      const carry = r < 0;
      r <<= 1;
      q <<= 1;
      if (carry || !ltU(r, ym)) { r -= ym; q |= 1; }
    }
    if (ieee && !remPartial) {
      const rest = ym - r;
      if (ltU(rest, r) || (rest == r && (q & 1) != 0)) { r = rest; q++; neg = !neg; }
    }
  } else if (ieee && d == -1 && ltU(ym, xm)) {
    // |a| is more than half of |b|: the quotient rounds to 1, the remainder is b - a (at a's scale).
    r = ym - xm + ym;
    q = 1;
    neg = !neg;
  }
  remQuotient = q & 7;
  roundPack(neg, re, r, 0, 64, cw);
}
