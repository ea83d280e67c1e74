// Control flow, stack and flag categories: CMOVcc/SETcc/Jcc, LOOP/JrCXZ,
// CALL/RET, PUSH/POP, PUSHF/POPF, ENTER/LEAVE, flag instructions, string
// instructions, and chains of flag producers and consumers.
import { CaseBuilder, RBP, RSP, mask, type FlagEffect, type Size } from './case-builder.js';
import {
  ALL_SIZES, CONDITIONS, FX, WIDE_SIZES, immText, memOpts, randomImm, rm, shiftEffect, text,
} from './gen-util.js';
import { ARITH_FLAGS, DATA_BASE, Flag, HEAP_SIZE, STACK_TOP } from './layout.js';

/** CMOVcc r, r/m (a false 32-bit CMOV still zero-extends). */
export function cmov(b: CaseBuilder): void {
  const { cc, reads } = b.rng.pick(CONDITIONS);
  const size = b.rng.pick(WIDE_SIZES);
  const src = rm(b, size, 0.4, memOpts(b));
  b.insn(`cmov${cc} ${b.reg(size).name}, ${text(src)}`, { reads });
}

export function setcc(b: CaseBuilder): void {
  const { cc, reads } = b.rng.pick(CONDITIONS);
  b.chooseByteMode();
  b.insn(`set${cc} ${text(rm(b, 8, 0.4, memOpts(b)))}`, { reads });
}

/** A marker the skipped path leaves behind, so taken and not-taken differ. */
function marker(b: CaseBuilder): void {
  const r = b.reg(32, { unpinned: true });
  b.clobber(r.num);
  b.insn(`mov ${r.name}, 0x${(b.rng.u32() >>> 0).toString(16)}`);
}

/** Jcc / JMP forward, short and near, over a marker. */
export function jcc(b: CaseBuilder): void {
  const near = b.rng.chance(0.4) ? '{disp32} ' : '';
  if (b.rng.chance(0.15)) b.insn(`${near}jmp {L}t`);
  else {
    const { cc, reads } = b.rng.pick(CONDITIONS);
    b.insn(`${near}j${cc} {L}t`, { reads });
  }
  marker(b);
  b.label('t');
  marker(b);
}

/** LOOP/LOOPE/LOOPNE and JRCXZ/JECXZ forward, with RCX (ECX with 67) near zero. */
export function loop(b: CaseBuilder): void {
  const addr32 = b.rng.chance(0.3);
  const count = b.rng.pick([0n, 1n, 2n, mask(32), mask(64), 1n << 32n, b.rng.u64()]);
  b.setReg(1, count);
  const op = b.rng.pick(['loop', 'loope', 'loopne', 'jrcxz']);
  const reads = op === 'loope' || op === 'loopne' ? Flag.ZF : 0;
  const name = op === 'jrcxz' && addr32 ? 'jecxz' : op;
  b.insn(`${addr32 && op !== 'jrcxz' ? 'addr32 ' : ''}${name} {L}t`, { reads });
  marker(b);
  b.label('t');
  marker(b);
}

/**
 * CALL rel32 / r / m to a subroutine inside the case and RET / RET imm16 back, or JMP r / m
 * past it; with the BND (F2) and NOTRACK (3E) prefixes that are ignored without MPX and CET.
 */
export function callRet(b: CaseBuilder): void {
  const kind = b.rng.pick(['call', 'callReg', 'callMem', 'jmpReg', 'jmpMem']);
  const bnd = b.rng.chance(0.15) ? 'bnd ' : '';
  if (kind === 'call') b.insn(`${bnd}call {L}sub`);
  else {
    const [op, how] = kind.split(/(?=[RM])/);
    const target = op === 'jmp' ? 'end' : 'sub';
    // NOTRACK is the DS-override byte: not combinable with a segment override on the memory form.
    const prefix = how === 'Reg' && b.rng.chance(0.2) ? 'notrack ' : bnd;
    const r = b.reg(64, { unpinned: true });
    b.setReg(r.num, 0n); // its value comes from the LEA
    b.insn(`lea ${r.name}, [rip + {L}${target}]`);
    if (how === 'Reg') b.insn(`${prefix}${op} ${r.name}`);
    else {
      const m = b.mem(64, { registerBased: true, noPinnedBase: true });
      b.insn(`mov ${m.text}, ${r.name}`);
      b.insn(`${prefix}${op} ${m.text}`);
    }
  }
  marker(b);
  b.insn('jmp {L}end');
  b.label('sub');
  marker(b);
  const pop = b.rng.chance(0.3) ? b.rng.pick([8, 16, 0x100, 0x1234]) : 0;
  b.insn(pop ? `${bnd}ret ${pop}` : b.rng.pick(['ret', 'rep ret', 'bnd ret']));
  b.label('end');
}

/** A memory operand safe to use while RSP moves (it is not based on RSP). */
function stackSafeMem(b: CaseBuilder, bits: number) {
  return b.mem(bits, memOpts(b, { noPinnedBase: true, before: 64, after: 64 }));
}

/** Sequences of PUSH/POP of registers, immediates and memory, 64- and 16-bit. */
export function pushPop(b: CaseBuilder): void {
  const n = b.rng.range(1, 4);
  for (let i = 0; i < n; i++) {
    const size = b.rng.chance(0.8) ? 64 : 16;
    switch (b.rng.pick(['pushReg', 'popReg', 'pushImm', 'pushMem', 'popMem', 'popRspRelative'])) {
      case 'pushReg': b.insn(`push ${b.reg(size, { allowRsp: b.rng.chance(0.1) }).name}`); break;
      case 'popReg': {
        const r = b.reg(size, { unpinned: true });
        b.clobber(r.num);
        b.insn(`pop ${r.name}`);
        break;
      }
      case 'pushImm':
        if (size === 16) b.insn(`pushw ${immText(b.rng.interesting(16), 16)}`);
        else b.insn(`push ${immText(randomImm(b, 32), 32)}`);
        break;
      case 'pushMem': b.insn(`push ${stackSafeMem(b, size).text}`); break;
      case 'popMem': b.insn(`pop ${stackSafeMem(b, size).text}`); break;
      default: // POP into an RSP-relative operand: the address uses RSP after the pop
        b.insn(`pop ${size === 64 ? 'qword' : 'word'} ptr [rsp + ${b.rng.range(-32, 32)}]`);
    }
  }
}

/** PUSHF/POPF (64- and 16-bit) with random values to pop (TF kept clear). */
export function pushfPopf(b: CaseBuilder): void {
  const wide = b.rng.chance(0.7);
  if (b.rng.chance(0.4)) {
    b.insn(wide ? 'pushfq' : 'pushfw', { reads: ARITH_FLAGS });
    return;
  }
  const rspOffset = Number(b.gpr[RSP]) - DATA_BASE;
  // Any value but TF (single-stepping would stop the case); reserved bits are ignored.
  const value = b.rng.u64() & ~BigInt(Flag.TF);
  b.write(rspOffset, wide ? 8 : 2, value);
  b.insn(wide ? 'popfq' : 'popfw', { writes: ARITH_FLAGS });
  if (b.rng.chance(0.5)) b.insn(wide ? 'pushfq' : 'pushfw', { reads: ARITH_FLAGS });
}

/** ENTER with nesting levels 0..3 and LEAVE, with RBP pointing into the stack area. */
export function enterLeave(b: CaseBuilder): void {
  b.setReg(RBP, BigInt(DATA_BASE + STACK_TOP + 0x400 + 8 * b.rng.int(64) + (b.rng.chance(0.1) ? 4 : 0)));
  if (b.rng.chance(0.6)) {
    const level = b.rng.chance(0.8) ? b.rng.range(0, 3) : b.rng.range(32, 35);
    // The host touches the new stack top; keep it inside the data region, which the guest maps alike.
    b.insn(`enter ${b.rng.pick([0, 8, 0x20, 0x1000, b.rng.int(0x4000)])}, ${level}`);
    if (b.rng.chance(0.5)) b.insn('leave');
  } else b.insn('leave');
}

/** LAHF/SAHF/CLC/STC/CMC/CLD/STD sequences. */
export function flagOps(b: CaseBuilder): void {
  const n = b.rng.range(1, 4);
  for (let i = 0; i < n; i++) {
    const op = b.rng.pick(['lahf', 'sahf', 'clc', 'stc', 'cmc', 'cld', 'std']);
    const fx: FlagEffect = op === 'lahf' ? { reads: ARITH_FLAGS & ~Flag.OF }
      : op === 'sahf' ? { writes: ARITH_FLAGS & ~Flag.OF }
        : op === 'cmc' ? { reads: Flag.CF, writes: Flag.CF }
          : op === 'cld' || op === 'std' ? {} : { writes: Flag.CF };
    b.insn(op, fx);
  }
}

const STRING_OPS = ['movs', 'stos', 'lods', 'scas', 'cmps'] as const;
const STRING_SUFFIX: Record<Size, string> = { 8: 'b', 16: 'w', 32: 'd', 64: 'q' };

/** String instructions with and without REP/REPE/REPNE, both directions, 64- and 32-bit addressing. */
export function strings(b: CaseBuilder): void {
  const op = b.rng.pick(STRING_OPS);
  const size = b.rng.pick(ALL_SIZES);
  const width = size / 8;
  const compares = op === 'scas' || op === 'cmps';
  const prefix = b.rng.pick(compares ? ['', 'repe ', 'repne '] : ['', 'rep ']);
  const addr32 = b.rng.chance(0.2);
  const count = prefix ? b.rng.pick([0, 1, 2, 3, b.rng.range(4, 40)]) : 1;
  const down = (b.rflags & BigInt(Flag.DF)) !== 0n;
  const span = Math.max(count, 1) * width;
  const garbage = () => (addr32 ? b.rng.u64() & ~mask(32) : 0n);
  // Place a buffer of `span` bytes that the string walks from its first element.
  const buffer = (): number => {
    const start = 16 + b.rng.int(HEAP_SIZE - 2 * span - 48) + (b.rng.chance(0.5) ? 0 : b.rng.int(width));
    return down ? start + span - width : start;
  };
  b.setReg(1, prefix ? garbage() | BigInt(count) : b.rng.u64());
  const usesSource = op === 'movs' || op === 'lods' || op === 'cmps';
  const usesDest = op !== 'lods';
  const src = usesSource ? buffer() : 0;
  const dst = usesDest ? buffer() : 0;
  if (usesSource) b.setReg(6, garbage() | BigInt(DATA_BASE + src));
  if (usesDest) b.setReg(7, garbage() | BigInt(DATA_BASE + dst));
  if (compares && b.rng.chance(0.5)) { // let REPE run for a while: make a prefix of elements match
    const matching = b.rng.int(count + 1);
    for (let i = 0; i < matching; i++) {
      const step = (down ? -i : i) * width;
      if (op === 'cmps') b.write(dst + step, width, b.read(src + step, width));
      else b.write(dst + step, width, b.gpr[0] & mask(size));
    }
  }
  if (addr32 && prefix && count === 0) {
    // Hosts with fast short REP write ECX/ESI/EDI back even for no iteration, zero-extending them.
    const upper = ~mask(32) & mask(64);
    b.hostRule({ when: 'fast-short-rep', ignore: { regBits: [[1, upper], [6, upper], [7, upper]] } });
  }
  b.insn(`${addr32 ? 'addr32 ' : ''}${prefix}${op}${STRING_SUFFIX[size]}`, compares ? FX.arith : FX.none);
}

/** One register-only instruction that produces or consumes flags, for chains. */
function chainLink(b: CaseBuilder, undefinedNow: number): void {
  const size = b.rng.pick(ALL_SIZES);
  const r = () => b.reg(size, { noHigh: true });
  const choices: [string, FlagEffect][] = [];
  const aluOp = b.rng.pick(['add', 'adc', 'sub', 'sbb', 'and', 'or', 'xor', 'cmp']);
  const aluFx = aluOp === 'adc' || aluOp === 'sbb' ? FX.arithCarry : ['and', 'or', 'xor'].includes(aluOp) ? FX.logic : FX.arith;
  choices.push([`${aluOp} ${r().name}, ${r().name}`, aluFx]);
  choices.push([`${aluOp} ${r().name}, ${immText(randomImm(b, size), Math.min(size, 32))}`, aluFx]);
  choices.push([`${b.rng.pick(['inc', 'dec'])} ${r().name}`, FX.incDec]);
  choices.push([`neg ${r().name}`, FX.arith]);
  choices.push([`test ${r().name}, ${r().name}`, FX.logic]);
  const shiftOp = b.rng.pick(['shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr']);
  const count = b.rng.pick([1, 1, b.rng.range(0, 9)]);
  choices.push([`${shiftOp} ${r().name}, ${count}`, shiftEffect(shiftOp, size, count)]);
  choices.push([b.rng.pick(['clc', 'stc']), { writes: Flag.CF }], ['cmc', { reads: Flag.CF, writes: Flag.CF }]);
  const { cc, reads } = b.rng.pick(CONDITIONS);
  choices.push([`set${cc} ${b.reg(8, { noHigh: true }).name}`, { reads }]);
  if (size !== 8) choices.push([`cmov${cc} ${r().name}, ${r().name}`, { reads }]);
  choices.push(['lahf', { reads: ARITH_FLAGS & ~Flag.OF }], ['sahf', { writes: ARITH_FLAGS & ~Flag.OF }]);
  if (size !== 8) choices.push([`bt ${r().name}, ${b.rng.int(64)}`, FX.bt]);
  if (size !== 8) choices.push([`imul ${r().name}, ${r().name}`, FX.mul]);
  choices.push([`popcnt ${b.reg(32).name}, ${b.reg(32).name}`, FX.arith]);
  choices.push([`lea ${b.reg(64).name}, [${b.reg(64).name} + ${b.rng.range(-9, 9)}]`, {}]);
  const usable = choices.filter(([, fx]) => ((fx.reads ?? 0) & undefinedNow) === 0);
  const [insn, fx] = b.rng.pick(usable);
  b.insn(insn, fx);
}

/** Chains of flag producers and consumers (ADC after CMP, SETcc after INC, ...), incl. branches. */
export function flagChain(b: CaseBuilder): void {
  const n = b.rng.range(2, 7);
  let undefinedNow = 0;
  for (let i = 0; i < n; i++) {
    if (b.rng.chance(0.15)) {
      const usable = CONDITIONS.filter((c) => (c.reads & undefinedNow) === 0);
      const { cc, reads } = b.rng.pick(usable);
      b.insn(`j${cc} {L}j${i}`, { reads });
      marker(b);
      b.label(`j${i}`);
      continue;
    }
    chainLink(b, undefinedNow);
    undefinedNow = b.undefinedFlags;
  }
}

export const controlCategories = {
  cmov, setcc, jcc, loop, 'call-ret': callRet, 'push-pop': pushPop, 'pushf-popf': pushfPopf,
  'enter-leave': enterLeave, 'flag-ops': flagOps, string: strings, 'flag-chain': flagChain,
} satisfies Record<string, (b: CaseBuilder) => void>;
