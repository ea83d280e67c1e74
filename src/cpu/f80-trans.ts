// The x87's transcendental functions on 80-bit values: sin, cos, tan (with
// the hardware's reduction modulo a 66-bit pi), atan2, y*log2(x),
// y*log2(1+x) and 2^x-1. Computed with 128-bit significands (wide.ts) and
// rounded once to 64 bits under the control word's rounding control.
// Operands arrive screened (no NaNs, no unsupported encodings); results go
// to f80's rM/rS with its exceptions.
import { IE, ZE, PE, INT_BIT, BIAS } from './fpu-conv';
import { roundPack, setResult, setIndefinite, raise, clearDE, classOf, K_ZERO, K_INF } from './f80';
import { ltU, lt128, sub128, wHi, wLo } from './u128';
import {
  hiOf, loOf, expOf, isNeg, isZero, wSet, wCopy, wSetInt, wSetF80, wNegate, wAbs, wScale, wMul, wDiv, wAdd, wConst, magLess,
} from './wide';

export const TRANS_LOG2 = 0, TRANS_LOG2P1 = 1, TRANS_ATAN = 2;

// Slots of the wide-float pool.
const X = 0, Y = 1, R = 2, R2 = 3, T = 4, SUM = 5, TMP = 6, SIN = 7, COS = 8, Z = 9, U = 10, A = 11;

/** pi to 66 bits (truncated), as an integer scaled by 2^64: the x87's reduction constant (Intel and the AMD host alike). */
const PI66_HI: i64 = 3, PI66_LO: i64 = 0x243f6a8885a308d3;
/** Significands (bit 127 set) and exponents of pi, ln 2 and 2/ln 2. */
const PI_HI: i64 = 0xc90fdaa22168c234, PI_LO: i64 = 0xc4c6628b80dc1cd1, PI_EXP = 1;
const LN2_HI: i64 = 0xb17217f7d1cf79ab, LN2_LO: i64 = 0xc9e3b39803f2f6af, LN2_EXP = -1;
const TWO_OVER_LN2_HI: i64 = 0xb8aa3b295c17f0bb, TWO_OVER_LN2_LO: i64 = 0xbe87fed0691d3e89, TWO_OVER_LN2_EXP = 1;
/** sqrt(2) * 2^63: significands above it are halved before the logarithm. */
const SQRT2_SIG: i64 = 0xb504f333f9de6484;
/** atan(j/16) for j = 1..16: significand high, low. */
const ATAN_TABLE: usize = memory.data<u64>([
  0xffaaddb967ef4e36, 0xcb2792dc0e2e0d51, 0xfeadd4d5617b6e32, 0xc897989f3e888ef8,
  0xbdcbda5e72d81134, 0x7b0b4f881c9c7488, 0xfadbafc96406eb15, 0x6dc79ef5f7a217e6,
  0x9b13b9b83f5e5e69, 0xc5abb498d27af328, 0xb7b0ca0f26f78473, 0x8aa32122dcfe4483,
  0xd327761e611fe5b6, 0x427c95e9001e7136, 0xed63382b0dda7b45, 0x6fe445ecbc3a8d03,
  0x832bf4a6d9867e2a, 0x4b6a09cb61a515c1, 0x8f005d5ef7f59f9b, 0x5c835e1665c43748,
  0x9a2f80e671bdda20, 0x4226f8e2204ff3bd, 0xa4bc7d1934f70924, 0x19a87f2a457dac9f,
  0xaeac4c38b4d8c080, 0x14725e2f3e52070a, 0xb8053e2bc2319e73, 0xcb2da55210a4443d,
  0xc0ce85b8ac526640, 0x89dd62c46e92fa25, 0xc90fdaa22168c234, 0xc4c6628b80dc1cd1,
]);
/** ... and their exponents. */
const ATAN_EXP: usize = memory.data<i32>([-5, -4, -3, -3, -2, -2, -2, -2, -1, -1, -1, -1, -1, -1, -1, -1]);

/**
 * A series stops after the first term that reaches no higher than 8 bits
 * above the sum's last bit: its lost low part lives on as the sticky bit,
 * which a further term would disturb (adding a sticky 1 on top of one can
 * make an inexact sum look exact); the tail left out is far below the 64
 * bits delivered.
 */
const SERIES_BITS = 119;
const MAX_TERMS = 400;

/**
 * Round slot a to the 64-bit extended format (precision control does not
 * apply to these instructions). The host reports every result computed
 * this way inexact, exact ones (log2 of a power of two) too.
 */
function deliver(a: i32, cw: i32): void {
  roundPack(isNeg(a), expOf(a) + BIAS, hiOf(a), loOf(a), 64, cw);
  raise(PE);
}

function negligible(term: i32, sum: i32): bool {
  return isZero(term) || expOf(term) < expOf(sum) - SERIES_BITS;
}

function setPi(d: i32): void { wConst(d, PI_HI, PI_LO, PI_EXP); }

// ---- sin, cos, tan ----
let quadrant = 0;

/** R = |x| - k * pi66/2 with k the nearest integer (exact, the remainder has at most 66 bits); quadrant = k mod 4. */
function reduce(m: i64, s: i32): void {
  let e = s & 0x7fff;
  if (e == 0) e = 1;
  const lz = <i32>clz<i64>(m);
  m <<= <i64>lz;
  e -= lz;
  quadrant = 0;
  if (e < BIAS - 1) { wSet(R, m, 0, e - BIAS, false); return; } // |x| < 1/2 < pi/4
  // |x| = m * 2^(e - BIAS - 63) = (m << shift) * 2^-65: divide by pi66 * 2^64 bit by bit.
  const shift = e - BIAS - 63 + 65;
  let rh: i64 = 0, rl: i64 = 0, q = 0;
  for (let i = 0; i < 64 + shift; i++) {
    const bit: i64 = i < 64 ? (m >>> <i64>(63 - i)) & 1 : 0;
    rh = (rh << 1) | (rl >>> 63);
    rl = (rl << 1) | bit;
    q <<= 1;
    if (!lt128(rh, rl, PI66_HI, PI66_LO)) {
      sub128(rh, rl, PI66_HI, PI66_LO);
      rh = wHi; rl = wLo;
      q |= 1;
    }
  }
  // Round the quotient to nearest: a remainder above half of pi66/2 becomes negative.
  let neg = false;
  if (lt128(PI66_HI, PI66_LO, (rh << 1) | (rl >>> 63), rl << 1)) {
    sub128(PI66_HI, PI66_LO, rh, rl);
    rh = wHi; rl = wLo;
    neg = true;
    q++;
  }
  quadrant = q & 3;
  wSet(R, rh, rl, 127 - 65, neg);
}

/** d = sin(R) for |R| <= pi/4 (Taylor series). */
function sinSeries(d: i32): void {
  wMul(R2, R, R);
  wCopy(T, R);
  wCopy(d, R);
  for (let n = 2; n < MAX_TERMS; n += 2) {
    wMul(T, T, R2);
    wSetInt(TMP, <i64>(n * (n + 1)));
    wDiv(T, T, TMP);
    wAdd(d, d, T, (n & 2) != 0);
    if (negligible(T, d)) break;
  }
}

/** d = cos(R) for |R| <= pi/4. */
function cosSeries(d: i32): void {
  wMul(R2, R, R);
  wSetInt(T, 1);
  wSetInt(d, 1);
  for (let n = 1; n < MAX_TERMS; n += 2) {
    wMul(T, T, R2);
    wSetInt(TMP, <i64>(n * (n + 1)));
    wDiv(T, T, TMP);
    wAdd(d, d, T, (n & 2) == 0);
    if (negligible(T, d)) break;
  }
}

/** FSIN (cos false) and FCOS of a finite operand below 2^63. */
export function sinCos80(m: i64, s: i32, cos: bool, cw: i32): void {
  if (classOf(m, s) == K_ZERO) {
    if (cos) setResult(INT_BIT, BIAS); else setResult(m, s);
    return;
  }
  reduce(m, s);
  const q = cos ? (quadrant + 1) & 3 : quadrant;
  if ((q & 1) != 0) cosSeries(SUM); else sinSeries(SUM);
  let neg = (q & 2) != 0;
  if (!cos && (s & 0x8000) != 0) neg = !neg;
  if (neg) wNegate(SUM);
  deliver(SUM, cw);
}

/** FPTAN's tangent of a finite operand below 2^63. */
export function tan80(m: i64, s: i32, cw: i32): void {
  if (classOf(m, s) == K_ZERO) { setResult(m, s); return; }
  reduce(m, s);
  if (!isZero(R) && expOf(R) < -40) {
    // r^4 is below the wide precision: tan r = r + r^3/3 + 2r^5/15 and -cot r = r/3 - 1/r, directly (a
    // quotient of sin and cos, each rounded, could lose on which side of r the result lies).
    wMul(R2, R, R);
    wSetInt(TMP, 3);
    if ((quadrant & 1) == 0) {
      wMul(T, R2, R);
      wDiv(A, T, TMP);
      wAdd(SUM, R, A, false);
      wMul(T, T, R2);
      wSetInt(TMP, 15);
      wDiv(T, T, TMP);
      wScale(T, 1);
      wAdd(SUM, SUM, T, false);
    }
    else { wDiv(T, R, TMP); wSetInt(A, 1); wDiv(A, A, R); wAdd(SUM, T, A, true); }
  } else {
    sinSeries(SIN);
    cosSeries(COS);
    if ((quadrant & 1) != 0) { wDiv(SUM, COS, SIN); wNegate(SUM); } else wDiv(SUM, SIN, COS);
  }
  if ((s & 0x8000) != 0) wNegate(SUM);
  deliver(SUM, cw);
}

/**
 * d = U + U^3/3 + U^5/5 + ... (atanh(U)), or with alternating signs U - U^3/3 + U^5/5 - ...
 * (atan(U)), summed until a term no longer changes d.
 */
function oddPowerSeries(d: i32, alternating: bool): void {
  wMul(R2, U, U);
  wCopy(T, U);
  wCopy(d, U);
  for (let n = 3; n < MAX_TERMS; n += 2) {
    wMul(T, T, R2);
    wSetInt(TMP, <i64>n);
    wDiv(A, T, TMP);
    wAdd(d, d, A, alternating && (n & 2) != 0);
    if (negligible(A, d)) break;
  }
}

// ---- atan2 ----
/** d = atan(Z) for 0 <= Z <= 1: a table entry atan(j/16) plus the series of atan((Z - c) / (1 + Z c)). */
function atanSeries(d: i32): void {
  const e = expOf(Z);
  let j = 0;
  if (!isZero(Z) && e >= -5) j = <i32>(((hiOf(Z) >>> <i64>(58 - e)) + 1) >> 1);
  if (j > 0) {
    wSetInt(TMP, <i64>j);
    wScale(TMP, -4);
    wAdd(U, Z, TMP, true);
    wMul(A, Z, TMP);
    wSetInt(TMP, 1);
    wAdd(A, A, TMP, false);
    wDiv(U, U, A);
  } else wCopy(U, Z);
  oddPowerSeries(d, true);
  if (j > 0) {
    const p = ATAN_TABLE + (<usize>(j - 1) << 4);
    wConst(TMP, load<i64>(p), load<i64>(p, 8), load<i32>(ATAN_EXP + (<usize>(j - 1) << 2)));
    wAdd(d, d, TMP, false);
  }
}

/** FPATAN: atan2(y, x) = ST(1) = arctan(ST(1) / ST(0)) in the quadrant of (x, y). */
export function atan80(ym: i64, ys: i32, xm: i64, xs: i32, cw: i32): void {
  const ky = classOf(ym, ys), kx = classOf(xm, xs);
  const xneg = (xs & 0x8000) != 0;
  if (ky == K_ZERO || (kx == K_INF && ky != K_INF)) {
    // On the x axis: 0 to the right (+0 included), pi to the left (-0 included).
    if (!xneg) { setResult(0, ys & 0x8000); return; }
    setPi(SUM);
  } else if (ky == K_INF) {
    setPi(SUM);
    wScale(SUM, kx == K_INF ? -2 : -1);                 // pi/4 or pi/2
    if (kx == K_INF && xneg) { setPi(TMP); wAdd(SUM, TMP, SUM, true); } // 3pi/4
  } else if (kx == K_ZERO) {
    setPi(SUM);
    wScale(SUM, -1);
  } else {
    wSetF80(Y, ym, ys, BIAS);
    wSetF80(X, xm, xs, BIAS);
    wAbs(Y);
    wAbs(X);
    const steep = magLess(X, Y);
    if (steep) wDiv(Z, X, Y); else wDiv(Z, Y, X);
    atanSeries(SUM);
    if (steep) { setPi(TMP); wScale(TMP, -1); wAdd(SUM, TMP, SUM, true); }
    if (xneg) { setPi(TMP); wAdd(SUM, TMP, SUM, true); }
  }
  if ((ys & 0x8000) != 0) wNegate(SUM);
  deliver(SUM, cw);
}

// ---- logarithms ----
/** d = log2(src) for a positive finite wide value. */
function log2Wide(d: i32, src: i32): void {
  let e = expOf(src);
  let mexp = 0;
  if (ltU(SQRT2_SIG, hiOf(src))) { e++; mexp = -1; }
  wSet(X, hiOf(src), loOf(src), mexp, false);      // m in [sqrt(2)/2, sqrt(2))
  wSetInt(TMP, 1);
  wAdd(U, X, TMP, true);
  wAdd(A, X, TMP, false);
  wDiv(U, U, A);                                    // u = (m - 1) / (m + 1)
  atanhTimes2OverLn2(d);
  wSetInt(TMP, <i64>e);
  wAdd(d, d, TMP, false);
}

/** d = 2 atanh(U) / ln 2 = log2((1 + U) / (1 - U)). */
function atanhTimes2OverLn2(d: i32): void {
  oddPowerSeries(d, false);
  wConst(TMP, TWO_OVER_LN2_HI, TWO_OVER_LN2_LO, TWO_OVER_LN2_EXP);
  wMul(d, d, TMP);
}

function infinity(neg: bool): void { setResult(INT_BIT, neg ? 0xffff : 0x7fff); }

/** FYL2X (y * log2(x)) and FYL2XP1 (y * log2(1 + x), `plus1`). */
export function yLog2x80(ym: i64, ys: i32, xm: i64, xs: i32, plus1: bool, cw: i32): void {
  const ky = classOf(ym, ys), kx = classOf(xm, xs);
  const yneg = (ys & 0x8000) != 0, xneg = (xs & 0x8000) != 0 && kx != K_ZERO;
  // The logarithm's operand: x, or 1 + x. Its class decides the special cases.
  wSetF80(X, kx == K_ZERO ? 0 : xm, xs, BIAS);
  if (kx != K_ZERO && kx != K_INF) {
    if (plus1) { wSetInt(TMP, 1); wAdd(Z, X, TMP, false); } else wCopy(Z, X);
  }
  if (plus1 && kx != K_ZERO && kx != K_INF && (isZero(Z) || isNeg(Z))) {
    // x <= -1, outside FYL2XP1's range: the host returns x and reports it inexact (y * -inf for an infinite y).
    if (ky == K_INF) { infinity(!yneg); return; }
    raise(PE);
    setResult(xm, xs);
    return;
  }
  const argZero = !plus1 && kx == K_ZERO;
  const argNeg = kx == K_INF ? xneg : kx == K_ZERO ? false : isNeg(Z);
  // A negative operand is invalid before it is denormal.
  if (argNeg) { clearDE(); raise(IE); setIndefinite(); return; }
  if (argZero) {
    // log2(0) = -inf: y * -inf, invalid for y = 0.
    if (ky == K_ZERO) { raise(IE); setIndefinite(); return; }
    if (ky != K_INF) raise(ZE);
    infinity(!yneg);
    return;
  }
  // Is the logarithm zero (x = 1 for FYL2X, x = 0 for FYL2XP1), or its sign?
  const logZero = plus1 ? kx == K_ZERO : (kx != K_INF && hiOf(Z) == INT_BIT && loOf(Z) == 0 && expOf(Z) == 0);
  const logNeg = plus1 ? xneg : (kx != K_INF && expOf(Z) < 0);
  if (kx == K_INF) {
    if (ky == K_ZERO) { raise(IE); setIndefinite(); return; }
    infinity(yneg);
    return;
  }
  if (ky == K_INF) {
    if (logZero) { raise(IE); setIndefinite(); return; }
    infinity(yneg != logNeg);
    return;
  }
  if (ky == K_ZERO || logZero) { setResult(0, (yneg != logNeg) ? 0x8000 : 0); return; }
  if (plus1 && !(expOf(X) < -2)) {
    log2Wide(SUM, Z);                                      // |x| >= 1/4: the logarithm of 1 + x itself
  } else if (plus1) {
    wSetInt(TMP, 2);
    wAdd(A, X, TMP, false);
    wDiv(U, X, A);                                         // u = x / (2 + x)
    atanhTimes2OverLn2(SUM);
  } else log2Wide(SUM, Z);
  wSetF80(Y, ym, ys, BIAS);
  wMul(SUM, SUM, Y);
  deliver(SUM, cw);
}

// ---- 2^x - 1 ----
/** d = e^T - 1 (Taylor series; |T| below 1 or so). */
function expm1Series(d: i32): void {
  wCopy(A, T);
  wCopy(d, T);
  for (let n = 2; n < MAX_TERMS; n++) {
    wMul(A, A, T);
    wSetInt(TMP, <i64>n);
    wDiv(A, A, TMP);
    wAdd(d, d, A, false);
    if (negligible(A, d)) break;
  }
}

/** F2XM1: 2^x - 1, defined for |x| <= 1; beyond that computed all the same. */
export function exp2m1_80(m: i64, s: i32, cw: i32): void {
  const k = classOf(m, s);
  const neg = (s & 0x8000) != 0;
  if (k == K_ZERO) { setResult(m, s); return; }
  if (k == K_INF) { if (neg) setResult(INT_BIT, 0xbfff); else setResult(m, s); return; }
  wSetF80(X, m, s, BIAS);
  if (expOf(X) >= 0 && !(hiOf(X) == INT_BIT && loOf(X) == 0 && expOf(X) == 0)) {
    // |x| > 1, outside the defined range: the host leaves the operand as it is and reports it inexact.
    raise(PE);
    setResult(m, s);
    return;
  }
  if (expOf(X) == 0) { raise(PE); setResult(INT_BIT, neg ? 0xbffe : BIAS); return; } // 2^1 - 1 and 2^-1 - 1
  wConst(TMP, LN2_HI, LN2_LO, LN2_EXP);
  wMul(T, X, TMP);
  expm1Series(SUM);
  deliver(SUM, cw);
}
