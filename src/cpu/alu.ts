// Integer arithmetic with x86 flag semantics: the eight classic ALU
// operations, shifts and rotates, multiply and divide.
import {
  setLazy, setLazyAux, getCF, sizeMask, signShift, setFlagBits,
  LF_ADD, LF_ADC, LF_SUB, LF_SBB, LF_LOGIC, LF_INC, LF_DEC, LF_SHL, LF_SHR, LF_SAR, LF_MUL, LF_CFOF,
} from './flags';
import { F_CF, F_OF } from './state';
import { fault, DE } from './fault';

/** ADD OR ADC SBB AND SUB XOR CMP (the /digit order); returns the result (CMP's is discarded). */
// @ts-ignore: decorator
@inline export function alu(kind: i32, size: i32, a: i64, b: i64): i64 {
  let r: i64;
  switch (kind) {
    case 0: r = a + b; setLazy(LF_ADD, size, r, a, b); break;
    case 1: r = a | b; setLazy(LF_LOGIC, size, r, a, b); break;
    case 2: {
      const c: i64 = getCF() ? 1 : 0;
      r = a + b + c; setLazyAux(LF_ADC, size, r, a, b, <i32>c); break;
    }
    case 3: {
      const c: i64 = getCF() ? 1 : 0;
      r = a - b - c; setLazyAux(LF_SBB, size, r, a, b, <i32>c); break;
    }
    case 4: r = a & b; setLazy(LF_LOGIC, size, r, a, b); break;
    case 5: case 7: r = a - b; setLazy(LF_SUB, size, r, a, b); break;
    default: r = a ^ b; setLazy(LF_LOGIC, size, r, a, b); break;
  }
  return r & sizeMask(size);
}

export function inc(size: i32, a: i64): i64 {
  const cf = getCF() ? 1 : 0;
  const r = (a + 1) & sizeMask(size);
  setLazyAux(LF_INC, size, r, a, 1, cf);
  return r;
}
export function dec(size: i32, a: i64): i64 {
  const cf = getCF() ? 1 : 0;
  const r = (a - 1) & sizeMask(size);
  setLazyAux(LF_DEC, size, r, a, 1, cf);
  return r;
}
export function neg(size: i32, a: i64): i64 {
  const r = (0 - a) & sizeMask(size);
  setLazy(LF_SUB, size, r, 0, a);
  return r;
}

/** Sign-extend the low `size` bytes ovf v. */
export function sext(v: i64, size: i32): i64 {
  if (size == 1) return <i64><i8>v;
  if (size == 2) return <i64><i16>v;
  if (size == 4) return <i64><i32>v;
  return v;
}

/** Group 2: ROL ROR RCL RCR SHL SHR SAL SAR by `count` (already read, not yet masked). */
export function shift(kind: i32, size: i32, a: i64, countIn: i32): i64 {
  const bits = size << 3;
  const count = countIn & (size == 8 ? 0x3f : 0x1f);
  if (count == 0) return a;
  const m = sizeMask(size);
  const s = signShift(size);
  a &= m;
  switch (kind) {
    case 0: { // ROL
      const c = count & (bits - 1);
      const r = c == 0 ? a : ((a << c) | (a >>> (bits - c))) & m;
      const cf = <i32>(r & 1);
      const ovf = <i32>((r >>> s) & 1) ^ cf;
      setFlagBits(F_CF | F_OF, cf | (ovf << 11));
      return r;
    }
    case 1: { // ROR
      const c = count & (bits - 1);
      const r = c == 0 ? a : ((a >>> c) | (a << (bits - c))) & m;
      const cf = <i32>((r >>> s) & 1);
      const ovf = cf ^ <i32>((r >>> (s - 1)) & 1);
      setFlagBits(F_CF | F_OF, cf | (ovf << 11));
      return r;
    }
    case 2: { // RCL: rotate through CF, a (bits+1)-bit rotation
      const c = size == 1 ? count % 9 : size == 2 ? count % 17 : count;
      let cf: i64 = getCF() ? 1 : 0;
      let r = a;
      for (let k = 0; k < c; k++) {
        const out = (r >>> s) & 1;
        r = ((r << 1) | cf) & m;
        cf = out;
      }
      const ovf = <i32>(((r >>> s) & 1) ^ cf);
      setFlagBits(F_CF | F_OF, <i32>cf | (ovf << 11));
      return r;
    }
    case 3: { // RCR
      const c = size == 1 ? count % 9 : size == 2 ? count % 17 : count;
      let cf: i64 = getCF() ? 1 : 0;
      let r = a;
      let ovf: i32 = 0;
      for (let k = 0; k < c; k++) {
        const out = r & 1;
        r = (r >>> 1) | (cf << s);
        cf = out;
      }
      ovf = <i32>(((r >>> s) ^ (r >>> (s - 1))) & 1);
      setFlagBits(F_CF | F_OF, <i32>cf | (ovf << 11));
      return r;
    }
    case 4: case 6: { // SHL/SAL
      const r = count >= 64 ? 0 : (a << count) & m;
      const cf = count > bits ? 0 : <i32>((a >>> (bits - count)) & 1);
      setLazyAux(LF_SHL, size, r, a, count, cf);
      return r;
    }
    case 5: { // SHR
      const r = a >>> count;
      const cf = count > bits ? 0 : <i32>((a >>> (count - 1)) & 1);
      setLazyAux(LF_SHR, size, r, a, count, cf);
      return r;
    }
    default: { // SAR
      const sa = sext(a, size);
      const r = (sa >> (count > 63 ? 63 : count)) & m;
      const cf = <i32>((sa >> (count - 1 > 63 ? 63 : count - 1)) & 1);
      setLazyAux(LF_SAR, size, r, a, count, cf);
      return r;
    }
  }
}

/** SHLD (left) / SHRD: shift `a` by count filling from `b`. */
export function shiftDouble(left: bool, size: i32, a: i64, b: i64, countIn: i32): i64 {
  const bits = size << 3;
  const count = countIn & (size == 8 ? 0x3f : 0x1f);
  if (count == 0) return a;
  const m = sizeMask(size);
  a &= m; b &= m;
  let r: i64, cf: i32;
  if (size == 2 && count > 16) {
    // The SDM leaves this undefined; Intel's P6 and later cores shift the 48-bit a:b:a (as Bochs and
    // QEMU model them): SHLD keeps its top 16 bits, SHRD its low 16, and CF is the last bit out.
    const w: i64 = (a << 32) | (b << 16) | a;
    if (left) { r = (w >>> (32 - count)) & m; cf = <i32>((w >>> (48 - count)) & 1); }
    else { r = (w >>> count) & m; cf = <i32>((w >>> (count - 1)) & 1); }
  } else if (left) {
    r = ((a << count) | (b >>> (bits - count))) & m;
    cf = <i32>((a >>> (bits - count)) & 1);
  } else {
    r = ((a >>> count) | (b << (bits - count))) & m;
    cf = <i32>((a >>> (count - 1)) & 1);
  }
  // OF is defined for count 1 (a sign change); for larger counts Intel's is CF ^ MSB for SHLD and the
  // top two bits of the result differing for SHRD, which are the same thing at count 1.
  const msb = <i32>((r >>> signShift(size)) & 1);
  const ovf = left ? cf ^ msb : msb ^ <i32>((r >>> (signShift(size) - 1)) & 1);
  setLazyAux(LF_CFOF, size, r, a, b, cf | (ovf << 11));
  return r;
}

// ---- multiply ----
/** High 64 bits ovf the unsigned 128-bit product. */
export function mulhu(a: i64, b: i64): i64 {
  const aL = a & 0xffffffff, aH = a >>> 32, bL = b & 0xffffffff, bH = b >>> 32;
  const ll = aL * bL, lh = aL * bH, hl = aH * bL, hh = aH * bH;
  const mid = (ll >>> 32) + (lh & 0xffffffff) + (hl & 0xffffffff);
  return hh + (lh >>> 32) + (hl >>> 32) + (mid >>> 32);
}
/** High 64 bits ovf the signed 128-bit product. */
export function mulhs(a: i64, b: i64): i64 {
  let h = mulhu(a, b);
  if (a < 0) h -= b;
  if (b < 0) h -= a;
  return h;
}

/** Set flags after a multiply: CF = OF = overflow, the rest from the low result. */
export function mulFlags(size: i32, lo: i64, overflow: bool): void {
  setLazyAux(LF_MUL, size, lo, 0, 0, overflow ? 1 : 0);
}

/** Two- and three-operand IMUL: truncated signed product with flags. */
export function imulTrunc(size: i32, a: i64, b: i64): i64 {
  const sa = sext(a, size), sb = sext(b, size);
  const full = sa * sb;
  let overflow: bool;
  if (size == 8) overflow = mulhs(sa, sb) != (full >> 63);
  else overflow = sext(full, size) != full;
  const r = full & sizeMask(size);
  mulFlags(size, r, overflow);
  return r;
}

// ---- divide (128/64 and narrower); quotient overflow and division by zero raise #DE ----
export let divQuot: i64 = 0;
export let divRem: i64 = 0;

/** Unsigned (hi:lo) / d for 64-bit operands. */
function udiv128(hi: i64, lo: i64, d: i64): void {
  if (d == 0 || <u64>hi >= <u64>d) { fault(DE, -1); return; }
  if (hi == 0) { divQuot = <i64>(<u64>lo / <u64>d); divRem = <i64>(<u64>lo % <u64>d); return; }
  let q: i64 = 0, r = hi;
  for (let i = 63; i >= 0; i--) {
    const top = r >>> 63;
    r = (r << 1) | ((lo >>> i) & 1);
    q <<= 1;
    if (top != 0 || <u64>r >= <u64>d) { r -= d; q |= 1; }
  }
  divQuot = q; divRem = r;
}

export function divUnsigned(size: i32, hi: i64, lo: i64, d: i64): void {
  if (size == 8) { udiv128(hi, lo, d); return; }
  const bits = <i64>(size << 3);
  const m = sizeMask(size);
  d &= m;
  if (d == 0) { fault(DE, -1); return; }
  const n = ((hi & m) << bits) | (lo & m);
  const q = <i64>(<u64>n / <u64>d);
  if (<u64>q > <u64>m) { fault(DE, -1); return; }
  divQuot = q; divRem = <i64>(<u64>n % <u64>d);
}

export function divSigned(size: i32, hi: i64, lo: i64, dIn: i64): void {
  if (size == 8) {
    const d = dIn;
    if (d == 0) { fault(DE, -1); return; }
    const neg = hi < 0;
    let nh = hi, nl = lo;
    if (neg) { nl = ~lo + 1; nh = ~hi + (nl == 0 ? 1 : 0); }
    const ad = d < 0 ? -d : d;
    udiv128(nh, nl, ad); // faults if |quotient| >= 2^64
    let q = divQuot, r = divRem;
    const qneg = neg != (d < 0);
    if (qneg) { if (<u64>q > 0x8000000000000000) { fault(DE, -1); return; } q = -q; }
    else if (q < 0) { fault(DE, -1); return; }
    if (neg) r = -r;
    divQuot = q; divRem = r;
    return;
  }
  const bits = <i64>(size << 3);
  const d = sext(dIn, size);
  if (d == 0) { fault(DE, -1); return; }
  const n = (sext(hi, size) << bits) | (lo & sizeMask(size));
  if (size == 4 && n == (<i64>1 << 63) && d == -1) { fault(DE, -1); return; }
  const q = n / d;
  if (sext(q, size) != q) { fault(DE, -1); return; }
  divQuot = q & sizeMask(size);
  divRem = (n % d) & sizeMask(size);
}

