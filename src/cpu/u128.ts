// 128-bit unsigned integers as (hi, lo) pairs of i64 for the x87's extended
// arithmetic: wide products, shifts with a sticky bit, and the bit-serial
// quotient and square root the significand operations need. AssemblyScript
// has no u128 and no tuples: results go to the globals wHi/wLo.

/** The last 128-bit result. */
export let wHi: i64 = 0;
export let wLo: i64 = 0;

// @ts-ignore: decorator
@inline export function ltU(a: i64, b: i64): bool { return <u64>a < <u64>b; }

/** (hi:lo) < (bh:bl), unsigned. */
// @ts-ignore: decorator
@inline export function lt128(ah: i64, al: i64, bh: i64, bl: i64): bool { return ltU(ah, bh) || (ah == bh && ltU(al, bl)); }

/** (ah:al) - (bh:bl) modulo 2^128, into wHi/wLo. */
// @ts-ignore: decorator
@inline export function sub128(ah: i64, al: i64, bh: i64, bl: i64): void {
  wLo = al - bl;
  wHi = ah - bh - (ltU(al, bl) ? 1 : 0);
}

/** The full 128-bit product of two unsigned 64-bit numbers. */
export function mul64(a: i64, b: i64): void {
  const M: i64 = 0xffffffff;
  const a0 = a & M, a1 = a >>> 32, b0 = b & M, b1 = b >>> 32;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 32) + (p01 & M) + (p10 & M);
  wLo = (mid << 32) | (p00 & M);
  wHi = p11 + (p01 >>> 32) + (p10 >>> 32) + (mid >>> 32);
}

/** Leading zeros of (hi:lo), 128 for zero. */
export function clz128(hi: i64, lo: i64): i32 {
  return hi != 0 ? <i32>clz<i64>(hi) : 64 + <i32>clz<i64>(lo);
}

/** (hi:lo) << n for 0 <= n < 128. */
export function shl128(hi: i64, lo: i64, n: i32): void {
  if (n == 0) { wHi = hi; wLo = lo; }
  else if (n < 64) { wHi = (hi << <i64>n) | (lo >>> <i64>(64 - n)); wLo = lo << <i64>n; }
  else { wHi = lo << <i64>(n - 64); wLo = 0; }
}

/** (hi:lo) >> n with every bit shifted out ORed into bit 0 (a "sticky" shift); n >= 0. */
export function shrJam128(hi: i64, lo: i64, n: i32): void {
  if (n == 0) { wHi = hi; wLo = lo; return; }
  if (n < 64) {
    const lost = (lo << <i64>(64 - n)) != 0;
    wLo = (hi << <i64>(64 - n)) | (lo >>> <i64>n) | (lost ? 1 : 0);
    wHi = hi >>> <i64>n;
  } else if (n < 128) {
    const t = n - 64;
    const lost = lo != 0 || (t > 0 && (hi << <i64>(64 - t)) != 0);
    wLo = (t == 0 ? hi : hi >>> <i64>t) | (lost ? 1 : 0);
    wHi = 0;
  } else {
    wHi = 0;
    wLo = (hi | lo) != 0 ? 1 : 0;
  }
}

/**
 * floor(a * 2^bits / b) for unsigned a < 2b, b != 0, bits < 127, into
 * wHi:wLo with a nonzero remainder ORed into bit 0.
 */
export function divJam(a: i64, b: i64, bits: i32): void {
  let r = a, qh: i64 = 0, ql: i64 = 0;
  if (!ltU(r, b)) { r -= b; ql = 1; }
  for (let i = 0; i < bits; i++) {
    const carry = r < 0;
    r <<= 1;
    qh = (qh << 1) | (ql >>> 63);
    ql <<= 1;
    if (carry || !ltU(r, b)) { r -= b; ql |= 1; }
  }
  wHi = qh;
  wLo = ql | (r != 0 ? 1 : 0);
}

/**
 * floor(sqrt(m * 2^shift)) for a 64-bit m and shift + 64 <= 134, into wHi:wLo
 * with a nonzero remainder ORed into bit 0. Digit by digit, two radicand
 * bits per step, the radicand's low bits zeros.
 */
export function sqrtJam(m: i64, shift: i32): void {
  const WIDTH = 134;
  let rh: i64 = 0, rl: i64 = 0, qh: i64 = 0, ql: i64 = 0;
  for (let s = WIDTH - 2; s >= 0; s -= 2) {
    // The two radicand bits at s+1, s of m << shift.
    let pair: i64 = 0;
    if (s >= shift) { if (s - shift < 64) pair = (m >>> <i64>(s - shift)) & 3; }
    else if (s == shift - 1) pair = (m & 1) << 1;
    rh = (rh << 2) | (rl >>> 62);
    rl = (rl << 2) | pair;
    const th = (qh << 2) | (ql >>> 62), tl = (ql << 2) | 1;
    qh = (qh << 1) | (ql >>> 63);
    ql <<= 1;
    if (!lt128(rh, rl, th, tl)) {
      sub128(rh, rl, th, tl);
      rh = wHi; rl = wLo;
      ql |= 1;
    }
  }
  wHi = qh;
  wLo = ql | ((rh | rl) != 0 ? 1 : 0);
}

/** The high 128 bits of the 256-bit product (ah:al) * (bh:bl), nonzero low bits ORed into bit 0. */
export function mulHi128(ah: i64, al: i64, bh: i64, bl: i64): void {
  mul64(al, bl);
  const ll = wHi;                    // bits 64..127 of al*bl
  const lowest = wLo;
  mul64(ah, bl);
  const hlH = wHi, hlL = wLo;
  mul64(al, bh);
  const lhH = wHi, lhL = wLo;
  mul64(ah, bh);
  const hi = wHi, lo = wLo;
  // Column 64..127: ll + hlL + lhL, carries into the high half.
  const mid = ll + hlL;
  let carry: i64 = ltU(mid, ll) ? 1 : 0;
  const mid2 = mid + lhL;
  carry += ltU(mid2, mid) ? 1 : 0;
  const lost = (mid2 | lowest) != 0;
  // Column 128..191 gets hlH + lhH + carry.
  const add = lo + hlH;
  let c2: i64 = ltU(add, lo) ? 1 : 0;
  const add2 = add + lhH;
  c2 += ltU(add2, add) ? 1 : 0;
  const add3 = add2 + carry;
  c2 += ltU(add3, add2) ? 1 : 0;
  wLo = add3 | (lost ? 1 : 0);
  wHi = hi + c2;
}

/** floor((ah:al) * 2^127 / (bh:bl)) for bh:bl with bit 127 set and ah:al < 2 * bh:bl: 128 quotient bits, a nonzero remainder ORed into bit 0. */
export function div128(ah: i64, al: i64, bh: i64, bl: i64): void {
  let rh = ah, rl = al, qh: i64 = 0, ql: i64 = 0;
  for (let i = 0; i < 128; i++) {
    let ge: bool;
    if (i == 0) ge = !lt128(rh, rl, bh, bl);
    else {
      const carry = rh < 0;
      rh = (rh << 1) | (rl >>> 63);
      rl <<= 1;
      ge = carry || !lt128(rh, rl, bh, bl);
    }
    qh = (qh << 1) | (ql >>> 63);
    ql <<= 1;
    if (ge) {
      sub128(rh, rl, bh, bl);
      rh = wHi; rl = wLo;
      ql |= 1;
    }
  }
  wHi = qh;
  wLo = ql | ((rh | rl) != 0 ? 1 : 0);
}
