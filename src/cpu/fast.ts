// Fast forms: the common instructions decode.ts marks with a FAST_* id, run
// inline by the run loop's fast path. Same semantics as exec.ts, each form
// specialized by operation and size (the helpers below take them as
// constants, so every case compiles to straight-line code), with operand
// addresses and TLB hits computed in line and the slow paths out of line.
import {
  D_IMM, D_FA, D_FB, D_FK, D_DISP, D_BASE, D_INDEX, D_SCALE, D_ASIZE, D_SEG, D_OSIZE, D_FLAT, R_RIP,
  FAST_MOV_RR32, FAST_MOV_RR64, FAST_LOAD32, FAST_LOAD64, FAST_STORE32, FAST_STORE64, FAST_MOV_RI,
  FAST_STORE_IMM32, FAST_STORE_IMM64, FAST_LEA32, FAST_LEA64, FAST_MOVSXD, FAST_MOVSXD_M, FAST_MOVZX8,
  FAST_MOVZX8_R, FAST_MOVZX16, FAST_STORE8, FAST_STORE8_IMM, FAST_STORE16, FAST_NOP, FAST_PUSH, FAST_POP,
  FAST_CALL, FAST_RET, FAST_JMP, FAST_CALL_IND, FAST_JMP_IND, FAST_TEST_RR32, FAST_TEST_RR64,
  FAST_TEST_RI32, FAST_TEST_RI64, FAST_INC32, FAST_INC64, FAST_DEC32, FAST_DEC64, FAST_NOT32, FAST_NOT64,
  FAST_IMUL_RRI, FAST_IMUL_RR, FAST_ALU_RM, FAST_ALU_MR, FAST_ALU_MI, FAST_TEST8_RR, FAST_TEST8_RI,
  FAST_TEST8_MI, FAST_CMP8_RI, FAST_CMP8_MI, FAST_CMP8_RM, FAST_ALU8_RR,
} from './decode';
import { reg64, setReg64, mode64, segBase, linearMask, STATE, O_GPR, F_CF, F_OF, setBlockEnd } from './state';
import { read8, read16, read32, read64, write8, write16, write32, write64, readForWrite } from './mem';
import { tlbSet, tlbIndex, T_READ, T_WRITE, T_HOST, segmentAccess, stackAccess } from './paging';
import { alu, imulTrunc } from './alu';
import {
  condition, setLazyExtended, setLazyAux, setFlagBits, getCF, sizeMask, LF_ADD, LF_SUB, LF_LOGIC, LF_INC, LF_DEC,
  LF_SHL, LF_SHR, LF_SAR,
} from './flags';
import { gp } from './fault';

// ---- operands ----

/** Effective address (offset) of the record's memory operand; a missing base or index is R_ZERO. */
// @ts-ignore: decorator
@inline function fastEa(rec: usize, next: i64): i64 {
  const base = <i32>load<u8>(rec + D_BASE);
  let a = <i64>load<i32>(rec + D_DISP) + (base == R_RIP ? next : reg64(base)) +
    (reg64(load<u8>(rec + D_INDEX)) << <i64>load<u8>(rec + D_SCALE));
  const as = load<u8>(rec + D_ASIZE);
  if (as != 8) a &= as == 4 ? 0xffffffff : 0xffff;
  return a;
}

/** Linear address of the record's memory operand (operand.ts memLa, inlined). */
// @ts-ignore: decorator
@inline function fastLa(rec: usize, next: i64): i64 {
  if (load<u8>(rec + D_FLAT) != 0) {
    const base = <i32>load<u8>(rec + D_BASE);
    return <i64>load<i32>(rec + D_DISP) + (base == R_RIP ? next : reg64(base)) +
      (reg64(load<u8>(rec + D_INDEX)) << <i64>load<u8>(rec + D_SCALE));
  }
  const ea = fastEa(rec, next);
  const seg = <i32>load<u8>(rec + D_SEG);
  if (mode64) return seg >= 4 ? segBase(seg) + ea : ea;
  return (segBase(seg) + ea) & linearMask;
}

/**
 * Host address for an access of `size` bytes at `la` if the TLB grants it,
 * else 0. The tag is that of the access's last byte, so an access crossing
 * into the next page misses.
 */
// @ts-ignore: decorator
@inline function tlbHost(la: i64, size: i32, kind: usize): usize {
  const i = tlbIndex(la);
  const set = tlbSet;
  if (load<i64>(set + kind + (i << 3)) != (((la + <i64>(size - 1)) & ~0xfff) | 1)) return 0;
  return <usize>load<u32>(set + T_HOST + (i << 2)) + (<usize>la & 0xfff);
}

// The slow paths: TLB misses, page crossings, MMIO, code pages. `seg` says
// whether the access goes through SS (a non-canonical address raises #SS).
function readMiss(la: i64, size: i32, seg: i32): i64 {
  segmentAccess(seg);
  if (size == 8) return read64(la);
  if (size == 4) return <i64><u32>read32(la);
  if (size == 2) return <i64>read16(la);
  return <i64>read8(la);
}
function writeMiss(la: i64, size: i32, v: i64, seg: i32): void {
  segmentAccess(seg);
  if (size == 8) write64(la, v);
  else if (size == 4) write32(la, <i32>v);
  else if (size == 2) write16(la, <i32>v);
  else write8(la, <i32>v);
}
function readForWriteMiss(la: i64, size: i32, seg: i32): i64 {
  segmentAccess(seg);
  return readForWrite(la, size);
}

/** Read `size` bytes (zero-extended) at `la` through segment `seg`. */
// @ts-ignore: decorator
@inline function readAt(la: i64, size: i32, seg: i32): i64 {
  const h = tlbHost(la, size, T_READ);
  if (h == 0) return readMiss(la, size, seg);
  if (size == 8) return load<i64>(h);
  if (size == 4) return <i64>load<u32>(h);
  if (size == 2) return <i64>load<u16>(h);
  return <i64>load<u8>(h);
}
// @ts-ignore: decorator
@inline function writeAt(la: i64, size: i32, v: i64, seg: i32): void {
  const h = tlbHost(la, size, T_WRITE);
  if (h == 0) { writeMiss(la, size, v, seg); return; }
  if (size == 8) store<i64>(h, v);
  else if (size == 4) store<u32>(h, <u32>v);
  else if (size == 2) store<u16>(h, <u16>v);
  else store<u8>(h, <u8>v);
}
/** The memory operand of a read-modify-write: checked as a write, as on hardware. */
// @ts-ignore: decorator
@inline function readForWriteAt(la: i64, size: i32, seg: i32): i64 {
  const h = tlbHost(la, size, T_WRITE);
  if (h == 0) return readForWriteMiss(la, size, seg);
  if (size == 8) return load<i64>(h);
  if (size == 4) return <i64>load<u32>(h);
  if (size == 2) return <i64>load<u16>(h);
  return <i64>load<u8>(h);
}

// @ts-ignore: decorator
@inline function memRead(rec: usize, next: i64, size: i32): i64 {
  return readAt(fastLa(rec, next), size, <i32>load<u8>(rec + D_SEG));
}
// @ts-ignore: decorator
@inline function memWrite(rec: usize, next: i64, size: i32, v: i64): void {
  writeAt(fastLa(rec, next), size, v, <i32>load<u8>(rec + D_SEG));
}

// @ts-ignore: decorator
@inline function fa(rec: usize): i32 { return <i32>load<u8>(rec + D_FA); }
// @ts-ignore: decorator
@inline function fb(rec: usize): i32 { return <i32>load<u8>(rec + D_FB); }
// @ts-ignore: decorator
@inline function imm(rec: usize): i64 { return load<i64>(rec + D_IMM); }
/** Register `r` read at `size` (4: zero-extended low half). */
// @ts-ignore: decorator
@inline function getR(r: i32, size: i32): i64 { return size == 8 ? reg64(r) : <i64>load<u32>(STATE + O_GPR + (<usize>r << 3)); }
/** Register `r` written at `size` (4: zero-extended, as 32-bit writes are). */
// @ts-ignore: decorator
@inline function setR(r: i32, size: i32, v: i64): void { setReg64(r, size == 8 ? v : v & 0xffffffff); }
/** Byte register at byte offset `off` of the register file (decode.ts byteReg). */
// @ts-ignore: decorator
@inline function getB(off: i32): i64 { return <i64>load<u8>(STATE + O_GPR + <usize>off); }
// @ts-ignore: decorator
@inline function setB(off: i32, v: i64): void { store<u8>(STATE + O_GPR + <usize>off, <u8>v); }

/** `v` sign-extended from `size` bytes (constant size: one instruction or none). */
// @ts-ignore: decorator
@inline function sx(v: i64, size: i32): i64 {
  return size == 8 ? v : size == 4 ? <i64><i32>v : size == 2 ? <i64><i16>v : <i64><i8>v;
}

// ---- arithmetic with lazy flags ----

/** ALU `kind` (constant) at `size` on zero-extended operands; returns the zero-extended result. */
// @ts-ignore: decorator
@inline function aluOp(kind: i32, size: i32, a: i64, b: i64): i64 {
  if (kind == 2 || kind == 3) return alu(kind, size, a, b); // ADC, SBB: carry in
  let r: i64, op: i32;
  if (kind == 0) { r = a + b; op = LF_ADD; }
  else if (kind == 1) { r = a | b; op = LF_LOGIC; }
  else if (kind == 4) { r = a & b; op = LF_LOGIC; }
  else if (kind == 6) { r = a ^ b; op = LF_LOGIC; }
  else { r = a - b; op = LF_SUB; }  // SUB, CMP
  setLazyExtended(op, size, sx(r, size), sx(a, size), sx(b, size));
  return r & sizeMask(size);
}

// @ts-ignore: decorator
@inline function aluRR(rec: usize, kind: i32, size: i32): void {
  const d = fa(rec);
  const r = aluOp(kind, size, getR(d, size), getR(fb(rec), size));
  if (kind != 7) setR(d, size, r);
}
// @ts-ignore: decorator
@inline function aluRI(rec: usize, kind: i32, size: i32): void {
  const d = fa(rec);
  const r = aluOp(kind, size, getR(d, size), imm(rec));
  if (kind != 7) setR(d, size, r);
}
// @ts-ignore: decorator
@inline function testOp(size: i32, a: i64, b: i64): void {
  const r = a & b;
  setLazyExtended(LF_LOGIC, size, sx(r, size), sx(a, size), sx(b, size));
}
/** INC/DEC keep CF: it goes to lfAux (INC/DEC flags read it from there). */
// @ts-ignore: decorator
@inline function incDec(rec: usize, size: i32, dec: bool): void {
  const d = fa(rec);
  const a = getR(d, size);
  const r = (dec ? a - 1 : a + 1) & sizeMask(size);
  setLazyAux(dec ? LF_DEC : LF_INC, size, r, a, 1, getCF() ? 1 : 0);
  setR(d, size, r);
}

/** SHL (k 0), SHR (1), SAR (2) of register FA by `countIn`: flags as alu.ts shift, none for a zero count. */
// @ts-ignore: decorator
@inline function shiftOp(rec: usize, k: i32, size: i32, countIn: i32): void {
  const d = fa(rec);
  const a = getR(d, size);
  const bits = size << 3;
  const count = countIn & (size == 8 ? 63 : 31);
  if (count == 0) { setR(d, size, a); return; }
  let r: i64, cf: i32;
  if (k == 0) {
    r = (a << <i64>count) & sizeMask(size);
    cf = <i32>((a >>> <i64>(bits - count)) & 1);
    setLazyAux(LF_SHL, size, r, a, count, cf);
  } else if (k == 1) {
    r = a >>> <i64>count;
    cf = <i32>((a >>> <i64>(count - 1)) & 1);
    setLazyAux(LF_SHR, size, r, a, count, cf);
  } else {
    const sa = sx(a, size);
    r = (sa >> <i64>count) & sizeMask(size);
    cf = <i32>((sa >> <i64>(count - 1)) & 1);
    setLazyAux(LF_SAR, size, r, a, count, cf);
  }
  setR(d, size, r);
}

/** ROL (k 0), ROR (1) of register FA: CF and OF change, the other flags stay. */
// @ts-ignore: decorator
@inline function rotateOp(rec: usize, k: i32, size: i32, flags: bool): void {
  const d = fa(rec);
  const a = getR(d, size);
  const bits = size << 3;
  const count = <i32>imm(rec) & (size == 8 ? 63 : 31);
  if (count == 0) { setR(d, size, a); return; }
  const c = <i64>(count & (bits - 1));
  const m = sizeMask(size);
  const s = <i64>(bits - 1);
  let r: i64, cf: i32, ovf: i32;
  if (k == 0) {
    r = ((a << c) | (a >>> (<i64>bits - c))) & m;
    cf = <i32>(r & 1);
    ovf = <i32>((r >>> s) & 1) ^ cf;
  } else {
    r = ((a >>> c) | (a << (<i64>bits - c))) & m;
    cf = <i32>((r >>> s) & 1);
    ovf = cf ^ <i32>((r >>> (s - 1)) & 1);
  }
  if (flags) setFlagBits(F_CF | F_OF, cf | (ovf << 11));
  setR(d, size, r);
}

// ---- branches ----

/** A near branch target: wrapped outside 64-bit mode, #GP at the branch if not canonical. */
// @ts-ignore: decorator
@inline function branchTarget(t: i64): i64 {
  if (!mode64) return t & 0xffffffff;
  if (((t << 16) >> 16) != t) gp(0);
  return t;
}
/** Condition pair `family` (constant), negated by FK bit 0. */
// @ts-ignore: decorator
@inline function cc(rec: usize, family: i32): bool {
  const t = condition(family << 1);
  return (load<u8>(rec + D_FK) & 1) != 0 ? !t : t;
}
// @ts-ignore: decorator
@inline function jcc(rec: usize, next: i64, family: i32): i64 {
  if (!cc(rec, family)) return next;
  setBlockEnd(0); // taken: leave the block (run.ts)
  return branchTarget(next + imm(rec));
}
// @ts-ignore: decorator
@inline function cmov(rec: usize, family: i32): void {
  // A 32-bit CMOV zero-extends its destination even when the condition is false.
  const size = <i32>load<u8>(rec + D_OSIZE);
  const d = fa(rec);
  const v = cc(rec, family) ? reg64(fb(rec)) : reg64(d);
  setReg64(d, size == 8 ? v : v & 0xffffffff);
}
// @ts-ignore: decorator
@inline function setcc(rec: usize, family: i32): void { setB(fa(rec), cc(rec, family) ? 1 : 0); }

// ---- stack (64-bit mode) ----
// @ts-ignore: decorator
@inline function push64(v: i64): void {
  const sp = reg64(4) - 8;
  const h = tlbHost(sp, 8, T_WRITE);
  if (h != 0) store<i64>(h, v);
  else { stackAccess(); write64(sp, v); }
  setReg64(4, sp);
}
// @ts-ignore: decorator
@inline function pop64(): i64 {
  const sp = reg64(4);
  const h = tlbHost(sp, 8, T_READ);
  const v = h != 0 ? load<i64>(h) : popMiss(sp);
  setReg64(4, sp + 8);
  return v;
}
function popMiss(sp: i64): i64 { stackAccess(); return read64(sp); }

/**
 * Execute a FAST_* form (see decode.ts classifyFast) and return the next RIP.
 */
export function execFast(f: i32, rec: usize, next: i64): i64 {
  switch (f) {
    case FAST_MOV_RR32: setReg64(fa(rec), getR(fb(rec), 4)); return next;
    case FAST_MOV_RR64: setReg64(fa(rec), reg64(fb(rec))); return next;
    case FAST_LOAD32: setReg64(fa(rec), memRead(rec, next, 4)); return next;
    case FAST_LOAD64: setReg64(fa(rec), memRead(rec, next, 8)); return next;
    case FAST_STORE32: memWrite(rec, next, 4, reg64(fb(rec))); return next;
    case FAST_STORE64: memWrite(rec, next, 8, reg64(fb(rec))); return next;
    case FAST_MOV_RI: setReg64(fa(rec), imm(rec)); return next;
    case FAST_STORE_IMM32: memWrite(rec, next, 4, imm(rec)); return next;
    case FAST_STORE_IMM64: memWrite(rec, next, 8, imm(rec)); return next;
    case FAST_LEA32: setReg64(fa(rec), fastEa(rec, next) & 0xffffffff); return next;
    case FAST_LEA64: setReg64(fa(rec), fastEa(rec, next)); return next;
    case FAST_MOVSXD: setReg64(fa(rec), <i64><i32>reg64(fb(rec))); return next;
    case FAST_MOVSXD_M: setReg64(fa(rec), <i64><i32>memRead(rec, next, 4)); return next;
    case FAST_MOVZX8: setReg64(fa(rec), memRead(rec, next, 1)); return next;
    case FAST_MOVZX8_R: setReg64(fa(rec), getB(fb(rec))); return next;
    case FAST_MOVZX16: setReg64(fa(rec), memRead(rec, next, 2)); return next;
    case FAST_STORE8: memWrite(rec, next, 1, getB(fb(rec))); return next;
    case FAST_STORE8_IMM: memWrite(rec, next, 1, imm(rec)); return next;
    case FAST_STORE16: memWrite(rec, next, 2, reg64(fb(rec))); return next;
    case FAST_NOP: return next;
    case FAST_PUSH: push64(reg64(fb(rec))); return next;
    case FAST_POP: { const v = pop64(); setReg64(fa(rec), v); return next; }
    case FAST_CALL: { const t = branchTarget(next + imm(rec)); push64(next); return t; }
    case FAST_RET: {
      const sp = reg64(4);
      const h = tlbHost(sp, 8, T_READ);
      const t = branchTarget(h != 0 ? load<i64>(h) : popMiss(sp));
      setReg64(4, sp + 8);
      return t;
    }
    case FAST_JMP: return branchTarget(next + imm(rec));
    case FAST_CALL_IND: {
      const t = branchTarget(load<u8>(rec + D_FK) != 0 ? reg64(fb(rec)) : memRead(rec, next, 8));
      push64(next);
      return t;
    }
    case FAST_JMP_IND: return branchTarget(load<u8>(rec + D_FK) != 0 ? reg64(fb(rec)) : memRead(rec, next, 8));
    case 28: return jcc(rec, next, 0);
    case 29: return jcc(rec, next, 1);
    case 30: return jcc(rec, next, 2);
    case 31: return jcc(rec, next, 3);
    case 32: return jcc(rec, next, 4);
    case 33: return jcc(rec, next, 5);
    case 34: return jcc(rec, next, 6);
    case 35: return jcc(rec, next, 7);
    case 36: cmov(rec, 0); return next;
    case 37: cmov(rec, 1); return next;
    case 38: cmov(rec, 2); return next;
    case 39: cmov(rec, 3); return next;
    case 40: cmov(rec, 4); return next;
    case 41: cmov(rec, 5); return next;
    case 42: cmov(rec, 6); return next;
    case 43: cmov(rec, 7); return next;
    case 44: setcc(rec, 0); return next;
    case 45: setcc(rec, 1); return next;
    case 46: setcc(rec, 2); return next;
    case 47: setcc(rec, 3); return next;
    case 48: setcc(rec, 4); return next;
    case 49: setcc(rec, 5); return next;
    case 50: setcc(rec, 6); return next;
    case 51: setcc(rec, 7); return next;
    // FAST_ALU_RR + kind * 2 + (size == 8)
    case 52: aluRR(rec, 0, 4); return next;
    case 53: aluRR(rec, 0, 8); return next;
    case 54: aluRR(rec, 1, 4); return next;
    case 55: aluRR(rec, 1, 8); return next;
    case 56: aluRR(rec, 2, 4); return next;
    case 57: aluRR(rec, 2, 8); return next;
    case 58: aluRR(rec, 3, 4); return next;
    case 59: aluRR(rec, 3, 8); return next;
    case 60: aluRR(rec, 4, 4); return next;
    case 61: aluRR(rec, 4, 8); return next;
    case 62: aluRR(rec, 5, 4); return next;
    case 63: aluRR(rec, 5, 8); return next;
    case 64: aluRR(rec, 6, 4); return next;
    case 65: aluRR(rec, 6, 8); return next;
    case 66: aluRR(rec, 7, 4); return next;
    case 67: aluRR(rec, 7, 8); return next;
    // FAST_ALU_RI + kind * 2 + (size == 8)
    case 68: aluRI(rec, 0, 4); return next;
    case 69: aluRI(rec, 0, 8); return next;
    case 70: aluRI(rec, 1, 4); return next;
    case 71: aluRI(rec, 1, 8); return next;
    case 72: aluRI(rec, 2, 4); return next;
    case 73: aluRI(rec, 2, 8); return next;
    case 74: aluRI(rec, 3, 4); return next;
    case 75: aluRI(rec, 3, 8); return next;
    case 76: aluRI(rec, 4, 4); return next;
    case 77: aluRI(rec, 4, 8); return next;
    case 78: aluRI(rec, 5, 4); return next;
    case 79: aluRI(rec, 5, 8); return next;
    case 80: aluRI(rec, 6, 4); return next;
    case 81: aluRI(rec, 6, 8); return next;
    case 82: aluRI(rec, 7, 4); return next;
    case 83: aluRI(rec, 7, 8); return next;
    case FAST_TEST_RR32: testOp(4, getR(fa(rec), 4), getR(fb(rec), 4)); return next;
    case FAST_TEST_RR64: testOp(8, reg64(fa(rec)), reg64(fb(rec))); return next;
    case FAST_TEST_RI32: testOp(4, getR(fa(rec), 4), imm(rec)); return next;
    case FAST_TEST_RI64: testOp(8, reg64(fa(rec)), imm(rec)); return next;
    case FAST_INC32: incDec(rec, 4, false); return next;
    case FAST_INC64: incDec(rec, 8, false); return next;
    case FAST_DEC32: incDec(rec, 4, true); return next;
    case FAST_DEC64: incDec(rec, 8, true); return next;
    // FAST_SHIFT + {SHL 0, SHR 2, SAR 4} + (by CL ? 6 : 0) + (size == 8)
    case 92: shiftOp(rec, 0, 4, <i32>imm(rec)); return next;
    case 93: shiftOp(rec, 0, 8, <i32>imm(rec)); return next;
    case 94: shiftOp(rec, 1, 4, <i32>imm(rec)); return next;
    case 95: shiftOp(rec, 1, 8, <i32>imm(rec)); return next;
    case 96: shiftOp(rec, 2, 4, <i32>imm(rec)); return next;
    case 97: shiftOp(rec, 2, 8, <i32>imm(rec)); return next;
    case 98: shiftOp(rec, 0, 4, <i32>load<u8>(STATE + O_GPR + 8)); return next;
    case 99: shiftOp(rec, 0, 8, <i32>load<u8>(STATE + O_GPR + 8)); return next;
    case 100: shiftOp(rec, 1, 4, <i32>load<u8>(STATE + O_GPR + 8)); return next;
    case 101: shiftOp(rec, 1, 8, <i32>load<u8>(STATE + O_GPR + 8)); return next;
    case 102: shiftOp(rec, 2, 4, <i32>load<u8>(STATE + O_GPR + 8)); return next;
    case 103: shiftOp(rec, 2, 8, <i32>load<u8>(STATE + O_GPR + 8)); return next;
    // FAST_ROT + {ROL 0, ROR 2} + (size == 8)
    case 104: rotateOp(rec, 0, 4, true); return next;
    case 105: rotateOp(rec, 0, 8, true); return next;
    case 106: rotateOp(rec, 1, 4, true); return next;
    case 107: rotateOp(rec, 1, 8, true); return next;
    // FAST_ROT_NF: the same without flags
    case 122: rotateOp(rec, 0, 4, false); return next;
    case 123: rotateOp(rec, 0, 8, false); return next;
    case 124: rotateOp(rec, 1, 4, false); return next;
    case 125: rotateOp(rec, 1, 8, false); return next;
    case FAST_NOT32: { const d = fa(rec); setReg64(d, ~reg64(d) & 0xffffffff); return next; }
    case FAST_NOT64: { const d = fa(rec); setReg64(d, ~reg64(d)); return next; }
    case FAST_IMUL_RRI: {
      const size = <i32>load<u8>(rec + D_OSIZE);
      setR(fa(rec), size, imulTrunc(size, reg64(fb(rec)), imm(rec)));
      return next;
    }
    case FAST_IMUL_RR: {
      const size = <i32>load<u8>(rec + D_OSIZE);
      const d = fa(rec);
      setR(d, size, imulTrunc(size, reg64(d), reg64(fb(rec))));
      return next;
    }
    case FAST_ALU_RM: {
      const size = <i32>load<u8>(rec + D_OSIZE);
      const k = <i32>load<u8>(rec + D_FK);
      const d = fa(rec);
      const m = size == 8 ? memRead(rec, next, 8) : memRead(rec, next, 4);
      const v = alu(k, size, getR(d, size == 8 ? 8 : 4), m);
      if (k != 7) setR(d, size, v);
      return next;
    }
    case FAST_ALU_MR: case FAST_ALU_MI: {
      const size = <i32>load<u8>(rec + D_OSIZE);
      const k = <i32>load<u8>(rec + D_FK);
      const la = fastLa(rec, next);
      const seg = <i32>load<u8>(rec + D_SEG);
      const b = f == FAST_ALU_MR ? (size == 8 ? reg64(fb(rec)) : getR(fb(rec), 4)) : imm(rec);
      if (k == 7) {
        alu(7, size, size == 8 ? readAt(la, 8, seg) : readAt(la, 4, seg), b);
        return next;
      }
      if (size == 8) writeAt(la, 8, alu(k, 8, readForWriteAt(la, 8, seg), b), seg);
      else writeAt(la, 4, alu(k, 4, readForWriteAt(la, 4, seg), b), seg);
      return next;
    }
    case FAST_TEST8_RR: testOp(1, getB(fa(rec)), getB(fb(rec))); return next;
    case FAST_TEST8_RI: testOp(1, getB(fa(rec)), imm(rec)); return next;
    case FAST_TEST8_MI: testOp(1, memRead(rec, next, 1), imm(rec)); return next;
    case FAST_CMP8_RI: aluOp(7, 1, getB(fa(rec)), imm(rec)); return next;
    case FAST_CMP8_MI: aluOp(7, 1, memRead(rec, next, 1), imm(rec)); return next;
    case FAST_CMP8_RM: aluOp(7, 1, getB(fa(rec)), memRead(rec, next, 1)); return next;
    case FAST_ALU8_RR: {
      const k = <i32>load<u8>(rec + D_FK);
      const d = fa(rec);
      const v = alu(k, 1, getB(d), getB(fb(rec)));
      if (k != 7) setB(d, v);
      return next;
    }
    default: unreachable(); return next; // decode.ts makes no other id
  }
}
