// Data movement categories: MOV in all forms, MOVZX/MOVSX/MOVSXD, LEA,
// XCHG/XADD/CMPXCHG, CMPXCHG8B/16B, BSWAP, sign extensions, XLAT, NOPs.
import { CaseBuilder, hexSigned, mask, registerName, type Operand, type Size } from './case-builder.js';
import {
  FX, WIDE_SIZES, encodeRegForm, immText, littleEndian, lockFor, memOpts, pickSize, randomImm, rm, text,
} from './gen-util.js';
import { DATA_BASE, HEAP_SIZE } from './layout.js';

/** MOV r/m, r; r, r/m; r, imm (B0/B8, C7, imm64); r/m, imm; moffs (A0-A3). */
export function mov(b: CaseBuilder): void {
  const size = pickSize(b);
  switch (b.rng.pick(['rr', 'rm', 'mr', 'ri', 'mi', 'moffs', 'rawC7'])) {
    case 'rr':
      b.insn(`${b.rng.pick(['', '{load} ', '{store} '])}mov ${b.reg(size, { allowRsp: b.rng.chance(0.05) }).name}, ${b.reg(size, { allowRsp: true }).name}`);
      break;
    case 'rm': {
      const m = b.mem(size, memOpts(b));
      b.insn(`mov ${b.reg(size).name}, ${m.text}`);
      break;
    }
    case 'mr': {
      const m = b.mem(size, memOpts(b));
      b.insn(`mov ${m.text}, ${b.reg(size, { allowRsp: true }).name}`);
      break;
    }
    case 'ri': {
      const r = b.reg(size);
      if (size === 64 && b.rng.chance(0.5)) b.insn(`movabs ${r.name}, 0x${b.rng.interesting(64).toString(16)}`);
      else b.insn(`mov ${r.name}, ${immText(randomImm(b, size), Math.min(size, 32))}`);
      break;
    }
    case 'mi': {
      const m = b.mem(size, memOpts(b));
      b.insn(`mov ${m.text}, ${immText(randomImm(b, size), Math.min(size, 32))}`);
      break;
    }
    case 'moffs': { // accumulator <-> absolute address (64-bit, or 32-bit with 67)
      const addr32 = b.rng.chance(0.3);
      const m = b.mem(size, { registerBased: true });
      const acc = b.fixedReg(0, size);
      const where = `[0x${(DATA_BASE + m.offset).toString(16)}]`;
      const prefix = addr32 ? 'addr32 ' : '';
      if (b.rng.chance(0.5)) b.insn(`${prefix}movabs ${acc.name}, ${where}`);
      else b.insn(`${prefix}movabs ${where}, ${acc.name}`);
      break;
    }
    default: { // C7 /0 with a 32-bit register, which as encodes as B8+r
      const r = b.reg(32);
      const imm = b.rng.interesting(32);
      b.bytes([...encodeRegForm([0xc7], 0, r), ...littleEndian(imm, 4)], `mov ${r.name}, 0x${imm.toString(16)}`);
    }
  }
}

/** MOVZX/MOVSX from 8 and 16 bits, MOVSXD (also without REX.W). */
export function movExtend(b: CaseBuilder): void {
  if (b.rng.chance(0.25)) {
    const dest = b.reg(b.rng.pick([32, 64] as const));
    b.insn(`movsxd ${dest.name}, ${text(rm(b, 32, 0.5, memOpts(b)))}`);
    return;
  }
  const op = b.rng.pick(['movzx', 'movsx']);
  const srcSize = b.rng.pick([8, 16] as const);
  const destSize = b.rng.pick(WIDE_SIZES.filter((s) => s > srcSize));
  if (srcSize === 8 && destSize !== 64) b.chooseByteMode();
  const dest = b.reg(destSize);
  const src = rm(b, srcSize, 0.5, memOpts(b));
  b.insn(`${op} ${dest.name}, ${text(src)}`);
}

/** LEA with 64- and 32-bit addressing into 16/32/64-bit destinations; no memory is accessed. */
export function lea(b: CaseBuilder): void {
  const size = b.rng.pick(WIDE_SIZES);
  const addr32 = b.rng.chance(0.3);
  let addr: string;
  if (b.rng.chance(0.5)) {
    addr = b.addressOf(b.rng.int(HEAP_SIZE), { addr32 });
  } else { // arbitrary register values: the address is only computed
    const regName = (n: number) => registerName(n, addr32 ? 32 : 64);
    const parts: string[] = [];
    if (b.rng.chance(0.8)) parts.push(regName(b.rng.int(16)));
    if (b.rng.chance(0.6)) parts.push(`${regName(b.rng.pick([0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]))}*${b.rng.pick([1, 2, 4, 8])}`);
    parts.push(hexSigned(BigInt(b.rng.u32() | 0) >> BigInt(b.rng.int(32))));
    addr = `[${parts.join(' + ')}]`;
  }
  b.insn(`lea ${b.reg(size).name}, ${addr}`);
}

/** XCHG (incl. the 90+r accumulator forms), XADD and CMPXCHG, with LOCK. */
export function exchange(b: CaseBuilder): void {
  const op = b.rng.pick(['xchg', 'xadd', 'cmpxchg']);
  const size = pickSize(b);
  const dest = op === 'xchg' && b.rng.chance(0.3) ? b.fixedReg(0, size) : rm(b, size, 0.5, memOpts(b));
  const src = b.reg(size);
  if (op === 'cmpxchg' && b.rng.chance(0.5)) { // make the comparison succeed
    const acc = b.fixedReg(0, size);
    if (!b.isPinned(0)) b.setValue(acc, b.value(dest));
    else b.setValue(dest, b.value(acc));
  }
  const fx = op === 'xchg' ? FX.none : FX.arith;
  b.insn(`${lockFor(b, dest)}${op} ${text(dest)}, ${src.name}`, fx);
}

/** CMPXCHG8B/CMPXCHG16B, matching or not; 16B sometimes misaligned (#GP). */
export function cmpxchgWide(b: CaseBuilder): void {
  const wide = b.rng.chance(0.5);
  const bytes = wide ? 16 : 8;
  const misalign = wide && b.rng.chance(0.1) ? b.rng.pick([1, 4, 8]) : 0;
  const m = b.mem(bytes * 8, memOpts(b, { align: wide ? 16 : b.rng.pick([1, 8]), misalign }));
  const half = bytes * 4;
  if (b.rng.chance(0.5)) { // memory equals EDX:EAX (RDX:RAX)
    const expected = ((b.gpr[2] & mask(half)) << BigInt(half)) | (b.gpr[0] & mask(half));
    b.write(m.offset, bytes, expected);
  }
  b.insn(`${lockFor(b, m)}${wide ? 'cmpxchg16b' : 'cmpxchg8b'} ${m.text}`, FX.zfOnly);
}

export function bswap(b: CaseBuilder): void {
  b.insn(`bswap ${b.reg(b.rng.pick([32, 64] as const)).name}`);
}

/** CBW/CWDE/CDQE/CWD/CDQ/CQO. */
export function signExtendAccumulator(b: CaseBuilder): void {
  const op = b.rng.pick(['cbw', 'cwde', 'cdqe', 'cwd', 'cdq', 'cqo']);
  const bits = { cbw: 8, cwde: 16, cdqe: 32, cwd: 16, cdq: 32, cqo: 64 }[op] as Size;
  b.setValue(b.fixedReg(0, bits), b.rng.interesting(bits));
  b.insn(op);
}

/** XLAT: AL = [RBX + AL] (EBX with 67). */
export function xlat(b: CaseBuilder): void {
  const addr32 = b.rng.chance(0.3);
  const table = b.rng.int(HEAP_SIZE - 256);
  const base = BigInt(DATA_BASE + table);
  b.setReg(3, addr32 ? (b.rng.u64() & ~mask(32)) | base : base);
  b.insn(addr32 ? 'addr32 xlat' : 'xlat');
}

const MULTI_BYTE_NOPS: number[][] = [
  [0x90], [0x66, 0x90], [0xf3, 0x90], [0x0f, 0x1f, 0x00], [0x0f, 0x1f, 0x40, 0x00],
  [0x0f, 0x1f, 0x44, 0x00, 0x00], [0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
  [0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00], [0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
  [0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
  [0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
  [0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];

/** Instructions with no architectural effect here: hint-space CET instructions, fences, prefetches. */
const HINTS = ['endbr64', 'endbr32', 'rdsspq', 'rdsspd', 'lfence', 'sfence', 'mfence', 'prefetch'];

/** NOP, PAUSE, the 0F 1F forms (which take a ModRM but access nothing), and hint-like instructions. */
export function nop(b: CaseBuilder): void {
  if (b.rng.chance(0.3)) {
    const hint = b.rng.pick(HINTS);
    if (hint.startsWith('rdssp')) b.insn(`${hint} ${b.reg(hint === 'rdsspq' ? 64 : 32).name}`); // NOP without shadow stacks
    else if (hint === 'prefetch') { // never faults, whatever the address
      const where = b.rng.chance(0.7) ? b.mem(8, memOpts(b)).text : `byte ptr [${b.reg(64, { allowRsp: true }).name}]`;
      b.insn(`${b.rng.pick(['prefetcht0', 'prefetcht1', 'prefetcht2', 'prefetchnta'])} ${where}`);
    } else b.insn(hint);
    return;
  }
  if (b.rng.chance(0.5)) {
    const n = b.rng.pick(MULTI_BYTE_NOPS);
    b.bytes(n, 'nop');
  } else {
    const size = b.rng.pick([16, 32] as const);
    const target: Operand = b.rng.chance(0.3) ? b.reg(size, { allowRsp: true }) : b.mem(size, memOpts(b));
    b.insn(`nop ${text(target)}`);
  }
}

export const dataCategories = {
  mov, 'movzx-movsx': movExtend, lea, 'xchg-xadd-cmpxchg': exchange, 'cmpxchg8b-16b': cmpxchgWide,
  bswap, 'cbw-cwd': signExtendAccumulator, xlat, nop,
} satisfies Record<string, (b: CaseBuilder) => void>;
