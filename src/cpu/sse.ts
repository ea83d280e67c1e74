// SSE, SSE2 and MMX: the 0F-map instructions on XMM and MMX registers, plus
// FXSAVE/FXRSTOR/LDMXCSR/STMXCSR. SSE3 and later (including the whole 0F 38
// and 0F 3A maps) are not advertised and raise #UD.
//
// Every instruction reads its memory operand into scratch memory first and
// writes registers last, so a faulting access leaves the state untouched.
// Operands live in three 16-byte scratch buffers: SA (a copy of the
// destination register), SB (the source operand) and SR (the result).
import { STATE } from './layout';
import {
  O_XMM, O_MXCSR, O_CR0, O_CR4, O_FPU_MM, O_FPU_TAG, O_FPU_TOP, O_FPU_MMX_EXACT, O_FPU_SW,
  CR0_EM, CR0_TS, CR0_NE, CR4_OSFXSR, CR4_OSXMMEXCPT, st64, mode64, reg64, regN, setRegN, SEG_DS,
  F_ZF, F_PF, F_CF, F_OF, F_SF, F_AF,
} from './state';
import { dReg, dRm, dSse, dImm, dPfx, dAsize, dSegOverride, isRegForm, memLa, segLinear, rmRead, rmWrite } from './operand';
import { P_REXW, P_REPNE, R_NONE } from './decode';
import { unimplemented } from './unimplemented';
import { CpuFeature } from '../backend/abi';
import { read16, read32, read64, write8, write32, write64, probeWrite } from './mem';
import { fault } from './fault';
import { setFlagBits } from './flags';
import { fxsaveX87, fxrstorX87 } from './fpu';
import {
  fpFlags, fpBegin, fpTruncMode, fpArith, fpPredicate, fpCompare, fpS2D, fpD2S, fpFromInt, fpToInt, fpRecip,
  OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_SQRT, OP_MIN, OP_MAX, REL_LT, REL_EQ, REL_UN,
} from './sse-fp';

const SA = memory.data(16, 16);
const SB = memory.data(16, 16);
const SR = memory.data(16, 16);
const FXBUF = memory.data(256, 16);

const MXCSR_MASK: u32 = 0xffff;

// ---- registers ----
// @ts-ignore: decorator
@inline function xmm(r: i32): usize { return STATE + O_XMM + (<usize>r << 4); }
// @ts-ignore: decorator
@inline function mxcsr(): u32 { return load<u32>(STATE + O_MXCSR); }

function copy16(d: usize, s: usize): void {
  store<u64>(d, load<u64>(s));
  store<u64>(d, load<u64>(s + 8), 8);
}
function set128(d: usize, lo: u64, hi: u64): void {
  store<u64>(d, lo);
  store<u64>(d, hi, 8);
}

/** MMX register i: the low 64 bits (the significand) of physical x87 register i, which fpu.ts keeps in O_FPU_MM. */
// @ts-ignore: decorator
@inline function mmGet(i: i32): u64 { return load<u64>(STATE + O_FPU_MM + (<usize>i << 3)); }

/** Write MMX register i: its 80-bit form becomes (value, exponent and sign all ones). */
function mmSet(i: i32, v: u64): void {
  store<u64>(STATE + O_FPU_MM + (<usize>i << 3), v);
  store<u8>(STATE + O_FPU_MMX_EXACT, <u8>(<i32>load<u8>(STATE + O_FPU_MMX_EXACT) | (1 << i)));
}

/** Every MMX instruction: TOP = 0 and all registers tagged valid. */
function mmxEnter(): void {
  store<u8>(STATE + O_FPU_TOP, 0);
  store<u8>(STATE + O_FPU_TAG, 0xff);
}

// ---- checks ----
function sseCheck(): void {
  const cr0 = st64(O_CR0);
  if ((cr0 & CR0_EM) != 0 || (st64(O_CR4) & CR4_OSFXSR) == 0) fault(6, -1);
  if ((cr0 & CR0_TS) != 0) fault(7, -1);
}
function mmxCheck(): void {
  const cr0 = st64(O_CR0);
  if ((cr0 & CR0_EM) != 0) fault(6, -1);
  if ((cr0 & CR0_TS) != 0) fault(7, -1);
  x87Pending();
}
/** An unmasked x87 exception is pending (FSW.ES): #MF before touching MMX state. */
function x87Pending(): void {
  if ((load<u16>(STATE + O_FPU_SW) & 0x80) != 0 && (st64(O_CR0) & CR0_NE) != 0) fault(16, -1);
}
// @ts-ignore: decorator
@inline function ud(): void { fault(6, -1); }

/** Set the flags the instruction raised; an unmasked one raises #XM (#UD without OSXMMEXCPT). */
function fpCommit(): void {
  const f = fpFlags;
  if (f == 0) return;
  const m = mxcsr();
  const unmasked = f & ~<i32>(m >> 7) & 0x3f;
  // An unmasked pre-computation exception (IE, DE, ZE) reports only those.
  const set = unmasked != 0 && (unmasked & 7) != 0 ? f & 7 : f;
  store<u32>(STATE + O_MXCSR, m | <u32>set);
  if (unmasked != 0) fault((st64(O_CR4) & CR4_OSXMMEXCPT) != 0 ? 19 : 6, -1);
}

// ---- operands ----
/** 16-byte source (XMM r/m or m128) into SB. */
function src128(aligned: bool): void {
  if (isRegForm()) { copy16(SB, xmm(dRm())); return; }
  const la = memLa();
  if (aligned && (la & 15) != 0) fault(13, 0);
  const lo = read64(la);
  const hi = read64(la + 8);
  set128(SB, lo, hi);
}
/** Low 8 bytes of an XMM r/m, or m64, into SB (upper half zero). */
function src64(): void {
  set128(SB, isRegForm() ? load<u64>(xmm(dRm())) : <u64>read64(memLa()), 0);
}
function src32(): void {
  set128(SB, isRegForm() ? <u64>load<u32>(xmm(dRm())) : zx32(read32(memLa())), 0);
}
/** MMX r/m (or m64 / m32) into SB. */
function srcMm(size: i32): void {
  let v: u64;
  if (isRegForm()) v = mmGet(dRm() & 7);
  else v = size == 4 ? zx32(read32(memLa())) : <u64>read64(memLa());
  set128(SB, v, 0);
}
/** Fault now if any byte of [la, la+n) is not writable; a fault reports the first byte of the failing page. */
function probeRange(la: i64, n: i32): void {
  probeWrite(la, 1);
  for (let p = (la & ~0xfff) + 0x1000; p < la + n; p += 0x1000) probeWrite(p, 1);
}
function store128(la: i64, src: usize, aligned: bool): void {
  if (aligned && (la & 15) != 0) fault(13, 0);
  if ((<i32>la & 0xfff) > 0xff0) probeRange(la, 16);
  write64(la, load<i64>(src));
  write64(la + 8, load<i64>(src, 8));
}

/**
 * Zero-extend a 32-bit value. Written as a mask: Binaryen (131 nightly) folds
 * <u64><u32> of an i32 load into i64.load32_s.
 */
// @ts-ignore: decorator
@inline function zx32(v: i32): u64 { return <u64><i64>v & 0xffffffff; }

/** r/m32 (zero-extended) or r/m64. */
function gprOrMem(size: i32): u64 {
  const v = <u64>rmRead(size);
  return size == 8 ? v : v & 0xffffffff;
}

// ---- lanes ----
function loadS(p: usize, sz: i32): i64 {
  if (sz == 1) return <i64>load<i8>(p);
  if (sz == 2) return <i64>load<i16>(p);
  if (sz == 4) return <i64>load<i32>(p);
  return load<i64>(p);
}
function storeN(p: usize, sz: i32, v: i64): void {
  if (sz == 1) store<u8>(p, <u8>v);
  else if (sz == 2) store<u16>(p, <u16>v);
  else if (sz == 4) store<u32>(p, <u32>v);
  else store<i64>(p, v);
}
// @ts-ignore: decorator
@inline function lane(p: usize, i: i32, dbl: bool): u64 {
  return dbl ? load<u64>(p + (<usize>i << 3)) : <u64>load<u32>(p + (<usize>i << 2));
}
// @ts-ignore: decorator
@inline function setLane(p: usize, i: i32, dbl: bool, v: u64): void {
  if (dbl) store<u64>(p + (<usize>i << 3), v);
  else store<u32>(p + (<usize>i << 2), <u32>v);
}
function satS(v: i64, bits: i32): i64 {
  const hi = (<i64>1 << (bits - 1)) - 1, lo = -hi - 1;
  return v > hi ? hi : v < lo ? lo : v;
}
function satU(v: i64, bits: i32): i64 {
  const hi = (<i64>1 << bits) - 1;
  return v > hi ? hi : v < 0 ? 0 : v;
}

// =====================================================================
export function sseReset(): void {
  store<u32>(STATE + O_MXCSR, 0x1f80);
  memory.fill(STATE + O_XMM, 0, 256);
}

export function execSse(op: i32): void {
  if (op >= 0x200) { // 0F 38 / 0F 3A: SSSE3, SSE4, MOVBE (F2 0F 38 F0/F1 is CRC32, SSE4.2)
    const movbe = (op == 0x2f0 || op == 0x2f1) && (dPfx() & P_REPNE) == 0;
    unimplemented(movbe ? CpuFeature.MOVBE : CpuFeature.SSSE3_SSE4, op);
    return;
  }
  const o = op & 0xff;
  const p = dSse();
  if (o == 0xae) { group15(); return; }
  if (o == 0x77) { mmxCheck(); store<u8>(STATE + O_FPU_TAG, 0); return; } // EMMS
  if ((o >= 0x10 && o <= 0x17) || (o >= 0x28 && o <= 0x2f) || (o >= 0x50 && o <= 0x5f) || o == 0xc2 || o == 0xc6 || o == 0xe6) {
    sseFloat(o, p);
    return;
  }
  if ((o >= 0x60 && o <= 0x7f) || o == 0xc4 || o == 0xc5 || o >= 0xd0) {
    simdInt(o, p);
    return;
  }
  ud();
}

// ---- FXSAVE FXRSTOR LDMXCSR STMXCSR ----
function group15(): void {
  const k = dReg() & 7;
  if (k >= 2) {
    sseCheck();
    const la = memLa();
    if (k == 2) {
      const v = <u32>read32(la);
      if ((v & ~MXCSR_MASK) != 0) fault(13, 0);
      store<u32>(STATE + O_MXCSR, v);
    } else write32(la, <i32>mxcsr());
    return;
  }
  if ((st64(O_CR0) & (CR0_EM | CR0_TS)) != 0) fault(7, -1);
  const la = memLa();
  if ((la & 15) != 0) fault(13, 0);
  const n = mode64 ? 16 : 8;
  if (k == 0) {
    probeRange(la, 512);
    fxsaveX87(la);
    write32(la + 24, <i32>mxcsr());
    write32(la + 28, <i32>MXCSR_MASK);
    for (let r = 0; r < n; r++) {
      write64(la + 160 + (r << 4), load<i64>(xmm(r)));
      write64(la + 168 + (r << 4), load<i64>(xmm(r), 8));
    }
    return;
  }
  // FXRSTOR: read everything before changing anything.
  const v = <u32>read32(la + 24);
  if ((v & ~MXCSR_MASK) != 0) fault(13, 0);
  for (let r = 0; r < n; r++) {
    store<i64>(FXBUF + (<usize>r << 4), read64(la + 160 + (r << 4)));
    store<i64>(FXBUF + (<usize>r << 4), read64(la + 168 + (r << 4)), 8);
  }
  fxrstorX87(la);
  store<u32>(STATE + O_MXCSR, v);
  memory.copy(STATE + O_XMM, FXBUF, <usize>n << 4);
}

// =====================================================================
// Floating point and moves: 0F 10-17, 28-2F, 50-5F, C2, C6, E6.
function sseFloat(o: i32, p: i32): void {
  switch (o) {
    case 0x10: case 0x11: movScalarOrUnaligned(o, p); return;
    case 0x12: case 0x13: case 0x16: case 0x17: movHalf(o, p); return;
    case 0x14: case 0x15: { // UNPCKLPS/PD, UNPCKHPS/PD
      if (p >= 2) { ud(); return; }
      sseCheck();
      src128(true);
      copy16(SA, xmm(dReg()));
      unpackLanes(16, p == 1 ? 8 : 4, o == 0x15);
      copy16(xmm(dReg()), SR);
      return;
    }
    case 0x28: case 0x29: case 0x2b: { // MOVAPS/PD, MOVNTPS/PD
      if (p >= 2) { ud(); return; }
      sseCheck();
      if (o == 0x28) { src128(true); copy16(xmm(dReg()), SB); return; }
      if (isRegForm()) {
        if (o == 0x2b) { ud(); return; }
        copy16(xmm(dRm()), xmm(dReg()));
        return;
      }
      store128(memLa(), xmm(dReg()), true);
      return;
    }
    case 0x2a: cvtFromInt(p); return;
    case 0x2c: case 0x2d: cvtToInt(p, o == 0x2c); return;
    case 0x2e: case 0x2f: { // UCOMISS/COMISS/UCOMISD/COMISD
      if (p >= 2) { ud(); return; }
      sseCheck();
      const dbl = p == 1;
      if (dbl) src64(); else src32();
      fpBegin();
      const r = fpCompare(lane(xmm(dReg()), 0, dbl), lane(SB, 0, dbl), dbl, o == 0x2f);
      fpCommit();
      const f = r == REL_UN ? F_ZF | F_PF | F_CF : r == REL_LT ? F_CF : r == REL_EQ ? F_ZF : 0;
      setFlagBits(F_ZF | F_PF | F_CF | F_OF | F_SF | F_AF, f);
      return;
    }
    case 0x50: { // MOVMSKPS/PD
      if (p >= 2 || !isRegForm()) { ud(); return; }
      sseCheck();
      const s = xmm(dRm());
      let m: i64 = 0;
      if (p == 1) m = (load<i64>(s) >>> 63) | ((load<i64>(s, 8) >>> 63) << 1);
      else for (let i = 0; i < 4; i++) m |= <i64>((load<u32>(s + (<usize>i << 2)) >> 31) << <u32>i);
      setRegN(dReg(), 4, false, m);
      return;
    }
    case 0x52: case 0x53: { // RSQRTPS/SS, RCPPS/SS
      if (p == 1 || p == 3) { ud(); return; }
      sseCheck();
      if (p == 2) src32(); else src128(true);
      copy16(SR, xmm(dReg()));
      const lanes = p == 2 ? 1 : 4;
      for (let i = 0; i < lanes; i++) setLane(SR, i, false, fpRecip(lane(SB, i, false), o == 0x52));
      copy16(xmm(dReg()), SR);
      return;
    }
    case 0x54: case 0x55: case 0x56: case 0x57: { // AND ANDN OR XOR PS/PD
      if (p >= 2) { ud(); return; }
      sseCheck();
      src128(true);
      const d = xmm(dReg());
      for (let i: usize = 0; i < 16; i += 8) {
        const a = load<u64>(d + i), b = load<u64>(SB + i);
        store<u64>(d + i, o == 0x54 ? a & b : o == 0x55 ? ~a & b : o == 0x56 ? a | b : a ^ b);
      }
      return;
    }
    case 0x51: case 0x58: case 0x59: case 0x5c: case 0x5d: case 0x5e: case 0x5f: fpArithInsn(o, p); return;
    case 0x5a: case 0x5b: case 0xe6: cvtPacked(o, p); return;
    case 0xc2: { // CMPPS/PD/SS/SD
      sseCheck();
      const dbl = (p & 1) != 0, scalar = p >= 2;
      if (scalar) { if (dbl) src64(); else src32(); } else src128(true);
      const pred = <i32>dImm() & 7;
      copy16(SR, xmm(dReg()));
      fpBegin();
      const lanes = scalar ? 1 : dbl ? 2 : 4;
      for (let i = 0; i < lanes; i++) {
        setLane(SR, i, dbl, fpPredicate(lane(SR, i, dbl), lane(SB, i, dbl), dbl, pred) ? 0xffffffffffffffff : 0);
      }
      fpCommit();
      copy16(xmm(dReg()), SR);
      return;
    }
    default: { // 0xc6 SHUFPS/SHUFPD
      if (p >= 2) { ud(); return; }
      sseCheck();
      src128(true);
      const d = xmm(dReg());
      const imm = <i32>dImm();
      if (p == 1) {
        set128(d, load<u64>(d + (<usize>(imm & 1) << 3)), load<u64>(SB + (<usize>((imm >> 1) & 1) << 3)));
        return;
      }
      copy16(SA, d);
      for (let i = 0; i < 4; i++) {
        const from = i < 2 ? SA : SB;
        store<u32>(SR + (<usize>i << 2), load<u32>(from + (<usize>((imm >> (i << 1)) & 3) << 2)));
      }
      copy16(d, SR);
    }
  }
}

/** 0F 10/11: MOVUPS MOVUPD MOVSS MOVSD, loads and stores. */
function movScalarOrUnaligned(o: i32, p: i32): void {
  sseCheck();
  const r = xmm(dReg());
  if (p < 2) {
    if (o == 0x10) { src128(false); copy16(r, SB); }
    else if (isRegForm()) copy16(xmm(dRm()), r);
    else store128(memLa(), r, false);
    return;
  }
  const dbl = p == 3;
  if (o == 0x10) {
    if (isRegForm()) { setLane(r, 0, dbl, lane(xmm(dRm()), 0, dbl)); return; }
    const v: u64 = dbl ? <u64>read64(memLa()) : zx32(read32(memLa()));
    set128(r, v, 0); // a load zeroes the rest
    return;
  }
  if (isRegForm()) { setLane(xmm(dRm()), 0, dbl, lane(r, 0, dbl)); return; }
  if (dbl) write64(memLa(), load<i64>(r)); else write32(memLa(), load<i32>(r));
}

/** 0F 12/13/16/17: MOVLPS MOVHLPS MOVLPD, MOVHPS MOVLHPS MOVHPD. */
function movHalf(o: i32, p: i32): void {
  if (p >= 2) { ud(); return; } // MOVSLDUP, MOVDDUP, MOVSHDUP: SSE3
  const reg = isRegForm();
  if (reg && (p == 1 || (o & 1) != 0)) { ud(); return; }
  sseCheck();
  const r = xmm(dReg());
  const high: usize = o >= 0x16 ? 8 : 0;
  if ((o & 1) != 0) { write64(memLa(), load<i64>(r + high)); return; }
  if (reg) {
    // MOVHLPS: low <- source high; MOVLHPS: high <- source low.
    store<u64>(r + high, load<u64>(xmm(dRm()) + (8 - high)));
    return;
  }
  store<i64>(r + high, read64(memLa()));
}

function fpArithInsn(o: i32, p: i32): void {
  sseCheck();
  const dbl = (p & 1) != 0, scalar = p >= 2;
  if (scalar) { if (dbl) src64(); else src32(); } else src128(true);
  let kind: i32;
  switch (o) {
    case 0x51: kind = OP_SQRT; break;
    case 0x58: kind = OP_ADD; break;
    case 0x59: kind = OP_MUL; break;
    case 0x5c: kind = OP_SUB; break;
    case 0x5d: kind = OP_MIN; break;
    case 0x5e: kind = OP_DIV; break;
    default: kind = OP_MAX;
  }
  copy16(SR, xmm(dReg()));
  fpBegin();
  const lanes = scalar ? 1 : dbl ? 2 : 4;
  for (let i = 0; i < lanes; i++) setLane(SR, i, dbl, fpArith(kind, lane(SR, i, dbl), lane(SB, i, dbl), dbl));
  fpCommit();
  copy16(xmm(dReg()), SR);
}

/** 0F 2A: CVTPI2PS CVTPI2PD CVTSI2SS CVTSI2SD. */
function cvtFromInt(p: i32): void {
  sseCheck();
  const d = xmm(dReg());
  if (p >= 2) {
    const dbl = p == 3;
    const v = (dPfx() & P_REXW) != 0 ? rmRead(8) : <i64><i32>rmRead(4);
    fpBegin();
    const r = fpFromInt(v, dbl);
    fpCommit();
    setLane(d, 0, dbl, r);
    return;
  }
  const mm = isRegForm();
  if (mm) x87Pending();
  srcMm(8);
  const a = <i64>load<i32>(SB), b = <i64>load<i32>(SB, 4);
  fpBegin();
  if (p == 1) set128(SR, fpFromInt(a, true), fpFromInt(b, true));
  else { copy16(SR, d); setLane(SR, 0, false, fpFromInt(a, false)); setLane(SR, 1, false, fpFromInt(b, false)); }
  fpCommit();
  if (mm) mmxEnter();
  copy16(d, SR);
}

/** 0F 2C/2D: CVT(T)PS2PI CVT(T)PD2PI CVT(T)SS2SI CVT(T)SD2SI. */
function cvtToInt(p: i32, trunc: bool): void {
  sseCheck();
  const dbl = (p & 1) != 0;
  if (p >= 2) {
    if (dbl) src64(); else src32();
    const is64 = (dPfx() & P_REXW) != 0;
    fpBegin();
    if (trunc) fpTruncMode();
    const r = fpToInt(lane(SB, 0, dbl), dbl, is64);
    fpCommit();
    setRegN(dReg(), is64 ? 8 : 4, false, r);
    return;
  }
  x87Pending();
  if (dbl) src128(true); else src64();
  fpBegin();
  if (trunc) fpTruncMode();
  const a = fpToInt(lane(SB, 0, dbl), dbl, false), b = fpToInt(lane(SB, 1, dbl), dbl, false);
  fpCommit();
  mmSet(dReg() & 7, <u64>(a & 0xffffffff) | (<u64>b << 32));
  mmxEnter();
}

/** 0F 5A, 5B, E6: conversions between packed formats. */
function cvtPacked(o: i32, p: i32): void {
  // Which form: the half-width sources (m64) are CVTPS2PD, CVTSS2SD, CVTSD2SS, CVTDQ2PD.
  if ((o == 0x5b && p == 3) || (o == 0xe6 && p == 0)) { ud(); return; }
  sseCheck();
  const d = xmm(dReg());
  if (o == 0x5a) {
    if (p == 0) src64(); else if (p == 1) src128(true); else if (p == 2) src32(); else src64();
  } else if (o == 0xe6 && p == 2) src64();
  else src128(true);
  copy16(SR, d);
  fpBegin();
  if (o == 0x5a) {
    switch (p) {
      case 0: set128(SR, fpS2D(lane(SB, 0, false)), fpS2D(lane(SB, 1, false))); break; // CVTPS2PD
      case 1: { // CVTPD2PS
        const a = fpD2S(lane(SB, 0, true)), b = fpD2S(lane(SB, 1, true));
        set128(SR, a | (b << 32), 0);
        break;
      }
      case 2: setLane(SR, 0, true, fpS2D(lane(SB, 0, false))); break; // CVTSS2SD
      default: setLane(SR, 0, false, fpD2S(lane(SB, 0, true))); // CVTSD2SS
    }
  } else if (o == 0x5b) {
    if (p == 0) { // CVTDQ2PS
      for (let i = 0; i < 4; i++) setLane(SR, i, false, fpFromInt(<i64>load<i32>(SB + (<usize>i << 2)), false));
    } else { // CVTPS2DQ, CVTTPS2DQ
      if (p == 2) fpTruncMode();
      for (let i = 0; i < 4; i++) setLane(SR, i, false, <u64>fpToInt(lane(SB, i, false), false, false));
    }
  } else if (p == 2) { // CVTDQ2PD
    set128(SR, fpFromInt(<i64>load<i32>(SB), true), fpFromInt(<i64>load<i32>(SB, 4), true));
  } else { // CVTTPD2DQ (66), CVTPD2DQ (F2)
    if (p == 1) fpTruncMode();
    const a = fpToInt(lane(SB, 0, true), true, false), b = fpToInt(lane(SB, 1, true), true, false);
    set128(SR, <u64>(a & 0xffffffff) | (<u64>b << 32), 0);
  }
  fpCommit();
  copy16(d, SR);
}

// =====================================================================
// Integer SIMD on MMX (no prefix) and XMM (66) registers.
function simdInt(o: i32, p: i32): void {
  switch (o) {
    case 0x6e: { // MOVD/MOVQ mm|xmm, r/m32|64
      if (p >= 2) { ud(); return; }
      const size = (dPfx() & P_REXW) != 0 ? 8 : 4;
      if (p == 1) { sseCheck(); const v = gprOrMem(size); set128(xmm(dReg()), v, 0); return; }
      mmxCheck();
      const v = gprOrMem(size);
      mmSet(dReg() & 7, <u64>v);
      mmxEnter();
      return;
    }
    case 0x7e: { // MOVD/MOVQ r/m32|64, mm|xmm; F3: MOVQ xmm, xmm/m64
      if (p == 3) { ud(); return; }
      if (p == 2) { sseCheck(); src64(); copy16(xmm(dReg()), SB); return; }
      const size = (dPfx() & P_REXW) != 0 ? 8 : 4;
      if (p == 1) { sseCheck(); rmWrite(size, load<i64>(xmm(dReg()))); return; }
      mmxCheck();
      rmWrite(size, <i64>mmGet(dReg() & 7));
      mmxEnter();
      return;
    }
    case 0x6f: { // MOVQ mm, mm/m64; MOVDQA; MOVDQU
      if (p == 3) { ud(); return; }
      if (p >= 1) { sseCheck(); src128(p == 1); copy16(xmm(dReg()), SB); return; }
      mmxCheck();
      srcMm(8);
      mmSet(dReg() & 7, load<u64>(SB));
      mmxEnter();
      return;
    }
    case 0x7f: { // MOVQ mm/m64, mm; MOVDQA; MOVDQU stores
      if (p == 3) { ud(); return; }
      if (p >= 1) {
        sseCheck();
        if (isRegForm()) copy16(xmm(dRm()), xmm(dReg()));
        else store128(memLa(), xmm(dReg()), p == 1);
        return;
      }
      mmxCheck();
      const v = mmGet(dReg() & 7);
      if (isRegForm()) mmSet(dRm() & 7, v); else write64(memLa(), <i64>v);
      mmxEnter();
      return;
    }
    case 0xe7: { // MOVNTQ, MOVNTDQ
      if (p >= 2 || isRegForm()) { ud(); return; }
      if (p == 1) { sseCheck(); store128(memLa(), xmm(dReg()), true); return; }
      mmxCheck();
      write64(memLa(), <i64>mmGet(dReg() & 7));
      mmxEnter();
      return;
    }
    case 0xd6: { // MOVQ xmm/m64, xmm; MOVQ2DQ; MOVDQ2Q
      if (p == 0) { ud(); return; }
      sseCheck();
      if (p == 1) {
        const v = load<u64>(xmm(dReg()));
        if (isRegForm()) set128(xmm(dRm()), v, 0); else write64(memLa(), <i64>v);
        return;
      }
      if (!isRegForm()) { ud(); return; }
      x87Pending();
      if (p == 2) set128(xmm(dReg()), mmGet(dRm() & 7), 0);
      else mmSet(dReg() & 7, load<u64>(xmm(dRm())));
      mmxEnter();
      return;
    }
    case 0xd7: { // PMOVMSKB
      if (p >= 2 || !isRegForm()) { ud(); return; }
      let m: i64;
      if (p == 1) {
        sseCheck();
        const s = xmm(dRm());
        m = byteSigns(load<u64>(s)) | (byteSigns(load<u64>(s, 8)) << 8);
      } else {
        mmxCheck();
        m = byteSigns(mmGet(dRm() & 7));
        mmxEnter();
      }
      setRegN(dReg(), 4, false, m);
      return;
    }
    case 0xc5: { // PEXTRW r32, mm|xmm, imm8
      if (p >= 2 || !isRegForm()) { ud(); return; }
      const i = <i32>dImm();
      let v: i64;
      if (p == 1) { sseCheck(); v = <i64>load<u16>(xmm(dRm()) + (<usize>(i & 7) << 1)); }
      else { mmxCheck(); v = <i64>((mmGet(dRm() & 7) >> (<u64>(i & 3) << 4)) & 0xffff); mmxEnter(); }
      setRegN(dReg(), 4, false, v);
      return;
    }
    case 0xc4: { // PINSRW mm|xmm, r32/m16, imm8
      if (p >= 2) { ud(); return; }
      const i = <i32>dImm();
      if (p == 1) sseCheck(); else mmxCheck();
      const v = isRegForm() ? regN(dRm(), 2, false) : <i64>read16(memLa());
      if (p == 1) { store<u16>(xmm(dReg()) + (<usize>(i & 7) << 1), <u16>v); return; }
      const sh = <u64>(i & 3) << 4;
      const r = dReg() & 7;
      mmSet(r, (mmGet(r) & ~(<u64>0xffff << sh)) | (<u64>(v & 0xffff) << sh));
      mmxEnter();
      return;
    }
    case 0x70: pshuf(p); return;
    case 0x71: case 0x72: case 0x73: shiftImm(o, p); return;
    case 0xf7: maskmov(p); return;
    case 0x7c: case 0x7d: case 0xd0: case 0xf0: unimplemented(CpuFeature.SSE3, 0x100 | o); return; // HADDPx, HSUBPx, ADDSUBPx, LDDQU
    case 0x78: case 0x79: case 0x7a: case 0x7b: case 0xff:
      ud(); return; // VMREAD/VMWRITE (no VMX here), UD0
    default: break;
  }
  if (p >= 2 || (p == 0 && (o == 0x6c || o == 0x6d))) { ud(); return; }
  // Binary operations: SR = SA (destination) op SB (source).
  let n: i32;
  if (p == 1) {
    sseCheck();
    src128(true);
    copy16(SA, xmm(dReg()));
    n = 16;
  } else {
    mmxCheck();
    srcMm(o >= 0x60 && o <= 0x62 ? 4 : 8); // PUNPCKL* mm, mm/m32
    set128(SA, mmGet(dReg() & 7), 0);
    n = 8;
  }
  binaryInt(o, n);
  if (p == 1) copy16(xmm(dReg()), SR);
  else { mmSet(dReg() & 7, load<u64>(SR)); mmxEnter(); }
}

/** Sign bits of the 8 bytes of v, bit i from byte i. */
function byteSigns(v: u64): i64 {
  return <i64>((((v & 0x8080808080808080) >> 7) * 0x0102040810204080) >> 56);
}

function binaryInt(o: i32, n: i32): void {
  switch (o) {
    case 0x60: case 0x61: case 0x62: unpackLanes(n, 1 << (o - 0x60), false); return;
    case 0x68: case 0x69: case 0x6a: unpackLanes(n, 1 << (o - 0x68), true); return;
    case 0x6c: case 0x6d: unpackLanes(n, 8, o == 0x6d); return;
    case 0x63: pack(n, 2, false); return;
    case 0x6b: pack(n, 4, false); return;
    case 0x67: pack(n, 2, true); return;
    case 0xd1: case 0xd2: case 0xd3: shiftLanes(0, 1 << (o - 0xd0), load<u64>(SB), n); return;
    case 0xe1: case 0xe2: shiftLanes(1, 1 << (o - 0xe0), load<u64>(SB), n); return;
    case 0xf1: case 0xf2: case 0xf3: shiftLanes(2, 1 << (o - 0xf0), load<u64>(SB), n); return;
    case 0xf4: // PMULUDQ
      for (let i: usize = 0; i < <usize>n; i += 8) store<u64>(SR + i, <u64>load<u32>(SA + i) * <u64>load<u32>(SB + i));
      return;
    case 0xf5: // PMADDWD
      for (let i: usize = 0; i < <usize>n; i += 4) {
        const v = <i32>load<i16>(SA + i) * <i32>load<i16>(SB + i) + <i32>load<i16>(SA + i + 2) * <i32>load<i16>(SB + i + 2);
        store<i32>(SR + i, v);
      }
      return;
    case 0xf6: // PSADBW
      for (let i: usize = 0; i < <usize>n; i += 8) {
        let s: u64 = 0;
        for (let k: usize = 0; k < 8; k++) {
          const d = <i32>load<u8>(SA + i + k) - <i32>load<u8>(SB + i + k);
          s += <u64>(d < 0 ? -d : d);
        }
        store<u64>(SR + i, s);
      }
      return;
    default: break;
  }
  // Element-wise operations, with word-parallel versions of the ones string functions use.
  for (let i: usize = 0; i < <usize>n; i += 8) {
    const a = load<u64>(SA + i), b = load<u64>(SB + i);
    let r: u64;
    switch (o) {
      case 0xdb: r = a & b; break;
      case 0xdf: r = ~a & b; break;
      case 0xeb: r = a | b; break;
      case 0xef: r = a ^ b; break;
      case 0xd4: r = a + b; break;
      case 0xfb: r = a - b; break;
      case 0x74: { // PCMPEQB: a byte of x is zero iff its high bit stays clear below
        const x = a ^ b;
        const t = ((x & 0x7f7f7f7f7f7f7f7f) + 0x7f7f7f7f7f7f7f7f) | x;
        r = ((~t & 0x8080808080808080) >> 7) * 0xff;
        break;
      }
      case 0xfc: r = ((a & 0x7f7f7f7f7f7f7f7f) + (b & 0x7f7f7f7f7f7f7f7f)) ^ ((a ^ b) & 0x8080808080808080); break;
      case 0xf8: r = ((a | 0x8080808080808080) - (b & 0x7f7f7f7f7f7f7f7f)) ^ ((a ^ ~b) & 0x8080808080808080); break;
      default: laneLoop(o, i); continue;
    }
    store<u64>(SR + i, r);
  }
}

/** Element size of an element-wise opcode. */
function elemSize(o: i32): i32 {
  switch (o) {
    case 0x64: case 0x74: case 0xd8: case 0xda: case 0xdc: case 0xde: case 0xe0: case 0xe8: case 0xec: return 1;
    case 0x66: case 0x76: case 0xfa: case 0xfe: return 4;
    default: return 2;
  }
}

/** One 8-byte chunk of an element-wise operation, lane by lane. */
function laneLoop(o: i32, at: usize): void {
  const sz = elemSize(o);
  const bits = sz << 3;
  const mask: i64 = (<i64>1 << bits) - 1;
  for (let i = at; i < at + 8; i += <usize>sz) {
    const a = loadS(SA + i, sz), b = loadS(SB + i, sz);
    const ua = a & mask, ub = b & mask;
    let r: i64;
    switch (o) {
      case 0x74: case 0x75: case 0x76: r = a == b ? -1 : 0; break;
      case 0x64: case 0x65: case 0x66: r = a > b ? -1 : 0; break;
      case 0xfc: case 0xfd: case 0xfe: r = a + b; break;
      case 0xf8: case 0xf9: case 0xfa: r = a - b; break;
      case 0xec: case 0xed: r = satS(a + b, bits); break;
      case 0xe8: case 0xe9: r = satS(a - b, bits); break;
      case 0xdc: case 0xdd: r = satU(ua + ub, bits); break;
      case 0xd8: case 0xd9: r = satU(ua - ub, bits); break;
      case 0xd5: r = a * b; break;
      case 0xe5: r = (a * b) >> 16; break;
      case 0xe4: r = (ua * ub) >> 16; break;
      case 0xda: r = ua < ub ? ua : ub; break;
      case 0xde: r = ua > ub ? ua : ub; break;
      case 0xea: r = a < b ? a : b; break;
      case 0xee: r = a > b ? a : b; break;
      case 0xe0: case 0xe3: r = (ua + ub + 1) >> 1; break;
      default: ud(); return;
    }
    storeN(SR + i, sz, r);
  }
}

/** PUNPCKL/H* and UNPCKL/H PS/PD: interleave elements of SA and SB from the low or high half. */
function unpackLanes(n: i32, sz: i32, high: bool): void {
  const half = <usize>(n >> 1);
  const base: usize = high ? half : 0;
  for (let i: usize = 0, j: usize = 0; i < half; i += <usize>sz, j += <usize>(sz << 1)) {
    storeN(SR + j, sz, loadS(SA + base + i, sz));
    storeN(SR + j + <usize>sz, sz, loadS(SB + base + i, sz));
  }
}

/** PACKSSWB PACKSSDW PACKUSWB: elements of sz bytes narrowed to sz/2 with saturation, SA then SB. */
function pack(n: i32, sz: i32, unsigned: bool): void {
  const cnt = n / sz;
  const osz = sz >> 1;
  for (let i = 0; i < cnt; i++) {
    for (let k = 0; k < 2; k++) {
      const v = loadS((k == 0 ? SA : SB) + <usize>(i * sz), sz);
      const r = unsigned ? satU(v, osz << 3) : satS(v, osz << 3);
      storeN(SR + <usize>((k * cnt + i) * osz), osz, r);
    }
  }
}

/** kind 0 PSRL, 1 PSRA, 2 PSLL of SA's elements by count into SR. */
function shiftLanes(kind: i32, sz: i32, count: u64, n: i32): void {
  const bits = sz << 3;
  const mask: i64 = sz == 8 ? -1 : (<i64>1 << bits) - 1;
  for (let i: usize = 0; i < <usize>n; i += <usize>sz) {
    const v = loadS(SA + i, sz);
    let r: i64;
    if (count >= <u64>bits) r = kind == 1 ? v >> <i64>(bits - 1) : 0;
    else if (kind == 0) r = (v & mask) >>> <i64>count;
    else if (kind == 1) r = v >> <i64>count;
    else r = v << <i64>count;
    storeN(SR + i, sz, r);
  }
}

/** 0F 71/72/73: shifts by imm8 (register operand in r/m), PSRLDQ/PSLLDQ. */
function shiftImm(o: i32, p: i32): void {
  const k = dReg() & 7;
  if (!isRegForm() || p >= 2) { ud(); return; }
  const count = <u64>(dImm() & 0xff);
  let kind = -1;
  if (k == 2) kind = 0;
  else if (k == 4 && o != 0x73) kind = 1;
  else if (k == 6) kind = 2;
  else if ((k == 3 || k == 7) && o == 0x73 && p == 1) kind = k == 3 ? 3 : 4;
  if (kind < 0) { ud(); return; }
  if (p == 1) {
    sseCheck();
    const d = xmm(dRm());
    copy16(SA, d);
    if (kind >= 3) {
      const c = count > 16 ? 16 : <i32>count;
      memory.fill(SR, 0, 16);
      if (kind == 3) memory.copy(SR, SA + <usize>c, <usize>(16 - c)); // PSRLDQ
      else memory.copy(SR + <usize>c, SA, <usize>(16 - c));            // PSLLDQ
    } else shiftLanes(kind, o == 0x71 ? 2 : o == 0x72 ? 4 : 8, count, 16);
    copy16(d, SR);
    return;
  }
  mmxCheck();
  const r = dRm() & 7;
  set128(SA, mmGet(r), 0);
  shiftLanes(kind, o == 0x71 ? 2 : o == 0x72 ? 4 : 8, count, 8);
  mmSet(r, load<u64>(SR));
  mmxEnter();
}

/** 0F 70: PSHUFW (MMX), PSHUFD (66), PSHUFHW (F3), PSHUFLW (F2). */
function pshuf(p: i32): void {
  const imm = <i32>dImm();
  if (p == 0) {
    mmxCheck();
    srcMm(8);
    const s = load<u64>(SB);
    let r: u64 = 0;
    for (let i = 0; i < 4; i++) r |= ((s >> (<u64>((imm >> (i << 1)) & 3) << 4)) & 0xffff) << (<u64>i << 4);
    mmSet(dReg() & 7, r);
    mmxEnter();
    return;
  }
  sseCheck();
  src128(true);
  copy16(SR, SB);
  if (p == 1) {
    for (let i = 0; i < 4; i++) store<u32>(SR + (<usize>i << 2), load<u32>(SB + (<usize>((imm >> (i << 1)) & 3) << 2)));
  } else {
    const base: usize = p == 2 ? 8 : 0; // F3 shuffles the high words, F2 the low ones
    for (let i = 0; i < 4; i++) {
      store<u16>(SR + base + (<usize>i << 1), load<u16>(SB + base + (<usize>((imm >> (i << 1)) & 3) << 1)));
    }
  }
  copy16(xmm(dReg()), SR);
}

/** MASKMOVQ / MASKMOVDQU: store the bytes whose mask byte has its top bit set, at DS:rDI. */
function maskmov(p: i32): void {
  if (p >= 2 || !isRegForm()) { ud(); return; }
  let n: i32;
  if (p == 1) { sseCheck(); copy16(SA, xmm(dReg())); copy16(SB, xmm(dRm())); n = 16; }
  else { mmxCheck(); set128(SA, mmGet(dReg() & 7), 0); set128(SB, mmGet(dRm() & 7), 0); n = 8; }
  const as = dAsize();
  let off = reg64(7);
  if (as == 4) off &= 0xffffffff; else if (as == 2) off &= 0xffff;
  const seg = dSegOverride() != R_NONE ? <i32>dSegOverride() : SEG_DS;
  const la = segLinear(seg, off);
  const any = (load<u64>(SB) | load<u64>(SB, 8)) & 0x8080808080808080;
  if (any != 0) {
    probeRange(la, n);
    for (let i = 0; i < n; i++) {
      if ((load<u8>(SB + <usize>i) & 0x80) != 0) write8(la + i, load<u8>(SA + <usize>i));
    }
  }
  if (p == 0) mmxEnter();
}
