// Operands of the instruction being executed: record fields, effective
// addresses, ModRM register/memory operands and the stack.
import { INSN } from './layout';
import {
  D_OP, D_LEN, D_PFX, D_OSIZE, D_ASIZE, D_SEG, D_MOD, D_REG, D_RM, D_BASE, D_INDEX, D_SCALE,
  D_SEGOVR, D_SSE, D_DISP, D_IMM, D_IMM2, D_REX, R_RIP, P_REX, P_OPSZ,
} from './decode';
import { reg64, setReg64, regN, setRegN, segBase, mode64, linearMask, stackSize, SEG_SS } from './state';
import { readN, writeN } from './mem';
import { segmentAccess } from './paging';

/** The record being executed (INSN now; a slot of the decoded-block cache later). */
export let insn: usize = INSN;
export function setInsn(p: usize): void { insn = p; }
/** RIP of the next instruction; branches overwrite it. */
export let nextRip: i64 = 0;
export function setNextRip(v: i64): void { nextRip = v; }

// @ts-ignore: decorator
@inline export function dOp(): i32 { return load<u16>(insn + D_OP); }
// @ts-ignore: decorator
@inline export function dLen(): i32 { return load<u8>(insn + D_LEN); }
// @ts-ignore: decorator
@inline export function dPfx(): i32 { return load<u8>(insn + D_PFX); }
// @ts-ignore: decorator
@inline export function dOsize(): i32 { return load<u8>(insn + D_OSIZE); }
// @ts-ignore: decorator
@inline export function dAsize(): i32 { return load<u8>(insn + D_ASIZE); }
// @ts-ignore: decorator
@inline export function dSeg(): i32 { return load<u8>(insn + D_SEG); }
// @ts-ignore: decorator
@inline export function dSegOverride(): i32 { return load<u8>(insn + D_SEGOVR); }
// @ts-ignore: decorator
@inline export function dMod(): i32 { return load<u8>(insn + D_MOD); }
// @ts-ignore: decorator
@inline export function dReg(): i32 { return load<u8>(insn + D_REG); }
// @ts-ignore: decorator
@inline export function dRm(): i32 { return load<u8>(insn + D_RM); }
// @ts-ignore: decorator
@inline export function dSse(): i32 { return load<u8>(insn + D_SSE); }
// @ts-ignore: decorator
@inline export function dImm(): i64 { return load<i64>(insn + D_IMM); }
// @ts-ignore: decorator
@inline export function dImm2(): i32 { return load<i32>(insn + D_IMM2); }
// @ts-ignore: decorator
@inline export function hasRex(): bool { return (load<u8>(insn + D_PFX) & P_REX) != 0; }
/** The register in the low 3 bits of the opcode (PUSH r, MOV r,imm, BSWAP...), extended by REX.B. */
// @ts-ignore: decorator
@inline export function opcodeReg(op: i32): i32 { return (op & 7) | ((load<u8>(insn + D_REX) & 1) << 3); }
// @ts-ignore: decorator
@inline export function isRegForm(): bool { return load<u8>(insn + D_MOD) == 3; }

/** Operand size of instructions that default to 64 bits in long mode (PUSH, POP, near branches). */
export function stackOpSize(): i32 {
  if (mode64) return (dPfx() & P_OPSZ) != 0 ? 2 : 8;
  return dOsize();
}

/** Effective address (offset within the segment), wrapped to the address size. */
export function effAddr(): i64 {
  // A missing base or index is R_ZERO, a register that always holds 0.
  const base = load<u8>(insn + D_BASE);
  const a = <i64>load<i32>(insn + D_DISP) + (base == R_RIP ? nextRip : reg64(base)) +
    (reg64(load<u8>(insn + D_INDEX)) << <i64>load<u8>(insn + D_SCALE));
  const as = dAsize();
  if (as == 4) return a & 0xffffffff;
  if (as == 2) return a & 0xffff;
  return a;
}

/** Linear address of offset `off` in segment `seg` (64-bit mode ignores ES/CS/SS/DS bases). */
export function segLinear(seg: i32, off: i64): i64 {
  segmentAccess(seg);
  if (mode64) return seg >= 4 ? segBase(seg) + off : off;
  return (segBase(seg) + off) & linearMask;
}

/** Linear address of the ModRM memory operand. */
// @ts-ignore: decorator
@inline export function memLa(): i64 { return segLinear(dSeg(), effAddr()); }

/** The ModRM r/m operand of `size` bytes, zero-extended. */
export function rmRead(size: i32): i64 {
  if (isRegForm()) return regN(dRm(), size, hasRex());
  return readN(memLa(), size);
}
export function rmWrite(size: i32, v: i64): void {
  if (isRegForm()) setRegN(dRm(), size, hasRex(), v);
  else writeN(memLa(), size, v);
}
/** The ModRM reg operand. */
// @ts-ignore: decorator
@inline export function regRead(size: i32): i64 { return regN(dReg(), size, hasRex()); }
// @ts-ignore: decorator
@inline export function regWrite(size: i32, v: i64): void { setRegN(dReg(), size, hasRex(), v); }

// ---- stack ----
/** Stack pointer after adjusting by `delta`, wrapped to the stack width. */
function spAdd(delta: i64): i64 {
  const sp = reg64(4) + delta;
  if (stackSize == 8) return sp;
  if (stackSize == 4) return sp & 0xffffffff;
  return sp & 0xffff;
}
export function setSp(v: i64): void {
  if (stackSize == 8) setReg64(4, v);
  else if (stackSize == 4) setReg64(4, v & 0xffffffff);
  else setReg64(4, (reg64(4) & ~0xffff) | (v & 0xffff));
}

export function push(size: i32, v: i64): void {
  const sp = spAdd(-size);
  writeN(segLinear(SEG_SS, sp), size, v);
  setSp(sp);
}
/** Read the value `offset` bytes above the stack pointer without popping it. */
export function stackPeek(size: i32, offset: i32): i64 {
  return readN(segLinear(SEG_SS, spAdd(offset)), size);
}
export function pop(size: i32): i64 {
  const v = readN(segLinear(SEG_SS, spAdd(0)), size);
  setSp(spAdd(size));
  return v;
}
/** Write `v` at `offset` below the stack pointer (multi-part pushes check all before committing). */
export function stackWriteAt(offset: i32, size: i32, v: i64): void {
  writeN(segLinear(SEG_SS, spAdd(offset)), size, v);
}
export function spAfter(delta: i32): i64 { return spAdd(delta); }
