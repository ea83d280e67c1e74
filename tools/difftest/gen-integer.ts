// Integer arithmetic and logic categories: ALU ops, INC/DEC/NEG/NOT,
// multiply and divide, shifts and rotates, double shifts, bit tests, bit scans.
import { CaseBuilder, Retry, mask, toSigned, type Operand, type Reg } from './case-builder.js';
import {
  FX, WIDE_SIZES, countOperand, encodeRegForm, immText, littleEndian, lockFor, maskedCount, memOpts,
  pickSize, randomImm, rm, shiftCount, shiftEffect, text,
} from './gen-util.js';
import { Flag } from './layout.js';

const ALU_OPS = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'] as const;

function aluEffect(op: string) {
  if (op === 'adc' || op === 'sbb') return FX.arithCarry;
  if (op === 'and' || op === 'or' || op === 'xor') return FX.logic;
  return FX.arith;
}

/** ADD/OR/ADC/SBB/AND/SUB/XOR/CMP in every encoding. */
export function alu(b: CaseBuilder): void {
  const op = b.rng.pick(ALU_OPS);
  const size = pickSize(b);
  const fx = aluEffect(op);
  const lockable = op !== 'cmp';
  switch (b.rng.pick(['rr', 'rm', 'mr', 'ri', 'mi', 'raw'])) {
    case 'rr': {
      const dir = b.rng.pick(['', '{load} ', '{store} ']);
      b.insn(`${dir}${op} ${b.reg(size, { allowRsp: b.rng.chance(0.05) }).name}, ${b.reg(size).name}`, fx);
      break;
    }
    case 'rm': {
      const m = b.mem(size, memOpts(b));
      b.insn(`${op} ${b.reg(size).name}, ${m.text}`, fx);
      break;
    }
    case 'mr': {
      const m = b.mem(size, memOpts(b));
      b.insn(`${lockable ? lockFor(b, m) : ''}${op} ${m.text}, ${b.reg(size).name}`, fx);
      break;
    }
    case 'ri': {
      const r = b.reg(size, { allowRsp: b.rng.chance(0.05) });
      b.insn(`${op} ${r.name}, ${immText(randomImm(b, size), Math.min(size, 32))}`, fx);
      break;
    }
    case 'mi': {
      const m = b.mem(size, memOpts(b));
      b.insn(`${lockable ? lockFor(b, m) : ''}${op} ${m.text}, ${immText(randomImm(b, size), Math.min(size, 32))}`, fx);
      break;
    }
    default: { // 80/81 /op with a full immediate even where as would pick 83 or the short AL/eAX form
      const r = b.rng.chance(0.3) ? b.fixedReg(0, size) : b.reg(size);
      const immBits = Math.min(size, 32);
      const imm = b.rng.chance(0.5) ? BigInt(b.rng.range(-128, 127)) : randomImm(b, size);
      const opcode = size === 8 ? 0x80 : 0x81;
      const bytes = [...encodeRegForm([opcode], ALU_OPS.indexOf(op), r), ...littleEndian(imm, immBits / 8)];
      b.bytes(bytes, `${op} ${r.name}, ${immText(imm, immBits)}`, fx);
    }
  }
}

/** TEST r/m, r and TEST r/m, imm (incl. the A8/A9 accumulator forms). */
export function test(b: CaseBuilder): void {
  const size = pickSize(b);
  const a = rm(b, size, 0.4, memOpts(b));
  if (b.rng.chance(0.5)) {
    b.insn(`test ${text(a)}, ${b.reg(size).name}`, FX.logic);
  } else {
    const dest = a.kind === 'reg' && b.rng.chance(0.3) ? b.fixedReg(0, size) : a;
    b.insn(`test ${text(dest)}, ${immText(randomImm(b, size), Math.min(size, 32))}`, FX.logic);
  }
}

/** INC/DEC (CF preserved), NEG, NOT on registers and memory, with LOCK. */
export function incDecNegNot(b: CaseBuilder): void {
  const op = b.rng.pick(['inc', 'dec', 'neg', 'not']);
  const size = pickSize(b);
  const dest = rm(b, size, 0.5, memOpts(b));
  if (op === 'neg' && b.rng.chance(0.2)) b.setValue(dest, b.rng.pick([0n, 1n << BigInt(size - 1)]));
  const fx = op === 'neg' ? FX.arith : op === 'not' ? FX.none : FX.incDec;
  b.insn(`${lockFor(b, dest)}${op} ${text(dest)}`, fx);
}

/** One-operand MUL/IMUL (RDX:RAX = RAX * r/m). */
export function mulOneOperand(b: CaseBuilder): void {
  const op = b.rng.pick(['mul', 'imul']);
  const size = pickSize(b);
  const src = rm(b, size, 0.4, memOpts(b));
  b.insn(`${op} ${text(src)}`, FX.mul);
}

/** Two- and three-operand IMUL. */
export function imulMultiOperand(b: CaseBuilder): void {
  const size = pickSize(b, WIDE_SIZES);
  const dest = b.reg(size);
  const src = rm(b, size, 0.4, memOpts(b));
  if (b.rng.chance(0.5)) b.insn(`imul ${dest.name}, ${text(src)}`, FX.mul);
  else b.insn(`imul ${dest.name}, ${text(src)}, ${immText(randomImm(b, size), Math.min(size, 32))}`, FX.mul);
}

/** Whether DIV/IDIV of `dividend` (2*size bits) by `divisor` raises #DE. */
function divideFaults(signed: boolean, size: number, dividend: bigint, divisor: bigint): boolean {
  if (divisor === 0n) return true;
  if (!signed) return dividend / divisor > mask(size);
  const q = toSigned(dividend, 2 * size) / toSigned(divisor, size);
  return q < -(1n << BigInt(size - 1)) || q >= 1n << BigInt(size - 1);
}

/** DIV/IDIV, mostly without #DE, sometimes with it deliberately. */
export function divide(b: CaseBuilder): void {
  const signed = b.rng.chance(0.5);
  const size = pickSize(b);
  const wantFault = b.rng.chance(0.1);
  const lo: Reg = size === 8 ? b.fixedReg(0, 16) : b.fixedReg(0, size);
  const hi: Reg | undefined = size === 8 ? undefined : b.fixedReg(2, size);
  const src = rm(b, size, 0.4, memOpts(b));

  // Build dividend = q * d + r with a quotient that fits, unless a fault is wanted.
  let d = wantFault && b.rng.chance(0.5) ? 0n : b.rng.interesting(size);
  if (d === 0n && !wantFault) d = 1n;
  const sd = signed ? toSigned(d, size) : d;
  const qBits = size - (signed ? 1 : 0);
  let q = wantFault ? (1n << BigInt(qBits)) + BigInt(b.rng.int(1000)) : b.rng.interesting(size) & mask(qBits);
  if (signed && b.rng.chance(0.5)) q = -q;
  const absD = sd < 0n ? -sd : sd;
  const r = absD === 0n ? 0n : (b.rng.u64() % absD);
  let dividend = q * sd;
  dividend += dividend < 0n ? -r : r;
  dividend &= mask(2 * size);

  b.setValue(src, d);
  if (hi) {
    b.setReg(lo.num, (b.gpr[lo.num] & ~mask(size)) | (dividend & mask(size)));
    b.setReg(hi.num, (b.gpr[hi.num] & ~mask(size)) | (dividend >> BigInt(size)));
  } else {
    b.setReg(lo.num, (b.gpr[lo.num] & ~mask(16)) | dividend);
  }
  // The divisor may itself be part of the dividend (e.g. `div rdx`): check what really happens.
  const actualDividend = hi ? (b.value(hi) << BigInt(size)) | b.value(lo) : b.value(lo);
  if (divideFaults(signed, size, actualDividend, b.value(src)) !== wantFault) throw new Retry();
  b.insn(`${signed ? 'idiv' : 'div'} ${text(src)}`, FX.div);
}

/** SHL/SHR/SAR/SAL, ROL/ROR or RCL/RCR by 1, CL or imm8. */
function shiftOrRotate(b: CaseBuilder, ops: readonly string[]): void {
  const op = b.rng.pick(ops);
  const size = pickSize(b);
  const form = b.rng.pick(['1', 'cl', 'imm'] as const);
  const count = form === '1' ? 1 : shiftCount(b);
  const countText = form === '1' ? '1' : countOperand(b, form, count);
  const dest = rm(b, size, 0.4, memOpts(b));
  b.insn(`${op} ${text(dest)}, ${countText}`, shiftEffect(op, size, count));
}

export const shift = (b: CaseBuilder) => shiftOrRotate(b, ['shl', 'shr', 'sar', 'sal']);
export const rotate = (b: CaseBuilder) => shiftOrRotate(b, ['rol', 'ror']);
export const rotateCarry = (b: CaseBuilder) => shiftOrRotate(b, ['rcl', 'rcr']);

/** SHLD/SHRD r/m, r, imm8|CL. */
export function doubleShift(b: CaseBuilder): void {
  const op = b.rng.pick(['shld', 'shrd']);
  const size = pickSize(b, WIDE_SIZES);
  const form = b.rng.pick(['cl', 'imm'] as const);
  const count = shiftCount(b);
  const countText = countOperand(b, form, count);
  const n = maskedCount(count, size);
  const dest = rm(b, size, 0.4, memOpts(b));
  const src = b.reg(size);
  let fx;
  if (n === 0) fx = FX.none;
  else if (n > size) { // SDM: count greater than the operand size leaves result and flags undefined
    if (dest.kind === 'mem') throw new Retry();
    b.undefinedReg(dest.num);
    fx = { undef: FX.arith.writes };
    // Intel cores shift the 48-bit dest:src:dest (what our CPU does): compare with the host where it is Intel.
    b.hostRule({ when: 'intel', compare: { regs: 1 << dest.num, flags: Flag.CF | Flag.SF | Flag.ZF | Flag.PF | Flag.OF } });
  } else {
    fx = { writes: Flag.CF | Flag.SF | Flag.ZF | Flag.PF | (n === 1 ? Flag.OF : 0), undef: Flag.AF | (n === 1 ? 0 : Flag.OF) };
    // OF beyond count 1: Intel's rule (SHLD: CF ^ MSB; SHRD: the top two result bits differ), which our CPU follows.
    if (n !== 1) b.hostRule({ when: 'intel', compare: { flags: Flag.OF } });
  }
  b.insn(`${op} ${text(dest)}, ${src.name}, ${countText}`, fx);
}

/** BT/BTS/BTR/BTC with register and immediate bit offsets, on registers and memory (offsets beyond the operand). */
export function bitTest(b: CaseBuilder): void {
  const op = b.rng.pick(['bt', 'bts', 'btr', 'btc']);
  const size = pickSize(b, WIDE_SIZES);
  const lock = op !== 'bt';
  if (b.rng.chance(0.5)) { // immediate offset: taken modulo the operand size
    const dest = rm(b, size, 0.5, memOpts(b));
    b.insn(`${lock ? lockFor(b, dest) : ''}${op} ${text(dest)}, ${b.rng.int(256)}`, FX.bt);
    return;
  }
  const offsetReg = b.reg(size, { unpinned: true });
  if (b.rng.chance(0.5)) { // register destination: offset taken modulo the operand size
    b.insn(`${op} ${b.reg(size).name}, ${offsetReg.name}`, FX.bt);
    return;
  }
  // Memory destination: the signed offset selects a bit anywhere around the operand.
  const span = 4096;
  const bitOffset = BigInt(b.rng.range(-span * 8, span * 8 - 1));
  b.setRegPart(offsetReg, bitOffset & mask(size));
  const dest = b.mem(size, memOpts(b, { before: span + 8, after: span + 8, align: b.rng.pick([1, size / 8]) }));
  b.insn(`${lock ? lockFor(b, dest) : ''}${op} ${dest.text}, ${offsetReg.name}`, FX.bt);
}

/** BSF/BSR/TZCNT/LZCNT/POPCNT, sometimes with a zero source. */
export function bitScan(b: CaseBuilder): void {
  const op = b.rng.pick(['bsf', 'bsr', 'tzcnt', 'lzcnt', 'popcnt']);
  const size = pickSize(b, WIDE_SIZES);
  const src: Operand = rm(b, size, 0.4, memOpts(b));
  if (b.rng.chance(0.15)) b.setValue(src, 0n);
  else if (b.rng.chance(0.3)) b.setValue(src, 1n << BigInt(b.rng.int(size)));
  const dest = b.reg(size);
  // BSF/BSR of zero: destination undefined (Intel) / unchanged (AMD).
  if ((op === 'bsf' || op === 'bsr') && b.value(src) === 0n) b.undefinedReg(dest.num);
  const fx = op === 'popcnt' ? FX.arith : op === 'bsf' || op === 'bsr' ? FX.bitScan : FX.count;
  b.insn(`${op} ${dest.name}, ${text(src)}`, fx);
}

export const integerCategories = {
  alu, test, 'inc-dec-neg-not': incDecNegNot, mul: mulOneOperand, imul: imulMultiOperand, div: divide,
  shift, rotate, 'rotate-carry': rotateCarry, 'shld-shrd': doubleShift, bt: bitTest, 'bit-scan': bitScan,
} satisfies Record<string, (b: CaseBuilder) => void>;
