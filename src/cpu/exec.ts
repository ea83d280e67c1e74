// The executor: one switch over the opcode of the decoded record. General-
// purpose instructions are here; system instructions, segment and interrupt
// handling, string instructions, x87 and SSE live in their own files.
import { unimplemented, MAP_VEX } from './unimplemented';
import { CpuFeature } from '../backend/abi';
import {
  dOp, dPfx, dOsize, dAsize, dReg, dRm, dImm, dImm2, dSeg, hasRex, isRegForm, memLa, effAddr,
  rmRead, rmWrite, regRead, regWrite, push, pop, stackOpSize, nextRip, setNextRip, segLinear, setSp, spAfter,
  stackWriteAt, stackPeek, opcodeReg,
} from './operand';
import { P_LOCK, P_REP, P_OPSZ, P_REXW } from './decode';
import {
  reg64, setReg64, regN, setRegN, reg8, setReg8, mode64, stackSize, rip,
  SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, segSel, F_CF, F_DF, F_IF, F_AC, F_ID, F_TF, F_RF, F_VM,
  F_IOPL, F_NT, F_ARITH, F_ZF, F_OF, F_SF, F_PF, F_AF, cpl, protectedMode, STATE, O_FLAGS,
} from './state';
import { readN, writeN, read8, probeWrite, readForWrite } from './mem';
import {
  alu, inc, dec, neg, sext, shift, shiftDouble, mulhu, mulhs, mulFlags, imulTrunc,
  divUnsigned, divSigned, divQuot, divRem,
} from './alu';
import {
  condition, getFlags, getCF, setFlagBits, materializeFlags, setLazy, setLazyAux, sizeMask,
  LF_LOGIC, LF_SUB, LF_CFOF,
} from './flags';
import { fault, ud, gp, UD, BR, DE } from './fault';
import { execString } from './string';
import { execSystem, execIo, hlt, cli, sti } from './sysinsn';
import { loadSegReg, farJump, farCall, farReturn, softwareInterrupt, iret } from './system';
import { execX87, fwait } from './fpu';
import { execSse } from './sse';
import { setInterruptShadow } from './events';

/** Operand size from bit 0 of the opcode: 1 for byte forms, else the operand size. */
// @ts-ignore: decorator
@inline function opSize(op: i32): i32 { return (op & 1) == 0 ? 1 : dOsize(); }

function relJump(disp: i64): void {
  setNextRip(nearTarget(nextRip + disp, stackOpSize()));
}

/**
 * Branch target of a near JMP/CALL/RET, wrapped to the operand size. A
 * non-canonical target faults at the branch, before it changes anything.
 */
function nearTarget(v: i64, size: i32): i64 {
  if (size == 2) return v & 0xffff;
  if (size == 4) return v & 0xffffffff;
  if (((v << 16) >> 16) != v) gp(0);
  return v;
}

/** The count register for LOOP/JCXZ/REP, by address size. */
export function counter(): i64 {
  const as = dAsize();
  return as == 8 ? reg64(1) : as == 4 ? reg64(1) & 0xffffffff : reg64(1) & 0xffff;
}
export function setCounter(v: i64): void {
  const as = dAsize();
  if (as == 8) setReg64(1, v);
  else if (as == 4) setReg64(1, v & 0xffffffff);
  else setReg64(1, (reg64(1) & ~0xffff) | (v & 0xffff));
}

// LOCK is valid only on read-modify-write memory forms of these instructions.
function checkLock(op: i32): void {
  if ((dPfx() & P_LOCK) == 0) return;
  if (isRegForm()) { ud(); return; }
  if (op < 0x100) {
    if (op < 0x40 && (op & 7) < 2 && (op & 0x38) != 0x38) return;  // ALU Eb/Ev,G (not CMP)
    if (op >= 0x80 && op <= 0x83 && (dReg() & 7) != 7) return;     // group 1 (not CMP)
    if (op == 0x86 || op == 0x87) return;                           // XCHG
    if ((op == 0xf6 || op == 0xf7) && ((dReg() & 7) == 2 || (dReg() & 7) == 3)) return; // NOT NEG
    if ((op == 0xfe || op == 0xff) && (dReg() & 7) < 2) return;     // INC DEC
  } else {
    const o = op & 0xff;
    if (o == 0xab || o == 0xb3 || o == 0xbb || o == 0xb0 || o == 0xb1 || o == 0xc0 || o == 0xc1) return;
    if (o == 0xba && (dReg() & 7) >= 5) return;                     // BTS BTR BTC
    if (o == 0xc7 && (dReg() & 7) == 1) return;                     // CMPXCHG8B/16B
  }
  ud();
}

export function execute(): void {
  const op = dOp();
  if ((dPfx() & P_LOCK) != 0) checkLock(op);
  if (op >= 0x100) { execTwoByte(op); return; }

  // ALU block 00-3F (the regular rows).
  if (op < 0x40 && (op & 7) < 6) {
    const kind = op >> 3;
    const form = op & 7;
    if (form < 4) {
      const size = opSize(op);
      if (form < 2) {
        // Eb/Ev, Gb/Gv: destination is r/m
        if (isRegForm()) {
          const r = alu(kind, size, regN(dRm(), size, hasRex()), regRead(size));
          if (kind != 7) setRegN(dRm(), size, hasRex(), r);
        } else {
          const la = memLa();
          const r = alu(kind, size, (kind == 7 ? readN(la, size) : readForWrite(la, size)), regRead(size));
          if (kind != 7) writeN(la, size, r);
        }
      } else {
        const r = alu(kind, size, regRead(size), rmRead(size));
        if (kind != 7) regWrite(size, r);
      }
    } else {
      const size = form == 4 ? 1 : dOsize();
      const r = alu(kind, size, regN(0, size, false), dImm() & sizeMask(size));
      if (kind != 7) setRegN(0, size, false, r);
    }
    return;
  }

  switch (op) {
    case 0x06: case 0x0e: case 0x16: case 0x1e: // PUSH ES/CS/SS/DS
      if (mode64) { ud(); return; }
      push(dOsize(), <i64>segSel(op >> 3));
      return;
    case 0x07: case 0x17: case 0x1f: { // POP ES/SS/DS
      if (mode64) { ud(); return; }
      const sz = dOsize();
      const v = stackPeekSel(sz);
      loadSegReg(op >> 3, v);
      setSp(spAfter(sz));
      if (op == 0x17) setInterruptShadow(2); // POP SS blocks interrupts for one instruction
      return;
    }
    case 0x27: daa(); return;
    case 0x2f: das(); return;
    case 0x37: aaa(); return;
    case 0x3f: aas(); return;
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47: {
      const sz = dOsize();
      setRegN(op & 7, sz, false, inc(sz, regN(op & 7, sz, false)));
      return;
    }
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f: {
      const sz = dOsize();
      setRegN(op & 7, sz, false, dec(sz, regN(op & 7, sz, false)));
      return;
    }
    case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57: {
      const r = opcodeReg(op);
      const sz = stackOpSize();
      push(sz, regN(r, sz, false));
      return;
    }
    case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f: {
      const r = opcodeReg(op);
      const sz = stackOpSize();
      const v = pop(sz);
      setRegN(r, sz, false, v);
      return;
    }
    case 0x60: pusha(); return;
    case 0x61: popa(); return;
    case 0x62: bound(); return;
    case 0x63:
      if (mode64) { // MOVSXD (without REX.W it is a plain 32-bit move)
        const sz = dOsize();
        const v = rmRead(4);
        regWrite(sz, sz == 8 ? sext(v, 4) : v);
      } else arpl();
      return;
    case 0x68: push(stackOpSize(), dImm()); return;
    case 0x6a: push(stackOpSize(), dImm()); return;
    case 0x69: case 0x6b: {
      const sz = dOsize();
      regWrite(sz, imulTrunc(sz, rmRead(sz), dImm()));
      return;
    }
    case 0x6c: case 0x6d: case 0x6e: case 0x6f:
    case 0xa4: case 0xa5: case 0xa6: case 0xa7: case 0xaa: case 0xab: case 0xac: case 0xad: case 0xae: case 0xaf:
      execString(op);
      return;
    case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
    case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f:
      if (condition(op & 15)) relJump(dImm());
      return;
    case 0x80: case 0x81: case 0x82: case 0x83: {
      if (op == 0x82 && mode64) { ud(); return; }
      const size = op == 0x81 || op == 0x83 ? dOsize() : 1;
      const kind = dReg() & 7;
      const b = dImm() & sizeMask(size);
      if (isRegForm()) {
        const r = alu(kind, size, regN(dRm(), size, hasRex()), b);
        if (kind != 7) setRegN(dRm(), size, hasRex(), r);
      } else {
        const la = memLa();
        const r = alu(kind, size, (kind == 7 ? readN(la, size) : readForWrite(la, size)), b);
        if (kind != 7) writeN(la, size, r);
      }
      return;
    }
    case 0x84: case 0x85: {
      const sz = opSize(op);
      const r = rmRead(sz) & regRead(sz);
      setLazy(LF_LOGIC, sz, r, 0, 0);
      return;
    }
    case 0x86: case 0x87: {
      const sz = opSize(op);
      if (isRegForm()) {
        const a = regN(dRm(), sz, hasRex());
        setRegN(dRm(), sz, hasRex(), regRead(sz));
        regWrite(sz, a);
      } else {
        const la = memLa();
        const a = readForWrite(la, sz);
        writeN(la, sz, regRead(sz));
        regWrite(sz, a);
      }
      return;
    }
    case 0x88: case 0x89: { const sz = opSize(op); rmWrite(sz, regRead(sz)); return; }
    case 0x8a: case 0x8b: { const sz = opSize(op); regWrite(sz, rmRead(sz)); return; }
    case 0x8c: { // MOV r/m, Sreg
      const s = dReg() & 7;
      if (s > 5) { ud(); return; }
      if (isRegForm()) setRegN(dRm(), dOsize(), false, <i64>segSel(s));
      else writeN(memLa(), 2, <i64>segSel(s));
      return;
    }
    case 0x8d: { // LEA
      if (isRegForm()) { ud(); return; }
      regWrite(dOsize(), effAddr());
      return;
    }
    case 0x8e: { // MOV Sreg, r/m
      const s = dReg() & 7;
      if (s == SEG_CS || s > 5) { ud(); return; }
      loadSegReg(s, <i32>rmRead(2));
      if (s == SEG_SS) setInterruptShadow(2); // so is MOV SS (the next instruction loads RSP)
      return;
    }
    case 0x8f: { // POP r/m: the address uses RSP after the pop
      if ((dReg() & 7) != 0) { ud(); return; }
      const sz = stackOpSize();
      const v = readN(segLinear(SEG_SS, spAfter(0)), sz);
      if (isRegForm()) { setSp(spAfter(sz)); setRegN(dRm(), sz, false, v); return; }
      const oldSp = reg64(4);
      setSp(spAfter(sz));
      const la = memLa();
      setReg64(4, oldSp);
      writeN(la, sz, v);
      setSp(spAfter(sz));
      return;
    }
    case 0x90: {
      const r = opcodeReg(op);
      if (r == 0) return; // NOP, PAUSE (F3 90)
      xchgAcc(r);
      return;
    }
    case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
      xchgAcc(opcodeReg(op));
      return;
    case 0x98: { // CBW/CWDE/CDQE
      const sz = dOsize();
      setRegN(0, sz, false, sext(regN(0, sz >> 1, false), sz >> 1));
      return;
    }
    case 0x99: { // CWD/CDQ/CQO
      const sz = dOsize();
      const sign = (regN(0, sz, false) >>> ((<i64>sz << 3) - 1)) & 1;
      setRegN(2, sz, false, sign != 0 ? -1 : 0);
      return;
    }
    case 0x9a: farCall(dImm2(), dImm(), dOsize()); return;
    case 0x9b: fwait(); return;
    case 0x9c: pushf(); return;
    case 0x9d: popf(); return;
    case 0x9e: // SAHF
      setFlagBits(F_SF | F_ZF | F_AF | F_PF | F_CF, reg8(4, false));
      return;
    case 0x9f: // LAHF
      setReg8(4, false, (getFlags() & 0xd7) | 2);
      return;
    case 0xa0: case 0xa1: { // MOV AL/eAX, moffs
      const sz = opSize(op);
      setRegN(0, sz, false, readN(segLinear(dSeg(), moffs()), sz));
      return;
    }
    case 0xa2: case 0xa3: {
      const sz = opSize(op);
      writeN(segLinear(dSeg(), moffs()), sz, regN(0, sz, false));
      return;
    }
    case 0xa8: case 0xa9: {
      const sz = opSize(op);
      setLazy(LF_LOGIC, sz, regN(0, sz, false) & dImm() & sizeMask(sz), 0, 0);
      return;
    }
    case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7: {
      const r = opcodeReg(op);
      setReg8(r, hasRex(), <i32>dImm());
      return;
    }
    case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf: {
      const r = opcodeReg(op);
      setRegN(r, dOsize(), false, dImm());
      return;
    }
    case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
      const sz = opSize(op);
      const count = op <= 0xc1 ? <i32>dImm() : op <= 0xd1 ? 1 : reg8(1, false);
      const kind = dReg() & 7;
      if (isRegForm()) {
        setRegN(dRm(), sz, hasRex(), shift(kind, sz, regN(dRm(), sz, hasRex()), count));
      } else {
        const la = memLa();
        const v = readForWrite(la, sz);
        const r = shift(kind, sz, v, count);
        writeN(la, sz, r);
      }
      return;
    }
    case 0xc2: case 0xc3: { // RET near
      const sz = stackOpSize();
      const t = nearTarget(stackPeek(sz, 0), sz);
      setSp(spAfter(sz + (op == 0xc2 ? <i32>dImm() : 0)));
      setNextRip(t);
      return;
    }
    case 0xc4: case 0xc5: { // LES/LDS; VEX prefixes in 64-bit mode or with a register form (no AVX here)
      if (mode64 || isRegForm()) { unimplemented(CpuFeature.AVX, (MAP_VEX << 8) | op); return; }
      loadFarPointer(op == 0xc4 ? SEG_ES : SEG_DS);
      return;
    }
    case 0xc6: case 0xc7: {
      if ((dReg() & 7) != 0) { ud(); return; }
      const sz = opSize(op);
      rmWrite(sz, dImm() & sizeMask(sz));
      return;
    }
    case 0xc8: enter(); return;
    case 0xc9: { // LEAVE
      const sz = stackOpSize();
      const bp = stackSize == 8 ? reg64(5) : stackSize == 4 ? reg64(5) & 0xffffffff : reg64(5) & 0xffff;
      const v = readN(segLinear(SEG_SS, bp), sz);
      setSp(bp + sz);
      setRegN(5, sz, false, v);
      return;
    }
    case 0xca: case 0xcb: farReturn(dOsize(), op == 0xca ? <i32>dImm() : 0); return;
    case 0xcc: softwareInterrupt(3, 1); return;
    case 0xcd: softwareInterrupt(<i32>dImm() & 0xff, 0); return;
    case 0xce:
      if (mode64) { ud(); return; }
      if (getFlags() & F_OF) softwareInterrupt(4, 1);
      return;
    case 0xcf: iret(dOsize()); return;
    case 0xd4: { // AAM
      if (mode64) { ud(); return; }
      const base = <i32>dImm() & 0xff;
      if (base == 0) { fault(DE, -1); return; }
      const al = reg8(0, false);
      const r = ((al / base) << 8) | (al % base);
      setRegN(0, 2, false, r);
      setLazy(LF_LOGIC, 1, r & 0xff, 0, 0);
      return;
    }
    case 0xd5: { // AAD
      if (mode64) { ud(); return; }
      const r = (reg8(0, false) + reg8(4, false) * (<i32>dImm() & 0xff)) & 0xff;
      setRegN(0, 2, false, r);
      setLazy(LF_LOGIC, 1, r, 0, 0);
      return;
    }
    case 0xd6: // SALC
      if (mode64) { ud(); return; }
      setReg8(0, false, getCF() ? 0xff : 0);
      return;
    case 0xd7: { // XLAT
      const as = dAsize();
      let off = reg64(3) + <i64>reg8(0, false);
      off = as == 8 ? off : as == 4 ? off & 0xffffffff : off & 0xffff;
      setReg8(0, false, read8(segLinear(dSeg(), off)));
      return;
    }
    case 0xd8: case 0xd9: case 0xda: case 0xdb: case 0xdc: case 0xdd: case 0xde: case 0xdf:
      execX87(op);
      return;
    case 0xe0: case 0xe1: case 0xe2: { // LOOPNE LOOPE LOOP
      const c = (counter() - 1);
      setCounter(c);
      const nz = (c & (dAsize() == 8 ? -1 : dAsize() == 4 ? 0xffffffff : 0xffff)) != 0;
      let take = nz;
      if (op == 0xe0) take = nz && !(getFlags() & F_ZF);
      else if (op == 0xe1) take = nz && (getFlags() & F_ZF) != 0;
      if (take) relJump(dImm());
      return;
    }
    case 0xe3: if (counter() == 0) relJump(dImm()); return;
    case 0xe4: case 0xe5: case 0xe6: case 0xe7: case 0xec: case 0xed: case 0xee: case 0xef:
      execIo(op);
      return;
    case 0xe8: { // CALL rel
      const sz = stackOpSize();
      const t = nearTarget(nextRip + dImm(), sz);
      push(sz, nextRip);
      setNextRip(t);
      return;
    }
    case 0xe9: case 0xeb: relJump(dImm()); return;
    case 0xea: farJump(dImm2(), dImm()); return;
    case 0xf1: softwareInterrupt(1, 2); return; // INT1 (ICEBP)
    case 0xf4: hlt(); return;
    case 0xf5: setFlagBits(F_CF, getCF() ? 0 : F_CF); return;
    case 0xf6: case 0xf7: group3(op); return;
    case 0xf8: setFlagBits(F_CF, 0); return;
    case 0xf9: setFlagBits(F_CF, F_CF); return;
    case 0xfa: cli(); return;
    case 0xfb: sti(); return;
    case 0xfc: setFlagBits(F_DF, 0); return;
    case 0xfd: setFlagBits(F_DF, F_DF); return;
    case 0xfe: {
      const k = dReg() & 7;
      if (k > 1) { ud(); return; }
      if (isRegForm()) {
        const v = regN(dRm(), 1, hasRex());
        setRegN(dRm(), 1, hasRex(), k == 0 ? inc(1, v) : dec(1, v));
      } else {
        const la = memLa();
        const v = readForWrite(la, 1);
        writeN(la, 1, k == 0 ? inc(1, v) : dec(1, v));
      }
      return;
    }
    case 0xff: group5(); return;
    default:
      ud();
  }
}

function moffs(): i64 { return dImm(); }

function stackPeekSel(sz: i32): i32 { return <i32>readN(segLinear(SEG_SS, spAfter(0)), sz) & 0xffff; }

function xchgAcc(r: i32): void {
  const sz = dOsize();
  const a = regN(0, sz, false);
  setRegN(0, sz, false, regN(r, sz, false));
  setRegN(r, sz, false, a);
}

function loadFarPointer(seg: i32): void {
  const sz = dOsize();
  const la = memLa();
  const off = readN(la, sz);
  const sel = <i32>readN(la + sz, 2);
  loadSegReg(seg, sel);
  regWrite(sz, off);
}

function group3(op: i32): void {
  const sz = opSize(op);
  const k = dReg() & 7;
  switch (k) {
    case 0: case 1: { // TEST r/m, imm
      setLazy(LF_LOGIC, sz, rmRead(sz) & dImm() & sizeMask(sz), 0, 0);
      return;
    }
    case 2: { // NOT
      if (isRegForm()) { setRegN(dRm(), sz, hasRex(), ~regN(dRm(), sz, hasRex())); return; }
      const la = memLa();
      writeN(la, sz, ~readForWrite(la, sz));
      return;
    }
    case 3: { // NEG
      if (isRegForm()) { setRegN(dRm(), sz, hasRex(), neg(sz, regN(dRm(), sz, hasRex()))); return; }
      const la = memLa();
      const v = readForWrite(la, sz);
      writeN(la, sz, neg(sz, v));
      return;
    }
    case 4: case 5: { // MUL, IMUL (one operand)
      const b = rmRead(sz);
      const signed = k == 5;
      if (sz == 1) {
        const a = reg8(0, false);
        const r = signed ? <i32>sext(a, 1) * <i32>sext(b, 1) : a * <i32>b;
        setRegN(0, 2, false, r);
        const ovf = signed ? sext(r, 1) != <i64><i16>r : (r & 0xff00) != 0;
        mulFlags(1, r & 0xff, ovf);
        return;
      }
      const a = regN(0, sz, false);
      let lo: i64, hi: i64;
      if (sz == 8) {
        lo = a * b;
        hi = signed ? mulhs(a, b) : mulhu(a, b);
      } else {
        const bits = <i64>(sz << 3);
        const full = signed ? sext(a, sz) * sext(b, sz) : a * b;
        lo = full & sizeMask(sz);
        hi = (full >> bits) & sizeMask(sz);
      }
      const ovf = signed ? hi != ((sext(lo, sz) >> 63) & sizeMask(sz)) : hi != 0;
      setRegN(0, sz, false, lo);
      setRegN(2, sz, false, hi);
      mulFlags(sz, lo, ovf);
      return;
    }
    default: { // DIV, IDIV
      const d = rmRead(sz);
      if (sz == 1) {
        const ax = <i64>reg16(0);
        if (k == 6) divUnsigned(1, ax >> 8, ax & 0xff, d);
        else divSigned(1, ax >> 8, ax & 0xff, d);
        setRegN(0, 2, false, (divQuot & 0xff) | ((divRem & 0xff) << 8));
        return;
      }
      const hi = regN(2, sz, false), lo = regN(0, sz, false);
      if (k == 6) divUnsigned(sz, hi, lo, d);
      else divSigned(sz, hi, lo, d);
      setRegN(0, sz, false, divQuot);
      setRegN(2, sz, false, divRem);
      return;
    }
  }
}

function reg16(r: i32): i32 { return <i32>(reg64(r) & 0xffff); }

function group5(): void {
  const k = dReg() & 7;
  switch (k) {
    case 0: case 1: {
      const sz = dOsize();
      if (isRegForm()) {
        const v = regN(dRm(), sz, false);
        setRegN(dRm(), sz, false, k == 0 ? inc(sz, v) : dec(sz, v));
      } else {
        const la = memLa();
        const v = readForWrite(la, sz);
        writeN(la, sz, k == 0 ? inc(sz, v) : dec(sz, v));
      }
      return;
    }
    case 2: { // CALL near indirect
      const sz = stackOpSize();
      const t = nearTarget(rmRead(sz), sz);
      push(sz, nextRip);
      setNextRip(t);
      return;
    }
    case 4: { // JMP near indirect
      const sz = stackOpSize();
      setNextRip(nearTarget(rmRead(sz), sz));
      return;
    }
    case 3: case 5: { // CALL/JMP far through memory
      if (isRegForm()) { ud(); return; }
      const sz = mode64 && (dPfx() & P_REXW) != 0 ? 8 : dOsize() == 8 ? 4 : dOsize();
      const la = memLa();
      const off = readN(la, sz);
      const sel = <i32>readN(la + sz, 2);
      if (k == 3) farCall(sel, off, sz); else farJump(sel, off);
      return;
    }
    case 6: { // PUSH r/m
      const sz = stackOpSize();
      push(sz, rmRead(sz));
      return;
    }
    default: ud();
  }
}

// ---- flags register ----
function pushf(): void {
  const f = getFlags() & ~(F_RF | F_VM);
  if ((f & F_VM) != 0 && ((f & F_IOPL) >> 12) < 3) { gp(0); return; }
  push(stackOpSize(), <i64>f);
}

function popf(): void {
  const sz = stackOpSize();
  const v = <i32>pop(sz);
  let mask = F_ARITH | F_TF | F_DF | F_NT | F_OF;
  if (sz != 2) mask |= F_AC | F_ID;
  // IOPL changes only at CPL 0, IF only when CPL <= IOPL.
  const cur = getFlags();
  if (!protectedMode || cpl == 0) mask |= F_IOPL | F_IF;
  else if (cpl <= ((cur & F_IOPL) >> 12)) mask |= F_IF;
  if (sz == 2) mask &= 0xffff;
  setFlagBits(mask, v);
}

// ---- stack frames ----
function pusha(): void {
  if (mode64) { ud(); return; }
  const sz = dOsize();
  const sp = reg64(4);
  // Write all eight first (each may fault), then move the stack pointer.
  for (let r = 0; r < 8; r++) stackWriteAt(-(r + 1) * sz, sz, r == 4 ? sp : reg64(r));
  setSp(spAfter(-8 * sz));
}

function popa(): void {
  if (mode64) { ud(); return; }
  const sz = dOsize();
  const vals = memory.data(64);
  for (let r = 7; r >= 0; r--) store<i64>(vals + (<usize>r << 3), readN(segLinear(SEG_SS, spAfter((7 - r) * sz)), sz));
  for (let r = 0; r < 8; r++) if (r != 4) setRegN(r, sz, false, load<i64>(vals + (<usize>r << 3)));
  setSp(spAfter(8 * sz));
}

function enter(): void {
  const sz = stackOpSize();
  const alloc = <i64>(dImm() & 0xffff);
  const level = dImm2() & 31;
  const bp = reg64(5);
  // Compute the frame first, then commit registers after all writes succeeded.
  stackWriteAt(-sz, sz, bp);
  let frame = spAfter(-sz);
  let off = -sz;
  if (level > 0) {
    let rbp = bp;
    for (let i = 1; i < level; i++) {
      rbp = stackSize == 8 ? rbp - sz : stackSize == 4 ? (rbp - sz) & 0xffffffff : (rbp - sz) & 0xffff;
      const v = readN(segLinear(SEG_SS, rbp), sz);
      off -= sz;
      stackWriteAt(off, sz, v);
    }
    off -= sz;
    stackWriteAt(off, sz, frame);
  }
  const newSp = spAfter(off) - alloc;
  // Probe the lowest byte of the new frame, as ENTER does.
  if (alloc != 0) readN(segLinear(SEG_SS, stackSize == 8 ? newSp : newSp & (stackSize == 4 ? 0xffffffff : 0xffff)), 1);
  setRegN(5, stackSize == 8 ? 8 : stackSize, false, frame);
  setSp(newSp);
}

function bound(): void {
  if (mode64 || isRegForm()) { ud(); return; }
  const sz = dOsize();
  const la = memLa();
  const lo = sext(readN(la, sz), sz), hi = sext(readN(la + sz, sz), sz);
  const v = sext(regRead(sz), sz);
  if (v < lo || v > hi) fault(BR, -1);
}

function arpl(): void {
  if (!protectedMode) { ud(); return; }
  const dst = <i32>rmRead(2), src = <i32>regRead(2);
  if ((dst & 3) < (src & 3)) {
    rmWrite(2, <i64>((dst & ~3) | (src & 3)));
    setFlagBits(F_ZF, F_ZF);
  } else setFlagBits(F_ZF, 0);
}

// ---- BCD ----
function daa(): void {
  if (mode64) { ud(); return; }
  const f = getFlags();
  let al = reg8(0, false);
  const oldAl = al, oldCf = (f & F_CF) != 0;
  let cf = false, af = false;
  if ((al & 0xf) > 9 || (f & F_AF) != 0) { al += 6; af = true; cf = oldCf || al > 0xff; al &= 0xff; }
  if (oldAl > 0x99 || oldCf) { al = (al + 0x60) & 0xff; cf = true; }
  setReg8(0, false, al);
  bcdFlags(al, cf, af);
}
function das(): void {
  if (mode64) { ud(); return; }
  const f = getFlags();
  let al = reg8(0, false);
  const oldAl = al, oldCf = (f & F_CF) != 0;
  let cf = false, af = false;
  if ((al & 0xf) > 9 || (f & F_AF) != 0) { cf = oldCf || al < 6; al = (al - 6) & 0xff; af = true; }
  if (oldAl > 0x99 || oldCf) { al = (al - 0x60) & 0xff; cf = true; }
  setReg8(0, false, al);
  bcdFlags(al, cf, af);
}
function aaa(): void {
  if (mode64) { ud(); return; }
  const f = getFlags();
  let ax = reg16(0);
  const adj = (ax & 0xf) > 9 || (f & F_AF) != 0;
  if (adj) ax = (ax + 0x106) & 0xffff;
  setRegN(0, 2, false, ax & 0xff0f);
  setFlagBits(F_CF | F_AF, adj ? F_CF | F_AF : 0);
}
function aas(): void {
  if (mode64) { ud(); return; }
  const f = getFlags();
  let ax = reg16(0);
  const adj = (ax & 0xf) > 9 || (f & F_AF) != 0;
  if (adj) { ax = (ax - 6) & 0xffff; ax = ((ax - 0x100) & 0xff00) | (ax & 0xff); }
  setRegN(0, 2, false, ax & 0xff0f);
  setFlagBits(F_CF | F_AF, adj ? F_CF | F_AF : 0);
}
function bcdFlags(al: i32, cf: bool, af: bool): void {
  let fl = 0;
  if (cf) fl |= F_CF;
  if (af) fl |= F_AF;
  if (al == 0) fl |= F_ZF;
  if ((al & 0x80) != 0) fl |= F_SF;
  if ((popcnt<i32>(al) & 1) == 0) fl |= F_PF;
  setFlagBits(F_CF | F_AF | F_ZF | F_SF | F_PF, fl);
}

// ---- two-byte map ----
function execTwoByte(op: i32): void {
  const o = op & 0xff;
  if (op >= 0x200) { execSse(op); return; }
  switch (o) {
    case 0x00: case 0x01: case 0x02: case 0x03: case 0x05: case 0x06: case 0x07: case 0x08: case 0x09:
    case 0x20: case 0x21: case 0x22: case 0x23: case 0x30: case 0x31: case 0x32: case 0x33: case 0x34: case 0x35:
    case 0xa2:
      execSystem(op);
      return;
    case 0x0b: case 0xb9: ud(); return; // UD2, UD1
    case 0x0d: case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f:
      return; // prefetches, hint NOPs, ENDBR
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f: {
      const sz = dOsize();
      const v = rmRead(sz); // the source is read (and may fault) even if the condition is false
      if (condition(o & 15)) regWrite(sz, v);
      else if (sz == 4) regWrite(4, regRead(4)); // a 32-bit CMOV always zero-extends
      return;
    }
    case 0x80: case 0x81: case 0x82: case 0x83: case 0x84: case 0x85: case 0x86: case 0x87:
    case 0x88: case 0x89: case 0x8a: case 0x8b: case 0x8c: case 0x8d: case 0x8e: case 0x8f:
      if (condition(o & 15)) relJump(dImm());
      return;
    case 0x90: case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
    case 0x98: case 0x99: case 0x9a: case 0x9b: case 0x9c: case 0x9d: case 0x9e: case 0x9f:
      rmWrite(1, condition(o & 15) ? 1 : 0);
      return;
    case 0xa0: case 0xa8: push(stackOpSize(), <i64>segSel(o == 0xa0 ? SEG_FS : SEG_GS)); return;
    case 0xa1: case 0xa9: {
      const sz = stackOpSize();
      const v = stackPeekSel(sz);
      loadSegReg(o == 0xa1 ? SEG_FS : SEG_GS, v);
      setSp(spAfter(sz));
      return;
    }
    case 0xa3: case 0xab: case 0xb3: case 0xbb: bitTest((o >> 3) & 3, false); return;
    case 0xba: {
      const k = dReg() & 7;
      if (k < 4) { ud(); return; }
      bitTest(k - 4, true);
      return;
    }
    case 0xa4: case 0xa5: case 0xac: case 0xad: {
      const sz = dOsize();
      const count = (o & 1) == 0 ? <i32>dImm() : reg8(1, false);
      const left = o < 0xa8;
      if (isRegForm()) {
        setRegN(dRm(), sz, hasRex(), shiftDouble(left, sz, regN(dRm(), sz, hasRex()), regRead(sz), count));
      } else {
        const la = memLa();
        const v = readForWrite(la, sz);
        writeN(la, sz, shiftDouble(left, sz, v, regRead(sz), count));
      }
      return;
    }
    case 0xaf: { const sz = dOsize(); regWrite(sz, imulTrunc(sz, regRead(sz), rmRead(sz))); return; }
    case 0xb0: case 0xb1: cmpxchg(opSize(o)); return;
    case 0xb2: if (isRegForm()) { ud(); return; } loadFarPointer(SEG_SS); return;
    case 0xb4: if (isRegForm()) { ud(); return; } loadFarPointer(SEG_FS); return;
    case 0xb5: if (isRegForm()) { ud(); return; } loadFarPointer(SEG_GS); return;
    case 0xb6: case 0xb7: regWrite(dOsize(), rmRead(o == 0xb6 ? 1 : 2)); return;
    case 0xbe: case 0xbf: { const s = o == 0xbe ? 1 : 2; regWrite(dOsize(), sext(rmRead(s), s)); return; }
    case 0xb8: { // POPCNT (F3)
      if ((dPfx() & P_REP) == 0) { ud(); return; }
      const sz = dOsize();
      const r = <i64>popcnt<i64>(rmRead(sz));
      regWrite(sz, r);
      setFlagBits(F_ARITH, r == 0 ? F_ZF : 0);
      return;
    }
    case 0xbc: case 0xbd: bitScan(o == 0xbd); return;
    case 0xc0: case 0xc1: { // XADD
      const sz = opSize(o);
      if (isRegForm()) {
        const a = regN(dRm(), sz, hasRex()), b = regRead(sz);
        const r = alu(0, sz, a, b);
        regWrite(sz, a);
        setRegN(dRm(), sz, hasRex(), r);
      } else {
        const la = memLa();
        const a = readForWrite(la, sz), b = regRead(sz);
        const r = alu(0, sz, a, b);
        writeN(la, sz, r);
        regWrite(sz, a);
      }
      return;
    }
    case 0xc3: if (isRegForm()) { ud(); return; } writeN(memLa(), dOsize(), regRead(dOsize())); return; // MOVNTI
    case 0xc7: group9(); return;
    case 0xc8: case 0xc9: case 0xca: case 0xcb: case 0xcc: case 0xcd: case 0xce: case 0xcf: {
      const r = opcodeReg(o);
      const sz = dOsize();
      if (sz == 8) setReg64(r, bswap<i64>(reg64(r)));
      else if (sz == 4) setRegN(r, 4, false, <i64><u32>bswap<i32>(<i32>reg64(r)));
      else setRegN(r, 2, false, 0); // BSWAP of a 16-bit register is undefined; zero as Intel does
      return;
    }
    case 0xae: execGroup15(); return;
    case 0x77: execSse(op); return;
    default:
      if ((o >= 0x10 && o <= 0x17) || (o >= 0x28 && o <= 0x2f) || (o >= 0x50 && o <= 0x7f) || (o >= 0xc2 && o <= 0xc6) || o >= 0xd0) {
        execSse(op);
        return;
      }
      ud();
  }
}

function execGroup15(): void {
  // FXSAVE FXRSTOR LDMXCSR STMXCSR belong to the FPU/SSE state; fences,
  // CLFLUSH and RDFSBASE & co. are system instructions.
  if (!isRegForm() && (dReg() & 7) < 4) execSse(0x1ae);
  else execSystem(0x1ae);
}

function bitTest(kind: i32, immediate: bool): void {
  // kind: 0 BT, 1 BTS, 2 BTR, 3 BTC
  const sz = dOsize();
  const bits = sz << 3;
  let v: i64, la: i64 = 0;
  let bit: i64;
  if (immediate) bit = dImm() & (bits - 1);
  else bit = sext(regRead(sz), sz);
  if (isRegForm()) {
    bit &= bits - 1;
    v = regN(dRm(), sz, hasRex());
  } else {
    // A register bit offset can address memory beyond the operand.
    la = memLa();
    if (!immediate) {
      const byteOff = (bit >> 3) & ~(<i64>(sz - 1));
      la = segLinear(dSeg(), effAddrPlus(byteOff));
      bit &= bits - 1;
    }
    v = kind == 0 ? readN(la, sz) : readForWrite(la, sz);
  }
  const cf = <i32>((v >>> bit) & 1);
  let r = v;
  if (kind == 1) r = v | (<i64>1 << bit);
  else if (kind == 2) r = v & ~(<i64>1 << bit);
  else if (kind == 3) r = v ^ (<i64>1 << bit);
  setFlagBits(F_CF, cf);
  if (kind != 0) {
    if (isRegForm()) setRegN(dRm(), sz, hasRex(), r);
    else writeN(la, sz, r);
  }
}
function effAddrPlus(delta: i64): i64 {
  const a = effAddr() + delta;
  const as = dAsize();
  return as == 8 ? a : as == 4 ? a & 0xffffffff : a & 0xffff;
}

function bitScan(reverse: bool): void {
  const sz = dOsize();
  const v = rmRead(sz);
  if ((dPfx() & P_REP) != 0) { // TZCNT / LZCNT
    const bits = <i64>(sz << 3);
    let r: i64;
    if (reverse) r = v == 0 ? bits : <i64>clz<i64>(v) - (64 - bits);
    else r = v == 0 ? bits : <i64>ctz<i64>(v);
    regWrite(sz, r);
    setFlagBits(F_CF | F_ZF, (v == 0 ? F_CF : 0) | (r == 0 ? F_ZF : 0));
    return;
  }
  if (v == 0) { setFlagBits(F_ZF, F_ZF); return; } // destination unchanged
  regWrite(sz, reverse ? <i64>(63 - clz<i64>(v)) : <i64>ctz<i64>(v));
  setFlagBits(F_ZF, 0);
}

function cmpxchg(sz: i32): void {
  const acc = regN(0, sz, false);
  if (isRegForm()) {
    const d = regN(dRm(), sz, hasRex());
    alu(7, sz, acc, d);
    if (acc == d) setRegN(dRm(), sz, hasRex(), regRead(sz));
    else setRegN(0, sz, false, d);
    return;
  }
  const la = memLa();
  const d = readForWrite(la, sz);
  // The destination is always written (with its old value on failure), as on hardware.
  if (acc == d) writeN(la, sz, regRead(sz)); else writeN(la, sz, d);
  alu(7, sz, acc, d);
  if (acc != d) setRegN(0, sz, false, d);
}

function group9(): void {
  const k = dReg() & 7;
  if (isRegForm()) {
    if (k == 6 || k == 7) { execSystem(0x1c7); return; } // RDRAND / RDSEED
    ud();
    return;
  }
  if (k != 1) { ud(); return; }
  const la = memLa();
  if ((dPfx() & P_REXW) != 0) { // CMPXCHG16B
    if ((la & 15) != 0) { gp(0); return; }
    const lo = readN(la, 8), hi = readN(la + 8, 8);
    probeWrite(la, 16);
    if (lo == reg64(0) && hi == reg64(2)) {
      writeN(la, 8, reg64(3)); writeN(la + 8, 8, reg64(1));
      setFlagBits(F_ZF, F_ZF);
    } else {
      writeN(la, 8, lo); writeN(la + 8, 8, hi);
      setReg64(0, lo); setReg64(2, hi);
      setFlagBits(F_ZF, 0);
    }
    return;
  }
  const m = readN(la, 8);
  const cmp = (reg64(0) & 0xffffffff) | (reg64(2) << 32);
  if (m == cmp) {
    writeN(la, 8, (reg64(3) & 0xffffffff) | (reg64(1) << 32));
    setFlagBits(F_ZF, F_ZF);
  } else {
    writeN(la, 8, m);
    setRegN(0, 4, false, m & 0xffffffff);
    setRegN(2, 4, false, m >>> 32);
    setFlagBits(F_ZF, 0);
  }
}
