// Shared pieces of the category generators: flag effects from the manuals,
// condition codes, operand pickers and a raw encoder for forms `as` avoids.
import { CaseBuilder, hexSigned, mask, toSigned, type FlagEffect, type Operand, type Reg, type Size, type MemOptions } from './case-builder.js';
import { ARITH_FLAGS, Flag } from './layout.js';

const { CF, PF, AF, ZF, SF, OF } = Flag;

/** Flag effects per instruction class (Intel SDM / AMD APM "flags affected"). */
export const FX = {
  none: {},
  arith: { writes: ARITH_FLAGS },
  arithCarry: { reads: CF, writes: ARITH_FLAGS },
  logic: { writes: CF | OF | SF | ZF | PF, undef: AF },
  incDec: { writes: OF | SF | ZF | AF | PF },
  mul: { writes: CF | OF, undef: SF | ZF | AF | PF },
  div: { undef: ARITH_FLAGS },
  bt: { writes: CF, undef: OF | SF | AF | PF },
  bitScan: { writes: ZF, undef: CF | OF | SF | AF | PF },
  count: { writes: CF | ZF, undef: OF | SF | AF | PF },
  zfOnly: { writes: ZF },
} satisfies Record<string, FlagEffect>;

/** Condition codes with the flags each one reads. */
export const CONDITIONS: readonly { cc: string; reads: number }[] = [
  { cc: 'o', reads: OF }, { cc: 'no', reads: OF }, { cc: 'b', reads: CF }, { cc: 'ae', reads: CF },
  { cc: 'e', reads: ZF }, { cc: 'ne', reads: ZF }, { cc: 'be', reads: CF | ZF }, { cc: 'a', reads: CF | ZF },
  { cc: 's', reads: SF }, { cc: 'ns', reads: SF }, { cc: 'p', reads: PF }, { cc: 'np', reads: PF },
  { cc: 'l', reads: SF | OF }, { cc: 'ge', reads: SF | OF }, { cc: 'le', reads: ZF | SF | OF }, { cc: 'g', reads: ZF | SF | OF },
];

export const ALL_SIZES: readonly Size[] = [8, 16, 32, 64];
export const WIDE_SIZES: readonly Size[] = [16, 32, 64];

/** Pick an operand size; for 8 bits also decide between AH..BH and REX byte registers. */
export function pickSize(b: CaseBuilder, sizes: readonly Size[] = ALL_SIZES): Size {
  const size = b.rng.pick(sizes);
  if (size === 8) b.chooseByteMode();
  return size;
}

/** A register or (with probability `memChance`) memory operand of `size` bits. */
export function rm(b: CaseBuilder, size: Size, memChance = 0.5, memOpts: MemOptions = {}): Operand {
  if (b.rng.chance(memChance)) return b.mem(size, memOpts);
  return b.reg(size, { allowRsp: b.rng.chance(0.05) });
}

export function text(op: Operand): string {
  return op.kind === 'reg' ? op.name : op.text;
}

/** Occasionally use 32-bit addressing for a memory operand. */
export function memOpts(b: CaseBuilder, extra: MemOptions = {}): MemOptions {
  return { addr32: b.rng.chance(0.15), ...extra };
}

/** `lock ` sometimes, for a memory destination of a lockable instruction. */
export function lockFor(b: CaseBuilder, dest: Operand): string {
  return dest.kind === 'mem' && b.rng.chance(0.3) ? 'lock ' : '';
}

/** An immediate of `bits` (sign-extended to the operand when shorter), as assembly text. */
export function immText(value: bigint, bits: number): string {
  return hexSigned(toSigned(value & mask(bits), bits));
}

/** A random immediate for an operand of `size`: imm8-sized half the time, else full (imm32 for 64). */
export function randomImm(b: CaseBuilder, size: Size): bigint {
  if (b.rng.chance(0.5)) return toSigned(b.rng.interesting(8), 8);
  return toSigned(b.rng.interesting(Math.min(size, 32)), Math.min(size, 32));
}

/** Prefixes and ModRM for `opcode /ext` with a register r/m operand, as raw bytes. */
export function encodeRegForm(opcode: number[], ext: number, r: Reg): number[] {
  const out: number[] = [];
  if (r.size === 16) out.push(0x66);
  const rexB = r.num >= 8 ? 1 : 0;
  const needsRex = r.size === 64 || rexB === 1 || (r.size === 8 && !r.high && r.num >= 4);
  if (needsRex) out.push(0x40 | (r.size === 64 ? 8 : 0) | rexB);
  const rmField = r.high ? r.num + 4 : r.num & 7;
  out.push(...opcode, 0xc0 | (ext << 3) | rmField);
  return out;
}

export function littleEndian(value: bigint, bytes: number): number[] {
  return Array.from({ length: bytes }, (_, i) => Number((value >> BigInt(8 * i)) & 0xffn));
}

/** Shift/rotate count for a CL or imm8 form: mostly 0..70, sometimes any byte. */
export function shiftCount(b: CaseBuilder): number {
  return b.rng.chance(0.75) ? b.rng.range(0, 70) : b.rng.int(256);
}

/** Masked count of a shift or rotate (5 bits, 6 for 64-bit operands). */
export function maskedCount(count: number, size: Size): number {
  return count & (size === 64 ? 63 : 31);
}

/** Flags after SHL/SHR/SAR/ROL/ROR/RCL/RCR by `count` (SDM: "Flags Affected" of SAL/SAR/SHL/SHR and RCL/RCR/ROL/ROR). */
export function shiftEffect(op: string, size: Size, count: number): FlagEffect {
  const n = maskedCount(count, size);
  const rotate = op === 'rol' || op === 'ror';
  const rotateCarry = op === 'rcl' || op === 'rcr';
  const reads = rotateCarry ? CF : 0;
  if (n === 0) return { reads };
  const ofFx = n === 1 ? { writes: OF } : { undef: OF };
  if (rotate || rotateCarry) return { reads, writes: CF | (ofFx.writes ?? 0), undef: ofFx.undef ?? 0 };
  // SHL/SHR leave CF undefined when the count is at least the operand size (SAR does not).
  const cfUndef = (op === 'shl' || op === 'sal' || op === 'shr') && n >= size;
  return {
    writes: SF | ZF | PF | (cfUndef ? 0 : CF) | (ofFx.writes ?? 0),
    undef: AF | (cfUndef ? CF : 0) | (ofFx.undef ?? 0),
  };
}

/** Set CL (pinning RCX) to a count, or return the count as an immediate text. */
export function countOperand(b: CaseBuilder, form: 'cl' | 'imm', count: number): string {
  if (form === 'cl') {
    b.setRegPart(b.fixedReg(1, 8), BigInt(count));
    return 'cl';
  }
  return String(count);
}
