// The x87 FPU (D8-DF escapes, WAIT, and the x87 part of FXSAVE/FXRSTOR).
//
// Each register holds its exact 80-bit value: the 64-bit significand (with
// its explicit integer bit) in O_FPU_MM, the sign/exponent word in
// O_FPU_SEXP, in physical order. Arithmetic is IEEE 754 extended (f80.ts)
// under the control word's precision and rounding control; the
// transcendentals are in f80-trans.ts. A register whose bit is set in
// O_FPU_MMX_EXACT holds an MMX value: its 80-bit form is (O_FPU_MM, 0xFFFF).
//
// Every instruction reads memory and checks for faults before it changes
// any state, so a faulting instruction can be restarted.
import { STATE } from './layout';
import {
  O_FPU_MM, O_FPU_CW, O_FPU_SW, O_FPU_TAG, O_FPU_TOP, O_FPU_MMX_EXACT, O_FPU_FOP, O_FPU_FIP, O_FPU_FDP,
  O_FPU_SEXP, O_FPU_FCS, O_FPU_FDS,
  O_CR0, O_FLAGS, CR0_EM, CR0_TS, CR0_MP, CR0_NE, F_VM, F_CF, F_PF, F_ZF, F_OF, F_SF, F_AF,
  st64, setRegN, rip, protectedMode, segSel, SEG_CS,
} from './state';
import { dMod, dReg, dRm, dOsize, dSeg, memLa, effAddr } from './operand';
import { read8, read16, read32, read64, write16, write32, write64, write8, probeWrite } from './mem';
import { fault, NM, MF, UD } from './fault';
import { getCF, getZF, getPF, setFlagBits } from './flags';
import {
  IE, DE, ZE, OE, UE, SF, ES, C0, C1, C2, C3, BUSY, RC_DOWN, RC_UP, RC_CHOP, PE,
  INT_BIT, QNAN_BIT, INDEF_MANT, INDEF_SEXP, INDEF_F64, INDEF_F32, xMant, xSexp, inexact, roundedUp, convExc, convTiny, intInvalid,
  roundShift, packFloat, extend, uintTo80, intTo80, toInt, BIAS,
} from './fpu-conv';
import {
  rM, rS, fExc, fUp, K_ZERO, K_FINITE, K_INF, K_NAN, K_UNSUPPORTED, classOf, isDenormal, isSignaling,
  begin, setIndefinite, setResult, screen1, screen2, clearDE, add80, mul80, div80, sqrt80, roundPack, remainder80, remQuotient, remPartial,
} from './f80';
import { TRANS_LOG2, TRANS_LOG2P1, TRANS_ATAN, sinCos80, tan80, atan80, yLog2x80, exp2m1_80 } from './f80-trans';

const MM_BASE: usize = STATE + O_FPU_MM;
const SEXP_BASE: usize = STATE + O_FPU_SEXP;

/** Scratch for FRSTOR/FXRSTOR: eight 80-bit registers read before anything is committed. */
const SCRATCH: usize = memory.data(128);

// ---- per-instruction bookkeeping, committed by finish() ----
let exc = 0;      // exception flags raised
let ccMask = 0;   // condition-code bits this instruction writes
let ccVal = 0;

// ---- control/status ----
// @ts-ignore: decorator
@inline function cw(): i32 { return load<u16>(STATE + O_FPU_CW); }
// @ts-ignore: decorator
@inline function rc(): i32 { return (cw() >> 10) & 3; }
// @ts-ignore: decorator
@inline function swRaw(): i32 { return load<u16>(STATE + O_FPU_SW); }
// @ts-ignore: decorator
@inline function setSwRaw(v: i32): void { store<u16>(STATE + O_FPU_SW, <u16>(v & ~0x3800)); }
// @ts-ignore: decorator
@inline function top(): i32 { return load<u8>(STATE + O_FPU_TOP); }
// @ts-ignore: decorator
@inline function setTop(t: i32): void { store<u8>(STATE + O_FPU_TOP, <u8>(t & 7)); }
// @ts-ignore: decorator
@inline function physOf(i: i32): i32 { return (top() + i) & 7; }
// @ts-ignore: decorator
@inline function tagMask(): i32 { return load<u8>(STATE + O_FPU_TAG); }
// @ts-ignore: decorator
@inline function setTagMask(m: i32): void { store<u8>(STATE + O_FPU_TAG, <u8>m); }
// @ts-ignore: decorator
@inline function validP(p: i32): bool { return ((tagMask() >> p) & 1) != 0; }
// @ts-ignore: decorator
@inline function exactMask(): i32 { return load<u8>(STATE + O_FPU_MMX_EXACT); }

/** The status word as the guest reads it (TOP merged in). */
function fsw(): i32 { return (swRaw() & ~0x3800) | (top() << 11); }

/** Set ES and B when an unmasked exception flag is set, clear them otherwise. */
function summary(sw: i32): i32 {
  if ((sw & ~cw() & 0x3f) != 0) return sw | ES | BUSY;
  return sw & ~(ES | BUSY);
}

/** FLDCW's view of a control word: reserved bits 7, 13-15 read as 0, bit 6 as 1. */
function setCw(v: i32): void { store<u16>(STATE + O_FPU_CW, <u16>((v & 0x1f3f) | 0x40)); }

function finish(): void {
  const sw = (swRaw() & ~ccMask) | (ccVal & ccMask) | exc;
  setSwRaw(summary(sw));
}

// @ts-ignore: decorator
@inline function setCC(mask: i32, val: i32): void { ccMask |= mask; ccVal = (ccVal & ~mask) | (val & mask); }

/** An unmasked invalid, denormal or divide-by-zero exception: the instruction leaves its destination alone. */
function blocked(): bool { return (exc & ~cw() & (IE | DE | ZE)) != 0; }
/** Stores to memory are also suppressed by unmasked overflow/underflow. */
function storeBlocked(): bool { return (exc & ~cw() & (IE | DE | ZE | OE | UE)) != 0; }

function underflow(): void { exc |= IE | SF; setCC(C1, 0); }
function overflowExc(): void { exc |= IE | SF; setCC(C1, C1); }

function checkNM(): void {
  if ((st64(O_CR0) & (CR0_EM | CR0_TS)) != 0) fault(NM, -1);
}
function checkMF(): void {
  if ((swRaw() & ES) != 0 && (st64(O_CR0) & CR0_NE) != 0) fault(MF, -1);
}

// ---- registers ----
/** The exact 80-bit value of physical register p into xMant/xSexp (an MMX value reads as (mm, 0xFFFF)). */
function get80(p: i32): void {
  xMant = load<i64>(MM_BASE + (<usize>p << 3));
  xSexp = ((exactMask() >> p) & 1) != 0 ? 0xffff : <i32>load<u16>(SEXP_BASE + (<usize>p << 1));
}

/** Write an exact 80-bit value to physical register p without touching its tag. */
function rawWrite80(p: i32, m: i64, s: i32): void {
  store<i64>(MM_BASE + (<usize>p << 3), m);
  store<u16>(SEXP_BASE + (<usize>p << 1), <u16>s);
  store<u8>(STATE + O_FPU_MMX_EXACT, <u8>(exactMask() & ~(1 << p)));
}

function write80P(p: i32, m: i64, s: i32): void {
  rawWrite80(p, m, s);
  setTagMask(tagMask() | (1 << p));
}

function writeIndef(p: i32): void { write80P(p, INDEF_MANT, INDEF_SEXP); }

/** Write the last f80 result (rM/rS) to physical register p. */
function writeResult(p: i32): void { write80P(p, rM, rS); }

// Operands of the current instruction: a (usually ST(0)) and b.
let aM: i64 = 0, aS = 0, bM: i64 = 0, bS = 0;

/** ST(i) into a (which false) or b; an empty register underflows and reads as the indefinite. */
function fetch(i: i32, intoB: bool): bool {
  const p = physOf(i);
  let ok = true;
  if (!validP(p)) { underflow(); xMant = INDEF_MANT; xSexp = INDEF_SEXP; ok = false; }
  else get80(p);
  if (intoB) { bM = xMant; bS = xSexp; } else { aM = xMant; aS = xSexp; }
  return ok;
}

function push80(m: i64, s: i32): void {
  const p = (top() - 1) & 7;
  if (validP(p)) { overflowExc(); if (blocked()) return; m = INDEF_MANT; s = INDEF_SEXP; }
  setTop(p);
  write80P(p, m, s);
}

/** Push without the overflow check (the caller made it). */
function pushRaw(m: i64, s: i32): void {
  const p = (top() - 1) & 7;
  setTop(p);
  write80P(p, m, s);
}

function pop(): void {
  const t = top();
  setTagMask(tagMask() & ~(1 << t));
  setTop(t + 1);
}

/**
 * Take the exceptions and the round-up indication (C1) of the last f80
 * operation. An unmasked IE, DE or ZE stops the operation before its result
 * exists: no OE, UE, PE or C1 then (host).
 */
function takeF80(): void {
  exc |= fExc;
  if (blocked()) { exc &= ~(OE | UE | PE); return; }
  if (fUp) setCC(C1, C1);
}

// ---- arithmetic ----
/** kind: 0 a+b, 1 a*b, 4 a-b, 5 b-a, 6 a/b, 7 b/a into rM/rS; memDE: b came from a denormal in memory. */
function arith(kind: i32, memDE: bool): void {
  begin();
  if ((exc & SF) != 0) setIndefinite();
  else if (!screen2(aM, aS, bM, bS, memDE)) {
    const c = cw();
    switch (kind) {
      case 0: add80(aM, aS, bM, bS, false, c); break;
      case 1: mul80(aM, aS, bM, bS, c); break;
      case 4: add80(aM, aS, bM, bS, true, c); break;
      case 5: add80(bM, bS, aM, aS, true, c); break;
      case 6: div80(aM, aS, bM, bS, c); break;
      default: div80(bM, bS, aM, aS, c); break;
    }
  }
  takeF80();
}

/**
 * Order of a and b: 0 greater, 1 less, 2 equal, 3 unordered. FUCOM-style
 * (quiet) compares raise IE only for SNaNs; unsupported encodings always.
 */
function relation(quiet: bool, memDE: bool): i32 {
  const ka = classOf(aM, aS), kb = classOf(bM, bS);
  if (ka == K_UNSUPPORTED || kb == K_UNSUPPORTED) { exc |= IE; return 3; }
  if (ka == K_NAN || kb == K_NAN) {
    if (!quiet || isSignaling(aM, aS) || isSignaling(bM, bS)) exc |= IE;
    return 3;
  }
  if (memDE || isDenormal(aM, aS) || isDenormal(bM, bS)) exc |= DE;
  return order80(aM, aS, bM, bS);
}

/** Order of two ordered 80-bit values (no NaNs, no unsupported encodings). */
function order80(am: i64, as: i32, bm: i64, bs: i32): i32 {
  const az = am == 0, bz = bm == 0;
  if (az && bz) return 2; // +0 == -0
  const an = !az && (as & 0x8000) != 0, bn = !bz && (bs & 0x8000) != 0;
  if (an != bn) return an ? 1 : 0;
  // Same sign: compare magnitudes; denormals (exponent 0) share exponent 1's scale.
  let ea = as & 0x7fff, eb = bs & 0x7fff;
  if (ea == 0) ea = 1;
  if (eb == 0) eb = 1;
  let c = 0;
  if (az) c = -1;
  else if (bz) c = 1;
  else if (ea != eb) c = ea > eb ? 1 : -1;
  else if (am != bm) c = <u64>am > <u64>bm ? 1 : -1;
  if (an) c = -c;
  return c > 0 ? 0 : c < 0 ? 1 : 2;
}

/** FCOM-style compare into C3/C2/C0; false (no pop) when an unmasked exception blocks it, which still sets them (host). */
function compareCC(quiet: bool, memDE: bool): bool {
  const rel = relation(quiet, memDE);
  setCC(C0 | C2 | C3, rel == 0 ? 0 : rel == 1 ? C0 : rel == 2 ? C3 : C0 | C2 | C3);
  return !blocked();
}

// ---- memory operands ----
/** Set by the m32/m64 loaders: the operand was a denormal (its extended form is normal). */
let memDenormal = false;

/** An m32 float into b, exactly (SNaNs stay signaling for the consumer to report). */
function loadM32(la: i64): void {
  const b = read32(la);
  const e = (b >>> 23) & 0xff, f = b & 0x7fffff;
  memDenormal = e == 0 && f != 0;
  if (e == 0xff) { bM = INT_BIT | (<i64>f << 40); bS = ((b >>> 16) & 0x8000) | 0x7fff; return; }
  extend(<f64>reinterpret<f32>(b));
  bM = xMant; bS = xSexp;
}

function loadM64(la: i64): void {
  const b = read64(la);
  memDenormal = (b & 0x7ff0000000000000) == 0 && (b & 0xfffffffffffff) != 0;
  extend(reinterpret<f64>(b));
  bM = xMant; bS = xSexp;
}

function loadInt(v: i64): void {
  memDenormal = false;
  intTo80(v);
  bM = xMant; bS = xSexp;
}

function writeInt(la: i64, size: i32, v: i64): void {
  if (size == 2) write16(la, <i32>v);
  else if (size == 4) write32(la, <i32>v);
  else write64(la, v);
}

/** D8/DA/DC/DE with a memory operand (already in b): ST(0) op b, or a compare. */
function arithMem(r: i32): void {
  fetch(0, false);
  if (r == 2 || r == 3) {
    if (compareCC(false, memDenormal) && r == 3) pop();
    return;
  }
  arith(r, memDenormal);
  if (blocked()) return;
  writeResult(physOf(0));
}

/** FLD m32/m64 (value in b): SNaNs are quieted with IE, denormals raise DE. */
function fldFloat(): void {
  if (memDenormal) exc |= DE;
  if (isSignaling(bM, bS)) { exc |= IE; bM |= QNAN_BIT; }
  if (blocked()) return;
  push80(bM, bS);
}

/** FST/FSTP m32fp or m64fp. */
function storeFloat(la: i64, single: bool, popAfter: bool): void {
  const p = physOf(0);
  let bits: i64;
  if (!validP(p)) {
    underflow();
    bits = single ? INDEF_F32 : INDEF_F64;
  } else {
    get80(p);
    bits = packFloat(xMant, xSexp, single, rc());
    exc |= convExc;
    if (convTiny && (cw() & UE) == 0) exc |= UE;
    // An unmasked overflow or underflow stops the store: no PE or C1 with it (host).
    if (storeBlocked()) exc &= ~PE;
    else if (roundedUp) setCC(C1, C1);
  }
  if (storeBlocked()) return;
  if (single) write32(la, <i32>bits);
  else write64(la, bits);
  if (popAfter) pop();
}

/** FIST/FISTP/FISTTP of `size` bytes. */
function storeInt(la: i64, size: i32, truncate: bool, popAfter: bool): void {
  const p = physOf(0);
  const indefInt: i64 = size == 2 ? 0x8000 : size == 4 ? 0x80000000 : INT_BIT;
  let v: i64;
  if (!validP(p)) {
    underflow();
    v = indefInt;
  } else {
    get80(p);
    v = toInt(xMant, xSexp, truncate ? RC_CHOP : rc(), size == 2 ? 0x7fff : size == 4 ? 0x7fffffff : ~INT_BIT);
    if (intInvalid) { exc |= IE; v = indefInt; }
    else if (inexact) { exc |= PE; if (roundedUp) setCC(C1, C1); }
  }
  if (blocked()) return;
  writeInt(la, size, v);
  if (popAfter) pop();
}

function fldM80(la: i64): void {
  const m = read64(la);
  const s = read16(la + 8);
  push80(m, s);
}

function fstpM80(la: i64): void {
  const p = physOf(0);
  let m: i64 = INDEF_MANT, s: i32 = INDEF_SEXP;
  if (!validP(p)) {
    underflow();
    if (blocked()) return;
  } else {
    get80(p);
    m = xMant;
    s = xSexp;
  }
  probeWrite(la, 10);
  write64(la, m);
  write16(la + 8, s);
  pop();
}

function fbld(la: i64): void {
  let v: i64 = 0;
  for (let k = 8; k >= 0; k--) {
    const b = read8(la + k);
    v = v * 100 + <i64>(((b >> 4) & 0xf) * 10 + (b & 0xf));
  }
  const neg = (read8(la + 9) & 0x80) != 0;
  uintTo80(v, neg);
  push80(xMant, xSexp);
}

function fbstp(la: i64): void {
  const p = physOf(0);
  const LIMIT: i64 = 999999999999999999;
  let invalid = false, neg = false;
  let mag: i64 = 0;
  if (!validP(p)) {
    underflow();
    invalid = true;
  } else {
    get80(p);
    neg = (xSexp & 0x8000) != 0;
    const v = toInt(xMant, xSexp, rc(), LIMIT);
    mag = neg ? -v : v;
    if (intInvalid || mag > LIMIT) { exc |= IE; invalid = true; }
    else if (inexact) { exc |= PE; if (roundedUp) setCC(C1, C1); }
  }
  if (blocked()) return;
  probeWrite(la, 10);
  if (invalid) {
    write64(la, <i64>0xc0 << 56);
    write16(la + 8, 0xffff);
  } else {
    let lo: i64 = 0;
    for (let k = 0; k < 16; k++) { lo |= (mag % 10) << <i64>(k * 4); mag /= 10; }
    const d16 = <i32>(mag % 10), d17 = <i32>(mag / 10 % 10);
    write64(la, lo);
    write16(la + 8, d16 | (d17 << 4) | (neg ? 0x8000 : 0));
  }
  pop();
}

function memD9(r: i32, la: i64): void {
  if (r == 0) { loadM32(la); fldFloat(); }
  else if (r == 2) storeFloat(la, true, false);
  else if (r == 3) storeFloat(la, true, true);
  else fault(UD, -1);
}

function memDB(r: i32, la: i64): void {
  switch (r) {
    case 0: { intTo80(<i64>read32(la)); push80(xMant, xSexp); return; }
    case 1: storeInt(la, 4, true, true); return;
    case 2: storeInt(la, 4, false, false); return;
    case 3: storeInt(la, 4, false, true); return;
    case 5: fldM80(la); return;
    case 7: fstpM80(la); return;
    default: fault(UD, -1);
  }
}

function memDD(r: i32, la: i64): void {
  switch (r) {
    case 0: loadM64(la); fldFloat(); return;
    case 1: storeInt(la, 8, true, true); return;
    case 2: storeFloat(la, false, false); return;
    case 3: storeFloat(la, false, true); return;
    default: fault(UD, -1);
  }
}

function memDF(r: i32, la: i64): void {
  switch (r) {
    case 0: { intTo80(<i64><i16>read16(la)); push80(xMant, xSexp); return; }
    case 1: storeInt(la, 2, true, true); return;
    case 2: storeInt(la, 2, false, false); return;
    case 3: storeInt(la, 2, false, true); return;
    case 4: fbld(la); return;
    case 5: { intTo80(read64(la)); push80(xMant, xSexp); return; }
    case 6: fbstp(la); return;
    default: storeInt(la, 8, false, true); return;
  }
}

function memOp(op: i32, r: i32, la: i64): void {
  switch (op) {
    case 0xd8: loadM32(la); arithMem(r); return;
    case 0xdc: loadM64(la); arithMem(r); return;
    case 0xda: loadInt(<i64>read32(la)); arithMem(r); return;
    case 0xde: loadInt(<i64><i16>read16(la)); arithMem(r); return;
    case 0xd9: memD9(r, la); return;
    case 0xdb: memDB(r, la); return;
    case 0xdd: memDD(r, la); return;
    default: memDF(r, la); return;
  }
}

// ---- register forms ----
/** ST(d) = kind(ST(d), ST(s)), optionally popping. */
function arithReg(kind: i32, d: i32, s: i32, popAfter: bool): void {
  fetch(d, false);
  fetch(s, true);
  arith(kind, false);
  if (blocked()) return;
  writeResult(physOf(d));
  if (popAfter) pop();
}

/** DC/DE register forms name the reverse operation of D8's for sub and div. */
// @ts-ignore: decorator
@inline function reversed(r: i32): i32 { return r >= 4 ? r ^ 1 : r; }

function compareRegs(i: i32, pops: i32, quiet: bool): void {
  fetch(0, false);
  fetch(i, true);
  if (!compareCC(quiet, false)) return;
  for (let k = 0; k < pops; k++) pop();
}

/** FCOMI/FUCOMI and their popping forms: EFLAGS; C1 keeps its value unless the stack underflows (as the host does). */
function comi(i: i32, quiet: bool, popAfter: bool): void {
  ccMask = 0;
  fetch(0, false);
  fetch(i, true);
  const rel = relation(quiet, false);
  // EFLAGS are written even when an unmasked exception blocks the pop (host).
  const f = rel == 0 ? 0 : rel == 1 ? F_CF : rel == 2 ? F_ZF : F_ZF | F_PF | F_CF;
  setFlagBits(F_ZF | F_PF | F_CF | F_OF | F_SF | F_AF, f);
  if (blocked()) return;
  if (popAfter) pop();
}

function fldReg(i: i32): void {
  const p = physOf(i);
  if (!validP(p)) {
    // An empty source: the underflow is what is reported, even when the push overwrites a full register.
    underflow();
    if (blocked()) return;
    pushRaw(INDEF_MANT, INDEF_SEXP);
    return;
  }
  get80(p);
  push80(xMant, xSexp);
}

function swapRaw(a: i32, b: i32): void {
  const ma = MM_BASE + (<usize>a << 3), mb = MM_BASE + (<usize>b << 3);
  const tm = load<i64>(ma); store<i64>(ma, load<i64>(mb)); store<i64>(mb, tm);
  const sa = SEXP_BASE + (<usize>a << 1), sb = SEXP_BASE + (<usize>b << 1);
  const ts = load<u16>(sa); store<u16>(sa, load<u16>(sb)); store<u16>(sb, ts);
  const x = exactMask();
  const xa = (x >> a) & 1, xb = (x >> b) & 1;
  store<u8>(STATE + O_FPU_MMX_EXACT, <u8>((x & ~((1 << a) | (1 << b))) | (xa << b) | (xb << a)));
}

function fxch(i: i32): void {
  const p0 = physOf(0), pi = physOf(i);
  if (!validP(p0) || !validP(pi)) {
    underflow();
    if (blocked()) return;
    if (!validP(p0)) writeIndef(p0);
    if (!validP(pi)) writeIndef(pi);
  }
  swapRaw(p0, pi);
}

function fstReg(i: i32, popAfter: bool): void {
  const p0 = physOf(0), pi = physOf(i);
  if (!validP(p0)) {
    underflow();
    if (blocked()) return;
    writeIndef(pi);
  } else if (pi != p0) {
    get80(p0);
    write80P(pi, xMant, xSexp);
  }
  if (popAfter) pop();
}

function ffree(i: i32, popAfter: bool): void {
  setTagMask(tagMask() & ~(1 << physOf(i)));
  if (popAfter) pop();
}

function fcmov(i: i32, cond: bool): void {
  const p0 = physOf(0), pi = physOf(i);
  if (!validP(p0) || !validP(pi)) {
    underflow();
    if (blocked()) return;
    writeIndef(p0);
    return;
  }
  if (!cond) return;
  get80(pi);
  write80P(p0, xMant, xSexp);
}

function fcmovCond(r: i32): bool {
  switch (r) {
    case 0: return getCF();
    case 1: return getZF();
    case 2: return getCF() || getZF();
    default: return getPF();
  }
}

/** FCHS (abs false) and FABS: exact sign operations. */
function signOp(abs: bool): void {
  const p = physOf(0);
  if (!validP(p)) {
    underflow();
    if (blocked()) return;
    writeIndef(p);
    return;
  }
  get80(p);
  write80P(p, xMant, abs ? xSexp & 0x7fff : xSexp ^ 0x8000);
}

function fxam(): void {
  const p = physOf(0);
  let cls: i32, neg: bool;
  get80(p);
  neg = (xSexp & 0x8000) != 0;
  if (!validP(p)) cls = C3 | C0; // empty
  else {
    const e = xSexp & 0x7fff;
    if (e != 0 && xMant >= 0) cls = 0;                           // unsupported
    else if (e == 0x7fff) cls = (xMant & ~INT_BIT) == 0 ? C2 | C0 : C0; // infinity, NaN
    else if (e == 0) cls = xMant == 0 ? C3 : C3 | C2;             // zero, denormal
    else cls = C2;                                                // normal
  }
  setCC(C0 | C1 | C2 | C3, cls | (neg ? C1 : 0));
}

function ftst(): void {
  fetch(0, false);
  bM = 0; bS = 0;
  compareCC(false, false);
}

function loadConst(i: i32): void {
  const mode = rc();
  const down = mode == RC_DOWN || mode == RC_CHOP;
  let m: i64, s: i32;
  switch (i) {
    case 0: m = INT_BIT; s = 0x3fff; break;                                           // FLD1
    case 1: m = 0xd49a784bcd1b8afe + (mode == RC_UP ? 1 : 0); s = 0x4000; break;      // FLDL2T
    case 2: m = 0xb8aa3b295c17f0bc - (down ? 1 : 0); s = 0x3fff; break;               // FLDL2E
    case 3: m = 0xc90fdaa22168c235 - (down ? 1 : 0); s = 0x4000; break;               // FLDPI
    case 4: m = 0x9a209a84fbcff799 - (down ? 1 : 0); s = 0x3ffd; break;               // FLDLG2
    case 5: m = 0xb17217f7d1cf79ac - (down ? 1 : 0); s = 0x3ffe; break;               // FLDLN2
    case 6: m = 0; s = 0; break;                                                      // FLDZ
    default: fault(UD, -1); return;
  }
  push80(m, s);
}

// ---- one-register operations ----
function fsqrt(): void {
  fetch(0, false);
  begin();
  const k = classOf(aM, aS);
  if ((exc & SF) != 0) setIndefinite();
  else if ((k == K_FINITE || k == K_INF) && (aS & 0x8000) != 0) { exc |= IE; setIndefinite(); } // before DE
  else if (!screen1(aM, aS)) sqrt80(aM, aS, cw());
  takeF80();
  if (blocked()) return;
  writeResult(physOf(0));
}

/**
 * FPTAN, FSINCOS and FXTRACT replace ST(0) and push: with ST(0) empty or
 * ST(7) full both results become the indefinite NaN. Returns false if so.
 */
function pairCheck(): bool {
  const p0 = physOf(0), pm = (top() - 1) & 7;
  if (validP(p0) && !validP(pm)) return true;
  if (!validP(p0)) underflow(); else overflowExc();
  if (blocked()) return false;
  writeIndef(p0);
  setTop(pm);
  writeIndef(pm);
  return false;
}

function fxtract(): void {
  if (!pairCheck()) return;
  const p0 = physOf(0);
  get80(p0);
  const m = xMant, s = xSexp;
  begin();
  if (screen1(m, s)) {
    takeF80();
    if (blocked()) return;
    writeResult(p0);
    pushRaw(rM, rS);
    return;
  }
  takeF80();
  const k = classOf(m, s);
  if (k != K_FINITE) {
    if (k == K_ZERO) exc |= ZE;
    if (blocked()) return;
    write80P(p0, INT_BIT, k == K_ZERO ? 0xffff : 0x7fff); // exponent -inf for zero, +inf for infinity
    pushRaw(m, s);
    return;
  }
  if (blocked()) return;
  let e = s & 0x7fff;
  if (e == 0) e = 1;
  const lz = <i32>clz<i64>(m);
  intTo80(<i64>(e - lz - BIAS));
  write80P(p0, xMant, xSexp);
  pushRaw(m << <i64>lz, (s & 0x8000) | BIAS);
}

/** ST(1) as an integer scale factor for FSCALE, truncated and clamped (the exponent range is far smaller). */
function scaleFactor(m: i64, s: i32): i32 {
  const e = s & 0x7fff;
  const neg = (s & 0x8000) != 0;
  if (e >= BIAS + 30) return neg ? -0x10000 * 4 : 0x10000 * 4;
  const n = <i32>toInt(m, s, RC_CHOP, 0x7fffffff);
  return n;
}

function fscale(): void {
  fetch(0, false);
  fetch(1, true);
  const p0 = physOf(0);
  begin();
  if ((exc & SF) != 0) setIndefinite();
  else if (!screen2(aM, aS, bM, bS, false)) {
    const ka = classOf(aM, aS), kb = classOf(bM, bS);
    const bneg = (bS & 0x8000) != 0;
    if (kb == K_INF) {
      // Scaling by an infinity: 0 * 2^+inf and inf * 2^-inf are invalid.
      if (bneg ? ka == K_INF : ka == K_ZERO) { exc |= IE; setIndefinite(); }
      else if (ka == K_FINITE || ka == K_INF) setResult(bneg ? 0 : INT_BIT, (aS & 0x8000) | (bneg ? 0 : 0x7fff));
      else setResult(aM, aS);
    } else if (ka != K_FINITE) setResult(aM, aS);
    else {
      let e = aS & 0x7fff;
      if (e == 0) e = 1;
      roundPack((aS & 0x8000) != 0, e + scaleFactor(bM, bS), aM, 0, 64, cw());
    }
  }
  takeF80();
  if (blocked()) return;
  writeResult(p0);
}

/** FPREM (ieee false, truncating quotient) and FPREM1 (round to nearest). */
function fprem(ieee: bool): void {
  fetch(0, false);
  fetch(1, true);
  // C2 (and C1) clear; C0 and C3 keep their values unless a quotient is developed.
  setCC(C2, 0);
  begin();
  if ((exc & SF) != 0) setIndefinite();
  else if (!screen2(aM, aS, bM, bS, false)) {
    const ka = classOf(aM, aS), kb = classOf(bM, bS);
    // Invalid: no denormal operand reported as well (host).
    if (kb == K_ZERO || ka == K_INF) { clearDE(); exc |= IE; setIndefinite(); }
    else if (ka == K_ZERO || kb == K_INF) { setResult(aM, aS); setCC(C0 | C3, 0); } // a quotient of 0
    else {
      remainder80(aM, aS, bM, bS, ieee, cw());
      takeF80();
      if (blocked()) return;
      // A partial remainder reports C2 and no quotient bits.
      if (remPartial) setCC(C0 | C2 | C3, C2);
      else setCC(C0 | C1 | C3, (remQuotient & 4 ? C0 : 0) | (remQuotient & 1 ? C1 : 0) | (remQuotient & 2 ? C3 : 0));
      writeResult(physOf(0));
      return;
    }
  }
  takeF80();
  if (blocked()) return;
  writeResult(physOf(0));
}

function frndint(): void {
  fetch(0, false);
  const p0 = physOf(0);
  begin();
  if ((exc & SF) != 0) setIndefinite();
  else if (!screen1(aM, aS)) {
    const k = classOf(aM, aS);
    setResult(aM, aS);
    if (k == K_FINITE) {
      const e = aS & 0x7fff;
      const shift = BIAS + 63 - (e == 0 ? 1 : e);
      if (shift > 0) {
        const neg = (aS & 0x8000) != 0;
        const q = roundShift(aM, shift, rc(), neg);
        if (inexact) {
          exc |= PE;
          if (roundedUp) setCC(C1, C1);
          uintTo80(q, neg);
          setResult(xMant, xSexp);
        }
      }
    }
  }
  takeF80();
  if (blocked()) return;
  writeResult(p0);
}

function groupE0(i: i32): void {
  switch (i) {
    case 0: signOp(false); return;                      // FCHS
    case 1: signOp(true); return;                       // FABS
    case 4: ftst(); return;                             // FTST
    case 5: fxam(); return;                             // FXAM
    default: fault(UD, -1);
  }
}

function groupF0(i: i32): void {
  switch (i) {
    case 0: f2xm1(); return;            // F2XM1
    case 1: fyl2x(false); return;       // FYL2X
    case 2: trigPair(false); return;    // FPTAN
    case 3: fpatan(); return;           // FPATAN
    case 4: fxtract(); return;          // FXTRACT
    case 5: fprem(true); return;        // FPREM1
    case 6: setTop(top() - 1); return;  // FDECSTP
    default: setTop(top() + 1); return; // FINCSTP
  }
}

function groupF8(i: i32): void {
  switch (i) {
    case 0: fprem(false); return;       // FPREM
    case 1: fyl2x(true); return;        // FYL2XP1
    case 2: fsqrt(); return;            // FSQRT
    case 3: trigPair(true); return;     // FSINCOS
    case 4: frndint(); return;          // FRNDINT
    case 5: fscale(); return;           // FSCALE
    case 6: trigOne(false); return;     // FSIN
    default: trigOne(true); return;     // FCOS
  }
}

// ---- transcendental instructions (results from src/cpu/f80-trans.ts) ----
/** |ST(0)| >= 2^63: FSIN/FCOS/FPTAN/FSINCOS leave the stack alone and set C2. */
function outOfTrigRange(m: i64, s: i32): bool {
  return classOf(m, s) == K_FINITE && (s & 0x7fff) >= BIAS + 63;
}

/** FSIN (cos false) and FCOS on ST(0). */
function trigOne(cos: bool): void {
  const ok = fetch(0, false);
  if (ok && outOfTrigRange(aM, aS)) { setCC(C2, C2); return; }
  setCC(C2, 0);
  begin();
  if (!ok) setIndefinite();
  else if (!screen1(aM, aS)) {
    if (classOf(aM, aS) == K_INF) { exc |= IE; setIndefinite(); }
    else sinCos80(aM, aS, cos, cw());
  }
  takeF80();
  if (blocked()) return;
  writeResult(physOf(0));
}

/** FPTAN (tan, push 1) and FSINCOS (sin, push cos). */
function trigPair(sincos: bool): void {
  if (!pairCheck()) return;
  fetch(0, false);
  if (outOfTrigRange(aM, aS)) { setCC(C2, C2); return; }
  setCC(C2, 0);
  begin();
  let m2: i64, s2: i32;
  if (screen1(aM, aS)) { m2 = rM; s2 = rS; }
  else if (classOf(aM, aS) == K_INF) { exc |= IE; setIndefinite(); m2 = rM; s2 = rS; }
  else if (sincos) {
    sinCos80(aM, aS, true, cw());
    m2 = rM; s2 = rS;
    sinCos80(aM, aS, false, cw()); // C1 tells of the sine's rounding only (as the host does)
  } else {
    tan80(aM, aS, cw());
    m2 = INT_BIT; s2 = BIAS;
  }
  takeF80();
  if (blocked()) return;
  writeResult(physOf(0));
  pushRaw(m2, s2);
}

/** ST(1) = f(ST(1), ST(0)) and pop: FYL2X, FYL2XP1 (`plus1`), FPATAN. */
function binaryPop(kind: i32): void {
  fetch(0, false);
  fetch(1, true);
  begin();
  if ((exc & SF) != 0) setIndefinite();
  else if (!screen2(bM, bS, aM, aS, false)) {
    if (kind == TRANS_ATAN) atan80(bM, bS, aM, aS, cw());
    else yLog2x80(bM, bS, aM, aS, kind == TRANS_LOG2P1, cw());
  }
  takeF80();
  if (blocked()) return;
  writeResult(physOf(1));
  pop();
}

function fyl2x(plus1: bool): void { binaryPop(plus1 ? TRANS_LOG2P1 : TRANS_LOG2); }
function fpatan(): void { binaryPop(TRANS_ATAN); }

function f2xm1(): void {
  const ok = fetch(0, false);
  begin();
  if (!ok) setIndefinite();
  else if (!screen1(aM, aS)) exp2m1_80(aM, aS, cw());
  takeF80();
  if (blocked()) return;
  writeResult(physOf(0));
}

function regD9(r: i32, i: i32): void {
  switch (r) {
    case 0: fldReg(i); return;
    case 1: fxch(i); return;
    case 2: if (i != 0) fault(UD, -1); ccMask = 0; return; // FNOP
    case 3: fstReg(i, true); return;                       // FSTP1 (undocumented alias)
    case 4: groupE0(i); return;
    case 5: loadConst(i); return;
    case 6: groupF0(i); return;
    default: groupF8(i); return;
  }
}

function regOp(op: i32, r: i32, i: i32): void {
  switch (op) {
    case 0xd8:
      if (r == 2 || r == 3) compareRegs(i, r - 2, false);
      else arithReg(r, 0, i, false);
      return;
    case 0xd9: regD9(r, i); return;
    case 0xda:
      if (r < 4) fcmov(i, fcmovCond(r));
      else if (r == 5 && i == 1) compareRegs(1, 2, true); // FUCOMPP
      else fault(UD, -1);
      return;
    case 0xdb:
      if (r < 4) fcmov(i, !fcmovCond(r));
      else if (r == 5) comi(i, true, false);  // FUCOMI
      else if (r == 6) comi(i, false, false); // FCOMI
      else fault(UD, -1);
      return;
    case 0xdc:
      if (r == 2 || r == 3) compareRegs(i, r - 2, false); // FCOM2/FCOMP3 aliases
      else arithReg(reversed(r), i, 0, false);
      return;
    case 0xdd:
      switch (r) {
        case 0: ffree(i, false); return;
        case 1: fxch(i); return;                    // FXCH4 alias
        case 2: fstReg(i, false); return;
        case 3: fstReg(i, true); return;
        case 4: compareRegs(i, 0, true); return;    // FUCOM
        case 5: compareRegs(i, 1, true); return;    // FUCOMP
        default: fault(UD, -1); return;
      }
    case 0xde:
      if (r == 2) compareRegs(i, 1, false);         // FCOMP5 alias
      else if (r == 3) { if (i != 1) fault(UD, -1); compareRegs(1, 2, false); } // FCOMPP
      else arithReg(reversed(r), i, 0, true);
      return;
    default: // 0xdf
      switch (r) {
        case 0: ffree(i, true); return;             // FFREEP
        case 1: fxch(i); return;                    // FXCH7 alias
        case 2: case 3: fstReg(i, true); return;    // FSTP8/FSTP9 aliases
        case 5: comi(i, true, true); return;        // FUCOMIP
        case 6: comi(i, false, true); return;       // FCOMIP
        default: fault(UD, -1); return;
      }
  }
}

// ---- control instructions (no FOP/FIP/FDP update; the FN forms do not check pending exceptions) ----
function fninit(): void {
  setCw(0x037f);
  setSwRaw(0);
  setTop(0);
  setTagMask(0);
  store<u16>(STATE + O_FPU_FOP, 0);
  store<i64>(STATE + O_FPU_FIP, 0);
  store<i64>(STATE + O_FPU_FDP, 0);
  store<u16>(STATE + O_FPU_FCS, 0);
  store<u16>(STATE + O_FPU_FDS, 0);
}

function controlReg(op: i32, r: i32, i: i32): bool {
  if (op == 0xdb && r == 4) {
    if (i == 2) { setSwRaw(swRaw() & ~(0xff | BUSY)); return true; } // FNCLEX
    if (i == 3) { fninit(); return true; }                           // FNINIT
    if (i == 0 || i == 1 || i == 4) return true;                     // FENI FDISI FSETPM: no-ops
    fault(UD, -1);
  }
  if (op == 0xdf && r == 4) {
    if (i != 0) fault(UD, -1);
    setRegN(0, 2, false, <i64>fsw());                                // FNSTSW AX
    return true;
  }
  return false;
}

function controlMem(op: i32, r: i32, la: i64): bool {
  if (op == 0xd9 && r >= 4) {
    if (r == 4) { checkMF(); fldenv(la); }
    else if (r == 5) { checkMF(); const v = read16(la); setCw(v); setSwRaw(summary(swRaw())); }
    else if (r == 6) fnstenv(la);
    else write16(la, cw());
    return true;
  }
  if (op == 0xdd && (r == 4 || r == 6 || r == 7)) {
    if (r == 4) { checkMF(); frstor(la); }
    else if (r == 6) fnsave(la);
    else write16(la, fsw());
    return true;
  }
  return false;
}

// ---- environment (FLDENV/FNSTENV) and full state (FRSTOR/FNSAVE) ----
/** The full 16-bit tag word (2 bits per physical register: valid, zero, special, empty). */
function fullTag(): i32 {
  let t = 0;
  for (let p = 0; p < 8; p++) {
    let v = 3;
    if (validP(p)) {
      get80(p);
      const e = xSexp & 0x7fff;
      if (e == 0x7fff) v = 2;
      else if (e == 0) v = xMant == 0 ? 1 : 2;
      else v = xMant < 0 ? 0 : 2;
    }
    t |= v << (p * 2);
  }
  return t;
}

function realFormat(): bool {
  return !protectedMode || (load<i32>(STATE + O_FLAGS) & F_VM) != 0;
}

/** Bytes of the environment image for the current operand size: 28 (32-bit) or 14 (16-bit). */
function envSize(): i32 { return dOsize() == 2 ? 14 : 28; }

function storeEnv(la: i64): void {
  const fip = load<i64>(STATE + O_FPU_FIP), fdp = load<i64>(STATE + O_FPU_FDP);
  const fop = <i32>load<u16>(STATE + O_FPU_FOP) & 0x7ff;
  const fcs = <i32>load<u16>(STATE + O_FPU_FCS), fds = <i32>load<u16>(STATE + O_FPU_FDS);
  const tag = fullTag();
  const real = realFormat();
  if (envSize() == 28) {
    write32(la, 0xffff0000 | cw());
    write32(la + 4, 0xffff0000 | fsw());
    write32(la + 8, 0xffff0000 | tag);
    if (real) {
      write32(la + 12, 0xffff0000 | (<i32>fip & 0xffff));
      write32(la + 16, ((<i32>(fip >>> 16) & 0xffff) << 12) | fop);
      write32(la + 20, 0xffff0000 | (<i32>fdp & 0xffff));
      write32(la + 24, (<i32>(fdp >>> 16) & 0xffff) << 12);
    } else {
      write32(la + 12, <i32>fip);
      write32(la + 16, (fop << 16) | fcs);
      write32(la + 20, <i32>fdp);
      write32(la + 24, 0xffff0000 | fds);
    }
  } else {
    write16(la, cw());
    write16(la + 2, fsw());
    write16(la + 4, tag);
    write16(la + 6, <i32>fip);
    write16(la + 8, real ? ((<i32>(fip >>> 16) & 0xf) << 12) | fop : fcs);
    write16(la + 10, <i32>fdp);
    write16(la + 12, real ? (<i32>(fdp >>> 16) & 0xf) << 12 : fds);
  }
}

// Environment read by loadEnv(), committed by commitEnv().
let eCw = 0, eSw = 0, eTag = 0, eFop = 0, eFcs = 0, eFds = 0;
let eFip: i64 = 0, eFdp: i64 = 0;

function loadEnv(la: i64): void {
  const real = realFormat();
  eFcs = 0;
  eFds = 0;
  if (envSize() == 28) {
    eCw = read16(la);
    eSw = read16(la + 4);
    eTag = read16(la + 8);
    if (real) {
      const w = read32(la + 16);
      eFip = <i64>read16(la + 12) | (<i64>((w >>> 12) & 0xffff) << 16);
      eFop = w & 0x7ff;
      eFdp = <i64>read16(la + 20) | (<i64>((read32(la + 24) >>> 12) & 0xffff) << 16);
    } else {
      eFip = <i64><u32>read32(la + 12);
      const w = read32(la + 16);
      eFcs = w & 0xffff;
      eFop = (w >>> 16) & 0x7ff;
      eFdp = <i64><u32>read32(la + 20);
      eFds = read16(la + 24);
    }
  } else {
    eCw = read16(la);
    eSw = read16(la + 2);
    eTag = read16(la + 4);
    eFip = <i64>read16(la + 6);
    eFdp = <i64>read16(la + 10);
    eFop = 0;
    if (real) {
      const w = read16(la + 8);
      eFip |= <i64>((w >>> 12) & 0xf) << 16;
      eFop = w & 0x7ff;
      eFdp |= <i64>((read16(la + 12) >>> 12) & 0xf) << 16;
    } else {
      eFcs = read16(la + 8);
      eFds = read16(la + 12);
    }
  }
}

function commitEnv(): void {
  setCw(eCw);
  setTop((eSw >> 11) & 7);
  setSwRaw(summary(eSw));
  let m = 0;
  for (let p = 0; p < 8; p++) if (((eTag >> (p * 2)) & 3) != 3) m |= 1 << p;
  setTagMask(m);
  store<u16>(STATE + O_FPU_FOP, <u16>eFop);
  store<i64>(STATE + O_FPU_FIP, eFip);
  store<i64>(STATE + O_FPU_FDP, eFdp);
  store<u16>(STATE + O_FPU_FCS, <u16>eFcs);
  store<u16>(STATE + O_FPU_FDS, <u16>eFds);
}

function fldenv(la: i64): void {
  loadEnv(la);
  commitEnv();
}

function fnstenv(la: i64): void {
  probeWrite(la, envSize());
  storeEnv(la);
  setCw(cw() | 0x3f); // FNSTENV masks all exceptions
}

function fnsave(la: i64): void {
  const n = envSize();
  probeWrite(la, n + 80);
  storeEnv(la);
  for (let i = 0; i < 8; i++) {
    get80(physOf(i));
    write64(la + n + 10 * i, xMant);
    write16(la + n + 10 * i + 8, xSexp);
  }
  fninit();
}

function frstor(la: i64): void {
  const n = envSize();
  loadEnv(la);
  for (let i = 0; i < 8; i++) {
    store<i64>(SCRATCH + (<usize>i << 4), read64(la + n + 10 * i));
    store<u16>(SCRATCH + (<usize>i << 4) + 8, <u16>read16(la + n + 10 * i + 8));
  }
  commitEnv();
  restoreRegs();
}

/** Registers from SCRATCH (stack order ST(0)..ST(7)) to their physical slots under the current TOP. */
function restoreRegs(): void {
  for (let i = 0; i < 8; i++) {
    rawWrite80(physOf(i), load<i64>(SCRATCH + (<usize>i << 4)), load<u16>(SCRATCH + (<usize>i << 4) + 8));
  }
}

// ---- entry points ----
export function execX87(op: i32): void {
  checkNM();
  const mod = dMod(), r = dReg() & 7, rm = dRm() & 7;
  exc = 0;
  ccMask = C1; // C1 reads 0 after most instructions (no round-up indication)
  ccVal = 0;
  if (mod != 3) {
    const la = memLa();
    if (controlMem(op, r, la)) return;
    checkMF();
    memOp(op, r, la);
  } else {
    if (controlReg(op, r, rm)) return;
    checkMF();
    regOp(op, r, rm);
  }
  finish();
  store<u16>(STATE + O_FPU_FOP, <u16>(((op & 7) << 8) | (mod << 6) | (r << 3) | rm));
  store<i64>(STATE + O_FPU_FIP, rip());
  store<u16>(STATE + O_FPU_FCS, <u16>segSel(SEG_CS));
  if (mod != 3) {
    store<i64>(STATE + O_FPU_FDP, effAddr());
    store<u16>(STATE + O_FPU_FDS, <u16>segSel(dSeg()));
  }
}

/** WAIT/FWAIT: #NM with CR0.MP and CR0.TS, #MF for a pending unmasked exception (CR0.NE). */
export function fwait(): void {
  if ((st64(O_CR0) & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS)) fault(NM, -1);
  checkMF();
}

/** FNINIT state, registers zeroed (power-on). */
export function fpuReset(): void {
  fninit();
  memory.fill(MM_BASE, 0, 64);
  memory.fill(SEXP_BASE, 0, 16);
  store<u8>(STATE + O_FPU_MMX_EXACT, 0);
}

/** The x87 part (bytes 0-159) of a FXSAVE image at linear address la (64-bit FIP/FDP form). */
export function fxsaveX87(la: i64): void {
  write16(la, cw());
  write16(la + 2, fsw());
  write8(la + 4, tagMask());
  write8(la + 5, 0);
  write16(la + 6, <i32>load<u16>(STATE + O_FPU_FOP) & 0x7ff);
  write64(la + 8, load<i64>(STATE + O_FPU_FIP));
  write64(la + 16, load<i64>(STATE + O_FPU_FDP));
  for (let i = 0; i < 8; i++) {
    const a = la + 32 + 16 * i;
    get80(physOf(i));
    write64(a, xMant);
    write16(a + 8, xSexp);
    write16(a + 10, 0);
    write32(a + 12, 0);
  }
}

/** Load the x87 part of a FXSAVE image; reads everything before changing any state. */
export function fxrstorX87(la: i64): void {
  const fcw = read16(la), sw = read16(la + 2), ftw = read8(la + 4), fop = read16(la + 6);
  const fip = read64(la + 8), fdp = read64(la + 16);
  for (let i = 0; i < 8; i++) {
    store<i64>(SCRATCH + (<usize>i << 4), read64(la + 32 + 16 * i));
    store<u16>(SCRATCH + (<usize>i << 4) + 8, <u16>read16(la + 40 + 16 * i));
  }
  setCw(fcw);
  setTop((sw >> 11) & 7);
  setSwRaw(summary(sw));
  setTagMask(ftw);
  store<u16>(STATE + O_FPU_FOP, <u16>(fop & 0x7ff));
  store<i64>(STATE + O_FPU_FIP, fip);
  store<i64>(STATE + O_FPU_FDP, fdp);
  restoreRegs();
  store<u8>(STATE + O_FPU_MMX_EXACT, 0);
}

// ---- the hypervisor's view (debuggers): ST(i) in stack order, exact 80-bit ----
/** ST(i)'s 64-bit significand (part 0) or sign/exponent word (part 1). */
export function stRegister(i: i32, part: i32): i64 {
  get80(physOf(i & 7));
  return part == 0 ? xMant : <i64>xSexp;
}
/** Write ST(i) exactly, leaving its tag alone (a debugger's write). */
export function setStRegister(i: i32, significand: i64, signExponent: i32): void {
  rawWrite80(physOf(i & 7), significand, signExponent & 0xffff);
}
