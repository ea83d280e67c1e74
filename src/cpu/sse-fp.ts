// IEEE-754 single and double arithmetic with the x86 SSE rules: MXCSR
// rounding control, DAZ and FTZ, the six sticky exception flags, NaN
// propagation (the first operand's NaN wins, quieted) and the default NaN.
//
// Values travel as raw bits in a u64 (single precision in the low 32 bits).
// The common case (round to nearest, PE already set, normal operands and a
// normal result) uses the WebAssembly operation directly: its result is then
// exactly what the hardware returns and no flag can change. Everything else
// goes through an exact path: operands are unpacked into a 63-bit significand
// with the leading one at bit 62, the result is computed with a sticky bit
// (integer add/subtract; for multiply, divide and square root the correctly
// rounded double result of the scaled operands plus the sign of its exact
// residual), and roundPack() rounds it once to the destination format.
import { STATE } from './layout';
import { O_MXCSR } from './state';

export const FE_I = 1;   // invalid
export const FE_D = 2;   // denormal operand
export const FE_Z = 4;   // divide by zero
export const FE_O = 8;   // overflow
export const FE_U = 16;  // underflow
export const FE_P = 32;  // precision (inexact)

/** Exception flags raised by the instruction being executed (all lanes). */
export let fpFlags: i32 = 0;
let rmode: i32 = 0;       // MXCSR.RC: 0 nearest, 1 down, 2 up, 3 toward zero
let daz: bool = false;
let ftz: bool = false;    // FZ with underflow masked
let ueMasked: bool = true;
let oeMasked: bool = true;
let fast: bool = false;   // nearest, PE set and masked: a native result needs no flags

/** Latch MXCSR's controls and clear the per-instruction flags. */
export function fpBegin(): void {
  const m = load<u32>(STATE + O_MXCSR);
  rmode = <i32>(m >> 13) & 3;
  daz = (m & 0x40) != 0;
  ueMasked = (m & 0x800) != 0;
  oeMasked = (m & 0x400) != 0;
  ftz = (m & 0x8000) != 0 && ueMasked;
  fast = rmode == 0 && (m & 0x1020) == 0x1020; // PE set and masked
  fpFlags = 0;
}

/** Rounding mode for conversions that override it (CVTT*: toward zero). */
export function fpTruncMode(): void { rmode = 3; fast = false; }

// ---- classification ----
export const C_ZERO = 0;
export const C_NORM = 1;
export const C_DEN = 2;
export const C_INF = 3;
export const C_QNAN = 4;
export const C_SNAN = 5;

const FRAC52: u64 = 0xfffffffffffff;
const TOP: u64 = 0x8000000000000000;

// @ts-ignore: decorator
@inline function fracBits(dbl: bool): i32 { return dbl ? 52 : 23; }
// @ts-ignore: decorator
@inline function expAll(dbl: bool): i32 { return dbl ? 0x7ff : 0xff; }
// @ts-ignore: decorator
@inline function signBit(dbl: bool): u64 { return dbl ? TOP : 0x80000000; }
// @ts-ignore: decorator
@inline function signOf(x: u64, dbl: bool): i32 { return <i32>(x >> (dbl ? 63 : 31)) & 1; }
// @ts-ignore: decorator
@inline function infBits(dbl: bool): u64 { return dbl ? 0x7ff0000000000000 : 0x7f800000; }
// @ts-ignore: decorator
@inline function quietBit(dbl: bool): u64 { return dbl ? 0x8000000000000 : 0x400000; }
export function defaultNaN(dbl: bool): u64 { return dbl ? 0xfff8000000000000 : 0xffc00000; }

export function cls(x: u64, dbl: bool): i32 {
  const F = fracBits(dbl);
  const e = <i32>(x >> F) & expAll(dbl);
  const m = x & ((<u64>1 << F) - 1);
  if (e == 0) return m == 0 ? C_ZERO : C_DEN;
  if (e == expAll(dbl)) return m == 0 ? C_INF : (m & quietBit(dbl)) != 0 ? C_QNAN : C_SNAN;
  return C_NORM;
}

/** Exponent field strictly between 1 and all-ones: far from every special case. */
// @ts-ignore: decorator
@inline function plain(x: u64, dbl: bool): bool {
  const e = <i32>(x >> fracBits(dbl)) & expAll(dbl);
  return e > 1 && e < expAll(dbl);
}
// @ts-ignore: decorator
@inline function normal(x: u64, dbl: bool): bool {
  const e = <i32>(x >> fracBits(dbl)) & expAll(dbl);
  return e != 0 && e != expAll(dbl);
}

/** A denormal becomes a zero of its sign under DAZ. */
// @ts-ignore: decorator
@inline function flushIn(x: u64, dbl: bool): u64 { return x & signBit(dbl); }

function propagateNaN(a: u64, b: u64, dbl: bool): u64 {
  const ca = cls(a, dbl), cb = cls(b, dbl);
  if (ca == C_SNAN || cb == C_SNAN) fpFlags |= FE_I;
  return (ca >= C_QNAN ? a : b) | quietBit(dbl);
}

// ---- unpacked form: value = uM / 2^62 * 2^uE ----
let uS: i32 = 0;
let uE: i32 = 0;
let uM: u64 = 0;

/** Unpack a normal or denormal number. */
function unpack(x: u64, dbl: bool): void {
  const F = fracBits(dbl);
  const bias = dbl ? 1023 : 127;
  uS = signOf(x, dbl);
  const e = <i32>(x >> F) & expAll(dbl);
  const m = x & ((<u64>1 << F) - 1);
  if (e == 0) {
    const lz = <i32>clz<u64>(m);
    uM = m << <u64>(lz - 1);
    uE = 64 - lz - bias - F;
  } else {
    uM = (m | (<u64>1 << F)) << <u64>(62 - F);
    uE = e - bias;
  }
}

/** Shift right by n, ORing the bits shifted out into bit 0. */
function jam(m: u64, n: i32): u64 {
  if (n <= 0) return m;
  if (n >= 63) return m != 0 ? 1 : 0;
  return (m >> <u64>n) | ((m & ((<u64>1 << <u64>n) - 1)) != 0 ? 1 : 0);
}

/**
 * Round sign/exponent/significand (leading one at bit 62, lower bits sticky)
 * to the format, with overflow, underflow (tininess after rounding, as x86
 * detects it), FTZ and the precision flag.
 */
export function roundPack(s: i32, e: i32, m: u64, dbl: bool): u64 {
  const p = dbl ? 53 : 24;
  const sh = <u64>(63 - p);
  const sb: u64 = s != 0 ? signBit(dbl) : 0;
  const mask: u64 = (<u64>1 << sh) - 1;
  const half: u64 = <u64>1 << (sh - 1);
  const inc: u64 = rmode == 0 ? half : rmode == 3 ? 0 : (rmode == 1) == (s != 0) ? mask : 0;
  let E = e + (dbl ? 1023 : 127);
  if (E <= 0) {
    const tiny = E < 0 || m + inc < TOP;
    if (tiny && ftz) { fpFlags |= FE_U | FE_P; return sb; }
    if (tiny && !ueMasked) {
      // #XM follows; the handler would see the result rounded with a biased exponent.
      fpFlags |= FE_U | ((m & mask) != 0 ? FE_P : 0);
      return sb;
    }
    m = jam(m, 1 - E);
    const rb = m & mask;
    let r = (m + inc) >> sh;
    if (rmode == 0 && rb == half) r &= ~(<u64>1);
    if (rb != 0) { fpFlags |= FE_P; if (tiny) fpFlags |= FE_U; }
    return sb | r; // a carry into bit p-1 makes it the smallest normal, as it should
  }
  const rb = m & mask;
  let r = (m + inc) >> sh;
  if (rmode == 0 && rb == half) r &= ~(<u64>1);
  if ((r >> <u64>p) != 0) { r >>= 1; E++; }
  if (E >= expAll(dbl)) {
    fpFlags |= FE_O;
    if (rb != 0 || oeMasked) fpFlags |= FE_P;
    // Infinity when rounding goes away from zero, else the largest finite number.
    return sb | (inc != 0 ? infBits(dbl) : infBits(dbl) - 1);
  }
  if (rb != 0) fpFlags |= FE_P;
  return sb | ((<u64>(E - 1) << <u64>(p - 1)) + r);
}

/** The unpacked significand as a double in [1, 2) (it has at most 53 bits). */
// @ts-ignore: decorator
@inline function unit(m: u64): f64 { return reinterpret<f64>(((m >> 10) & FRAC52) | (<u64>1023 << 52)); }

/** Exact error of the product p = RN(a*b) (Dekker; a and b are in [0.5, 4)). */
function prodErr(a: f64, b: f64, p: f64): f64 {
  const c = 134217729.0;
  let t = c * a;
  const ah = t - (t - a), al = a - ah;
  t = c * b;
  const bh = t - (t - b), bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

/**
 * Round r * 2^e (r a positive double in [0.5, 4), the correctly rounded
 * double of the exact result, which lies above r when dir > 0 and below when
 * dir < 0) to the format.
 */
function packDouble(s: i32, e: i32, r: f64, dir: f64, dbl: bool): u64 {
  const bits = reinterpret<u64>(r);
  e += <i32>(bits >> 52) - 1023;
  let m = ((bits & FRAC52) | (<u64>1 << 52)) << 10;
  if (dir > 0) m |= 1;
  else if (dir < 0) {
    m -= 1;
    if (m < (<u64>1 << 62)) { m = (m << 1) | 1; e--; }
  }
  return roundPack(s, e, m, dbl);
}

// ---- arithmetic ----
export const OP_ADD = 0;
export const OP_SUB = 1;
export const OP_MUL = 2;
export const OP_DIV = 3;
export const OP_SQRT = 4;
export const OP_MIN = 5;
export const OP_MAX = 6;

function nativeOp(op: i32, a: u64, b: u64, dbl: bool): u64 {
  if (dbl) {
    const x = reinterpret<f64>(a), y = reinterpret<f64>(b);
    let r: f64;
    switch (op) {
      case OP_ADD: r = x + y; break;
      case OP_SUB: r = x - y; break;
      case OP_MUL: r = x * y; break;
      case OP_DIV: r = x / y; break;
      default: r = Math.sqrt(y); break;
    }
    return reinterpret<u64>(r);
  }
  const x = reinterpret<f32>(<u32>a), y = reinterpret<f32>(<u32>b);
  let r: f32;
  switch (op) {
    case OP_ADD: r = x + y; break;
    case OP_SUB: r = x - y; break;
    case OP_MUL: r = x * y; break;
    case OP_DIV: r = x / y; break;
    default: r = Mathf.sqrt(y); break;
  }
  return <u64>reinterpret<u32>(r);
}

/** ADD SUB MUL DIV SQRT MIN MAX of one lane (SQRT uses b, the source). */
export function fpArith(op: i32, a: u64, b: u64, dbl: bool): u64 {
  if (op >= OP_MIN) return minMax(op == OP_MAX, a, b, dbl);
  if (fast && normal(b, dbl) && (op == OP_SQRT ? signOf(b, dbl) == 0 : normal(a, dbl))) {
    const r = nativeOp(op, a, b, dbl);
    if (plain(r, dbl)) return r;
  }
  switch (op) {
    case OP_ADD: return addSub(a, b, 0, dbl);
    case OP_SUB: return addSub(a, b, 1, dbl);
    case OP_MUL: return mul(a, b, dbl);
    case OP_DIV: return div(a, b, dbl);
    default: return sqrt(b, dbl);
  }
}

function addSub(a: u64, b: u64, neg: i32, dbl: bool): u64 {
  let ca = cls(a, dbl), cb = cls(b, dbl);
  if (ca >= C_QNAN || cb >= C_QNAN) return propagateNaN(a, b, dbl);
  if (daz) {
    if (ca == C_DEN) { a = flushIn(a, dbl); ca = C_ZERO; }
    if (cb == C_DEN) { b = flushIn(b, dbl); cb = C_ZERO; }
  }
  if (ca == C_DEN || cb == C_DEN) fpFlags |= FE_D;
  let sa = signOf(a, dbl), sb = signOf(b, dbl) ^ neg;
  if (ca == C_INF) {
    if (cb == C_INF && sa != sb) { fpFlags |= FE_I; return defaultNaN(dbl); }
    return a;
  }
  if (cb == C_INF) return infBits(dbl) | (sb != 0 ? signBit(dbl) : 0);
  if (ca == C_ZERO && cb == C_ZERO) {
    const s = sa == sb ? sa : rmode == 1 ? 1 : 0;
    return s != 0 ? signBit(dbl) : 0;
  }
  if (ca == C_ZERO) { unpack(b, dbl); return roundPack(sb, uE, uM, dbl); }
  if (cb == C_ZERO) { unpack(a, dbl); return roundPack(sa, uE, uM, dbl); }
  unpack(a, dbl);
  let ea = uE, ma = uM;
  unpack(b, dbl);
  let eb = uE, mb = uM;
  if (ea < eb || (ea == eb && ma < mb)) {
    const te = ea; ea = eb; eb = te;
    const tm = ma; ma = mb; mb = tm;
    const ts = sa; sa = sb; sb = ts;
  }
  mb = jam(mb, ea - eb);
  if (sa == sb) {
    let m = ma + mb;
    if (m >= TOP) { m = jam(m, 1); ea++; }
    return roundPack(sa, ea, m, dbl);
  }
  let m = ma - mb;
  if (m == 0) return rmode == 1 ? signBit(dbl) : 0;
  const lz = <i32>clz<u64>(m) - 1;
  m <<= <u64>lz;
  return roundPack(sa, ea - lz, m, dbl);
}

function mul(a: u64, b: u64, dbl: bool): u64 {
  let ca = cls(a, dbl), cb = cls(b, dbl);
  if (ca >= C_QNAN || cb >= C_QNAN) return propagateNaN(a, b, dbl);
  if (daz) {
    if (ca == C_DEN) { a = flushIn(a, dbl); ca = C_ZERO; }
    if (cb == C_DEN) { b = flushIn(b, dbl); cb = C_ZERO; }
  }
  const s = signOf(a, dbl) ^ signOf(b, dbl);
  const sb: u64 = s != 0 ? signBit(dbl) : 0;
  if (ca == C_INF || cb == C_INF) {
    if (ca == C_ZERO || cb == C_ZERO) { fpFlags |= FE_I; return defaultNaN(dbl); }
    if (ca == C_DEN || cb == C_DEN) fpFlags |= FE_D;
    return sb | infBits(dbl);
  }
  if (ca == C_DEN || cb == C_DEN) fpFlags |= FE_D;
  if (ca == C_ZERO || cb == C_ZERO) return sb;
  unpack(a, dbl);
  const ea = uE, fa = unit(uM);
  unpack(b, dbl);
  const eb = uE, fb = unit(uM);
  const p = fa * fb;
  // A product of two singles is exact in a double.
  const err = dbl ? prodErr(fa, fb, p) : 0.0;
  return packDouble(s, ea + eb, p, err, dbl);
}

function div(a: u64, b: u64, dbl: bool): u64 {
  let ca = cls(a, dbl), cb = cls(b, dbl);
  if (ca >= C_QNAN || cb >= C_QNAN) return propagateNaN(a, b, dbl);
  if (daz) {
    if (ca == C_DEN) { a = flushIn(a, dbl); ca = C_ZERO; }
    if (cb == C_DEN) { b = flushIn(b, dbl); cb = C_ZERO; }
  }
  const s = signOf(a, dbl) ^ signOf(b, dbl);
  const sb: u64 = s != 0 ? signBit(dbl) : 0;
  if (ca == C_INF) {
    if (cb == C_INF) { fpFlags |= FE_I; return defaultNaN(dbl); }
    if (cb == C_DEN) fpFlags |= FE_D;
    return sb | infBits(dbl);
  }
  if (cb == C_INF) {
    if (ca == C_DEN) fpFlags |= FE_D;
    return sb;
  }
  if (cb == C_ZERO) {
    if (ca == C_ZERO) { fpFlags |= FE_I; return defaultNaN(dbl); }
    fpFlags |= FE_Z;
    return sb | infBits(dbl);
  }
  if (ca == C_DEN || cb == C_DEN) fpFlags |= FE_D;
  if (ca == C_ZERO) return sb;
  unpack(a, dbl);
  const ea = uE, fa = unit(uM);
  unpack(b, dbl);
  const eb = uE, fb = unit(uM);
  const q = fa / fb;
  const p = q * fb;
  const rem = (fa - p) - prodErr(q, fb, p); // exact: the quotient's residual
  return packDouble(s, ea - eb, q, rem, dbl);
}

function sqrt(a: u64, dbl: bool): u64 {
  let c = cls(a, dbl);
  if (c >= C_QNAN) return propagateNaN(a, a, dbl);
  if (daz && c == C_DEN) { a = flushIn(a, dbl); c = C_ZERO; }
  if (c == C_ZERO) return a;
  if (signOf(a, dbl) != 0) { fpFlags |= FE_I; return defaultNaN(dbl); }
  if (c == C_INF) return a;
  if (c == C_DEN) fpFlags |= FE_D;
  unpack(a, dbl);
  let e = uE;
  let x = unit(uM);
  if ((e & 1) != 0) { x *= 2.0; e--; }
  const r = Math.sqrt(x);
  const p = r * r;
  const rem = (x - p) - prodErr(r, r, p);
  return packDouble(0, e >> 1, r, rem, dbl);
}

/** MIN/MAX: the second operand when either is a NaN or both are zeros. */
function minMax(isMax: bool, a: u64, b: u64, dbl: bool): u64 {
  let ca = cls(a, dbl), cb = cls(b, dbl);
  // DAZ applies first: a NaN in the other operand returns the source already flushed.
  if (daz) {
    if (ca == C_DEN) { a = flushIn(a, dbl); ca = C_ZERO; }
    if (cb == C_DEN) { b = flushIn(b, dbl); cb = C_ZERO; }
  }
  if (ca >= C_QNAN || cb >= C_QNAN) { fpFlags |= FE_I; return b; }
  if (ca == C_DEN || cb == C_DEN) fpFlags |= FE_D;
  const x = toF64(a, dbl), y = toF64(b, dbl);
  if (isMax) return x > y ? a : b;
  return x < y ? a : b;
}

// @ts-ignore: decorator
@inline function toF64(x: u64, dbl: bool): f64 {
  return dbl ? reinterpret<f64>(x) : <f64>reinterpret<f32>(<u32>x);
}

// ---- comparisons ----
export const REL_LT = 0;
export const REL_EQ = 1;
export const REL_GT = 2;
export const REL_UN = 3;

/** Compare; a QNaN raises IE only for the signalling predicates (and COMIS). */
export function fpCompare(a: u64, b: u64, dbl: bool, signalQNaN: bool): i32 {
  let ca = cls(a, dbl), cb = cls(b, dbl);
  if (ca == C_SNAN || cb == C_SNAN) { fpFlags |= FE_I; return REL_UN; }
  if (ca == C_QNAN || cb == C_QNAN) { if (signalQNaN) fpFlags |= FE_I; return REL_UN; }
  if (daz) {
    if (ca == C_DEN) { a = flushIn(a, dbl); ca = C_ZERO; }
    if (cb == C_DEN) { b = flushIn(b, dbl); cb = C_ZERO; }
  }
  if (ca == C_DEN || cb == C_DEN) fpFlags |= FE_D;
  const x = toF64(a, dbl), y = toF64(b, dbl);
  return x < y ? REL_LT : x == y ? REL_EQ : REL_GT;
}

/** CMPPS/CMPPD/CMPSS/CMPSD predicate 0..7. */
export function fpPredicate(a: u64, b: u64, dbl: bool, pred: i32): bool {
  const signal = pred == 1 || pred == 2 || pred == 5 || pred == 6;
  const r = fpCompare(a, b, dbl, signal);
  switch (pred) {
    case 0: return r == REL_EQ;
    case 1: return r == REL_LT;
    case 2: return r == REL_LT || r == REL_EQ;
    case 3: return r == REL_UN;
    case 4: return r != REL_EQ;
    case 5: return r != REL_LT;
    case 6: return r == REL_GT || r == REL_UN;
    default: return r != REL_UN;
  }
}

// ---- conversions ----
/** Single to double (exact). */
export function fpS2D(a: u64): u64 {
  const c = cls(a, false);
  const s: u64 = (a & 0x80000000) << 32;
  if (c >= C_QNAN) {
    if (c == C_SNAN) fpFlags |= FE_I;
    return s | 0x7ff8000000000000 | ((a & 0x3fffff) << 29);
  }
  if (c == C_DEN) {
    if (daz) return s;
    fpFlags |= FE_D;
  }
  return reinterpret<u64>(<f64>reinterpret<f32>(<u32>a));
}

/** Double to single, rounded per MXCSR. */
export function fpD2S(a: u64): u64 {
  const c = cls(a, true);
  const s: u64 = (a >> 32) & 0x80000000;
  if (c >= C_QNAN) {
    if (c == C_SNAN) fpFlags |= FE_I;
    return s | 0x7fc00000 | ((a >> 29) & 0x3fffff);
  }
  if (c == C_INF) return s | 0x7f800000;
  if (c == C_ZERO || (c == C_DEN && daz)) return s;
  if (c == C_DEN) fpFlags |= FE_D;
  if (fast && c == C_NORM) {
    const r = <u64>reinterpret<u32>(<f32>reinterpret<f64>(a));
    if (plain(r, false)) return r;
  }
  unpack(a, true);
  return roundPack(uS, uE, uM, false);
}

/** Signed integer to single or double, rounded per MXCSR. */
export function fpFromInt(v: i64, dbl: bool): u64 {
  if (v == 0) return 0;
  const s = v < 0 ? 1 : 0;
  const mag: u64 = <u64>(v < 0 ? -v : v);
  if (mag < (<u64>1 << (dbl ? 53 : 24))) {
    // Exact either way.
    return dbl ? reinterpret<u64>(<f64>v) : <u64>reinterpret<u32>(<f32>v);
  }
  const lz = <i32>clz<u64>(mag);
  if (lz == 0) return roundPack(s, 63, (mag >> 1) | (mag & 1), dbl);
  return roundPack(s, 63 - lz, mag << <u64>(lz - 1), dbl);
}

/**
 * Single or double to a 32- or 64-bit signed integer, rounded per MXCSR (or
 * truncated after fpTruncMode()); NaN and out-of-range give the integer
 * indefinite (the most negative value) and IE.
 */
export function fpToInt(a: u64, dbl: bool, is64: bool): i64 {
  const indefinite: i64 = is64 ? <i64>TOP : 0x80000000;
  let c = cls(a, dbl);
  if (c >= C_INF) { fpFlags |= FE_I; return indefinite; }
  if (c == C_DEN && daz) c = C_ZERO;
  if (c == C_ZERO) return 0;
  unpack(a, dbl);
  const s = uS, e = uE, m = uM;
  if (e >= 64) { fpFlags |= FE_I; return indefinite; }
  let ip: u64, frac: u64;
  if (e >= 60) { // no fraction bits left (the significand has at most 53 bits)
    ip = e >= 62 ? m << <u64>(e - 62) : m >> <u64>(62 - e);
    frac = 0;
  }
  else {
    const t = jam(m, 62 - e - 2);
    ip = t >> 2;
    frac = t & 3;
  }
  let up = false;
  if (rmode == 0) up = frac > 2 || (frac == 2 && (ip & 1) != 0);
  else if (rmode == 1) up = s != 0 && frac != 0;
  else if (rmode == 2) up = s == 0 && frac != 0;
  if (up) ip++;
  const limit: u64 = (is64 ? TOP : 0x80000000) - (s != 0 ? 0 : 1);
  if (ip > limit) { fpFlags |= FE_I; return indefinite; }
  if (frac != 0) fpFlags |= FE_P;
  const r = s != 0 ? -<i64>ip : <i64>ip;
  return is64 ? r : r & 0xffffffff;
}

// ---- approximations (RCPPS/RSQRTPS: no flags, denormals read as zero, tiny results flushed) ----
export function fpRecip(a: u64, rsqrt: bool): u64 {
  const c = cls(a, false);
  const s: u64 = a & 0x80000000;
  if (c >= C_QNAN) return a | 0x400000;
  if (c == C_ZERO || c == C_DEN) return s | 0x7f800000;
  if (c == C_INF) return rsqrt && s != 0 ? 0xffc00000 : s;
  if (rsqrt && s != 0) return 0xffc00000;
  const x = <f64>reinterpret<f32>(<u32>a);
  const r = <f32>(rsqrt ? 1.0 / Math.sqrt(x) : 1.0 / x);
  const bits = <u64>reinterpret<u32>(r);
  if ((bits & 0x7f800000) == 0) return s; // denormal result: flushed
  return bits;
}
