// Fast forms: the common instructions decode.ts marks with a FAST_* id, run
// inline by the run loop's fast path. Same semantics as exec.ts, minus the
// generality (32/64-bit operands, no LOCK), with operand addresses and TLB
// hits computed in line.
import {
  D_OSIZE, D_IMM, D_FA, D_FB, D_FK, D_DISP, D_BASE, D_INDEX, D_SCALE, D_ASIZE, D_SEG, D_PFX, R_NONE, R_RIP, P_REX,
  FAST_MOV_RR, FAST_LOAD, FAST_STORE, FAST_ALU_RR, FAST_ALU_RI, FAST_ALU_RM, FAST_TEST_RR, FAST_JCC, FAST_JMP,
  FAST_LEA, FAST_INC, FAST_DEC, FAST_PUSH, FAST_POP, FAST_CALL, FAST_RET, FAST_SHIFT_RI, FAST_MOV_RI, FAST_NOP,
  FAST_IMUL_RRI, FAST_IMUL_RR, FAST_CMOV, FAST_STORE8, FAST_ALU_MR, FAST_ALU_MI, FAST_STORE_IMM, FAST_MOVSXD,
  FAST_CALL_IND, FAST_JMP_IND,
} from './decode';
import { reg64, setReg64, reg8, mode64 } from './state';
import { setInsn, setNextRip, nextRip } from './operand';
import { execute } from './exec';
import { segLinear } from './operand';
import { read8, read32, read64, write8, write32, write64, readForWrite, hostFor } from './mem';
import { stackAccess, tlbSet, T_READ, T_WRITE } from './paging';
import { alu, inc, dec, shift, imulTrunc } from './alu';
import { condition, setLazy, sizeMask, LF_LOGIC } from './flags';
import { gp } from './fault';

/** Linear address of the record's memory operand (operand.ts memLa, inlined for the fast path). */
// @ts-ignore: decorator
@inline function fastLa(slot: usize, next: i64): i64 {
  return segLinear(load<u8>(slot + D_SEG), fastEa(slot, next));
}

/** Effective address (offset) of the record's memory operand, for LEA. */
// @ts-ignore: decorator
@inline function fastEa(slot: usize, next: i64): i64 {
  let a: i64 = <i64>load<i32>(slot + D_DISP);
  const base = load<u8>(slot + D_BASE);
  if (base != R_NONE) a += base == R_RIP ? next : reg64(base);
  const index = load<u8>(slot + D_INDEX);
  if (index != R_NONE) a += reg64(index) << <i64>load<u8>(slot + D_SCALE);
  const as = load<u8>(slot + D_ASIZE);
  if (as == 4) a &= 0xffffffff; else if (as == 2) a &= 0xffff;
  return a;
}

/** Host address of `la` for an access of `size` bytes if the TLB (tag offset `kind`) allows it, else 0. */
// @ts-ignore: decorator
@inline function tlbHit(la: i64, size: i32, kind: usize): usize {
  return (<i32>la & 0xfff) > 0x1000 - size ? 0 : hostFor(tlbSet, la, kind);
}
// @ts-ignore: decorator
@inline function fastRead(la: i64, size: i32): i64 {
  const h = tlbHit(la, size, T_READ);
  if (h != 0) return size == 8 ? load<i64>(h) : <i64>load<u32>(h);
  return size == 8 ? read64(la) : <i64>read32(la) & 0xffffffff;
}
// @ts-ignore: decorator
@inline function fastWrite(la: i64, size: i32, v: i64): void {
  const h = tlbHit(la, size, T_WRITE);
  if (h != 0) { if (size == 8) store<i64>(h, v); else store<u32>(h, <u32>v); return; }
  if (size == 8) write64(la, v); else write32(la, <i32>v);
}

// @ts-ignore: decorator
@inline function getW(r: i32, size: i32): i64 { const v = reg64(r); return size == 8 ? v : v & 0xffffffff; }
// @ts-ignore: decorator
@inline function setW(r: i32, size: i32, v: i64): void { setReg64(r, size == 8 ? v : v & 0xffffffff); }

/** Run the record through the general executor (a fast form's rare case). */
function slowPath(slot: usize, next: i64): i64 {
  setInsn(slot);
  setNextRip(next);
  execute();
  return nextRip;
}

/** A near branch target: wrapped outside 64-bit mode, #GP at the branch if not canonical. */
// @ts-ignore: decorator
@inline function branchTarget(t: i64): i64 {
  if (!mode64) return t & 0xffffffff;
  if (((t << 16) >> 16) != t) gp(0);
  return t;
}

/**
 * Execute a FAST_* form (see decode.ts classifyFast) and return the next RIP.
 * Same semantics as exec.ts, minus the generality: 32/64-bit operands only.
 */
export function execFast(f: u8, slot: usize, next: i64): i64 {
  const size = <i32>load<u8>(slot + D_OSIZE);
  const fa = <i32>load<u8>(slot + D_FA);
  const fb = <i32>load<u8>(slot + D_FB);
  switch (f) {
    case FAST_MOV_RR: setW(fa, size, getW(fb, size)); return next;
    case FAST_LOAD: setW(fa, size, fastRead(fastLa(slot, next), size)); return next;
    case FAST_STORE: fastWrite(fastLa(slot, next), size, reg64(fb)); return next;
    case FAST_MOV_RI: setW(fa, size, load<i64>(slot + D_IMM)); return next;
    case FAST_NOP: return next;
    case FAST_ALU_RR: {
      const k = <i32>load<u8>(slot + D_FK);
      const v = alu(k, size, getW(fa, size), getW(fb, size));
      if (k != 7) setW(fa, size, v);
      return next;
    }
    case FAST_ALU_RI: {
      const k = <i32>load<u8>(slot + D_FK);
      const v = alu(k, size, getW(fa, size), load<i64>(slot + D_IMM) & sizeMask(size));
      if (k != 7) setW(fa, size, v);
      return next;
    }
    case FAST_ALU_RM: {
      const k = <i32>load<u8>(slot + D_FK);
      const m = fastRead(fastLa(slot, next), size);
      const v = alu(k, size, getW(fa, size), m);
      if (k != 7) setW(fa, size, v);
      return next;
    }
    case FAST_TEST_RR: setLazy(LF_LOGIC, size, getW(fa, size) & getW(fb, size), 0, 0); return next;
    case FAST_JCC: {
      if (!condition(<i32>load<u8>(slot + D_FK))) return next;
      return branchTarget(next + load<i64>(slot + D_IMM));
    }
    case FAST_JMP: return branchTarget(next + load<i64>(slot + D_IMM));
    case FAST_LEA: setW(fa, size, fastEa(slot, next)); return next;
    case FAST_IMUL_RRI: setW(fa, size, imulTrunc(size, getW(fb, size), load<i64>(slot + D_IMM))); return next;
    case FAST_IMUL_RR: setW(fa, size, imulTrunc(size, getW(fa, size), getW(fb, size))); return next;
    case FAST_CMOV: {
      // A 32-bit CMOV zero-extends its destination even when the condition is false.
      setW(fa, size, condition(<i32>load<u8>(slot + D_FK)) ? getW(fb, size) : getW(fa, size));
      return next;
    }
    case FAST_STORE8: {
      const la = fastLa(slot, next);
      write8(la, reg8(fb, (load<u8>(slot + D_PFX) & P_REX) != 0));
      return next;
    }
    case FAST_ALU_MR: case FAST_ALU_MI: {
      const k = <i32>load<u8>(slot + D_FK);
      const la = fastLa(slot, next);
      const b = f == FAST_ALU_MR ? getW(fb, size) : load<i64>(slot + D_IMM) & sizeMask(size);
      if (k == 7) { alu(7, size, fastRead(la, size), b); return next; }
      const v = alu(k, size, size == 8 ? readForWrite(la, 8) : readForWrite(la, 4), b);
      fastWrite(la, size, v);
      return next;
    }
    case FAST_STORE_IMM: fastWrite(fastLa(slot, next), size, load<i64>(slot + D_IMM)); return next;
    case FAST_MOVSXD: setReg64(fa, <i64><i32>reg64(fb)); return next;
    case FAST_CALL_IND: {
      const t = branchTarget(load<u8>(slot + D_FK) != 0 ? reg64(fb) : fastRead(fastLa(slot, next), 8));
      const sp = reg64(4) - 8;
      stackAccess();
      fastWrite(sp, 8, next);
      setReg64(4, sp);
      return t;
    }
    case FAST_JMP_IND: return branchTarget(load<u8>(slot + D_FK) != 0 ? reg64(fb) : fastRead(fastLa(slot, next), 8));
    case FAST_INC: setW(fa, size, inc(size, getW(fa, size))); return next;
    case FAST_DEC: setW(fa, size, dec(size, getW(fa, size))); return next;
    case FAST_PUSH: { const sp = reg64(4) - 8; stackAccess(); fastWrite(sp, 8, reg64(fb)); setReg64(4, sp); return next; }
    case FAST_POP: { const sp = reg64(4); stackAccess(); const v = fastRead(sp, 8); setReg64(4, sp + 8); setReg64(fa, v); return next; }
    case FAST_CALL: {
      const t = branchTarget(next + load<i64>(slot + D_IMM));
      const sp = reg64(4) - 8;
      stackAccess();
      fastWrite(sp, 8, next);
      setReg64(4, sp);
      return t;
    }
    case FAST_RET: { const sp = reg64(4); stackAccess(); const t = branchTarget(fastRead(sp, 8)); setReg64(4, sp + 8); return t; }
    case FAST_SHIFT_RI: {
      const k = <i32>load<u8>(slot + D_FK);
      setW(fa, size, shift(k, size, getW(fa, size), <i32>load<i64>(slot + D_IMM)));
      return next;
    }
    default: { // FAST_MOVZX8
      setW(fa, size, <i64>read8(fastLa(slot, next)));
      return next;
    }
  }
}
