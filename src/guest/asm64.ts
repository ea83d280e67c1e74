// A very small x86-64 assembler: the few instruction forms the guest's
// hypercall tool needs (src/guest/hypercall-tool.ts), labels, and data. Each
// instruction is listed in GNU objdump's Intel syntax too, so a test can
// check the encoding against objdump where the host has it.

const REG64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
const REG32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'r8d', 'r9d', 'r10d', 'r11d', 'r12d', 'r13d', 'r14d', 'r15d'] as const;
/** Byte registers without a REX-dependent meaning. */
const REG8 = ['al', 'cl', 'dl', 'bl'] as const;

export type Reg64 = (typeof REG64)[number];
export type Reg32 = (typeof REG32)[number];
export type Reg8 = (typeof REG8)[number];
type Reg = Reg64 | Reg32;

/** A memory operand [base + disp]; bases needing a SIB byte (rsp, r12) are not supported. */
export interface Mem { base: Reg64; disp: number }
/** [rip + label]: the address of a label. */
export interface RipLabel { rip: string }

export const mem = (base: Reg64, disp = 0): Mem => ({ base, disp });
export const ripLabel = (label: string): RipLabel => ({ rip: label });

/** Condition codes by objdump's mnemonic. */
const CONDITION = { jb: 0x2, jae: 0x3, je: 0x4, jne: 0x5, jbe: 0x6, ja: 0x7, js: 0x8, jns: 0x9, jl: 0xc, jge: 0xd, jle: 0xe, jg: 0xf } as const;
export type Jcc = keyof typeof CONDITION;

/** Group-1 ALU operations: the /digit of opcode 0x83 and the opcode of the register form. */
const ALU = { add: [0, 0x01], or: [1, 0x09], sub: [5, 0x29], xor: [6, 0x31], cmp: [7, 0x39] } as const;
type AluOp = keyof typeof ALU;

export interface ListedInsn {
  offset: number;
  bytes: Uint8Array;
  /** As GNU objdump -M intel prints it (single spaces), branch and RIP targets resolved. */
  text: string;
}

export interface Assembled {
  code: Uint8Array;
  listing: ListedInsn[];
  labels: Map<string, number>;
}

const hex = (n: bigint | number) => `0x${n.toString(16)}`;

function regInfo(r: Reg): { num: number; wide: boolean } {
  const i64 = (REG64 as readonly string[]).indexOf(r);
  if (i64 >= 0) return { num: i64, wide: true };
  return { num: (REG32 as readonly string[]).indexOf(r), wide: false };
}

function memText(m: Mem, size?: 'BYTE' | 'QWORD'): string {
  const enc = memDisp(m);
  const where = enc.bytes === 0 ? `[${m.base}]` : `[${m.base}${m.disp < 0 ? '-' : '+'}${hex(Math.abs(m.disp))}]`;
  return size ? `${size} PTR ${where}` : where;
}

/** How the displacement of [base + disp] is encoded: mod and byte count. */
function memDisp(m: Mem): { mod: number; bytes: number } {
  const low = REG64.indexOf(m.base) & 7;
  if (low === 4) throw new Error(`[${m.base}] needs a SIB byte, which this assembler does not emit`);
  if (m.disp === 0 && low !== 5) return { mod: 0, bytes: 0 };
  if (m.disp >= -128 && m.disp <= 127) return { mod: 1, bytes: 1 };
  return { mod: 2, bytes: 4 };
}

interface Fixup { at: number; end: number; label: string; insn: ListedInsn; render: (target: number, disp: number) => string }

export class Asm {
  private bytes: number[] = [];
  private readonly listing: ListedInsn[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: Fixup[] = [];

  constructor(private readonly origin: number) {}

  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`label ${name} defined twice`);
    this.labels.set(name, this.bytes.length);
    return this;
  }

  /** A NUL-terminated string (not listed: it is data). */
  asciz(name: string, text: string): this {
    this.label(name);
    this.bytes.push(...new TextEncoder().encode(text), 0);
    return this;
  }

  private insn(bytes: number[], text: string): ListedInsn {
    const insn = { offset: this.bytes.length, bytes: Uint8Array.from(bytes), text };
    this.bytes.push(...bytes);
    this.listing.push(insn);
    return insn;
  }

  /** REX prefix (omitted when empty) + opcode + ModRM (+ displacement) for a register `reg` field and an r/m operand. */
  private modrm(opcode: number[], wide: boolean, reg: number, rm: Reg | Mem | RipLabel, after: number[] = []): { bytes: number[]; dispAt?: number } {
    let rex = wide ? 0x48 : 0;
    if (reg & 8) rex |= 0x44;
    let tail: number[];
    let dispAt: number | undefined;
    if (typeof rm === 'string') {
      const r = regInfo(rm).num;
      if (r & 8) rex |= 0x41;
      tail = [0xc0 | ((reg & 7) << 3) | (r & 7)];
    } else if ('rip' in rm) {
      tail = [((reg & 7) << 3) | 5, 0, 0, 0, 0];
      dispAt = 1;
    } else {
      const b = REG64.indexOf(rm.base);
      if (b & 8) rex |= 0x41;
      const { mod, bytes } = memDisp(rm);
      tail = [(mod << 6) | ((reg & 7) << 3) | (b & 7)];
      const d = new Uint8Array(4);
      new DataView(d.buffer).setInt32(0, rm.disp, true);
      tail.push(...d.subarray(0, bytes));
    }
    const head = [...(rex ? [rex] : []), ...opcode];
    return { bytes: [...head, ...tail, ...after], dispAt: dispAt === undefined ? undefined : head.length + dispAt };
  }

  private withRip(enc: { bytes: number[]; dispAt?: number }, label: string, render: Fixup['render']): void {
    const start = this.bytes.length;
    const insn = this.insn(enc.bytes, '');
    this.fixups.push({ at: start + enc.dispAt!, end: start + enc.bytes.length, label, insn, render });
  }

  /** mov: register from register, register from memory, memory from register (64-bit, or byte for al/cl/dl/bl), register from imm32. */
  mov(dst: Reg | Mem, src: Reg | Mem | Reg8 | number): this {
    if (typeof dst === 'string' && typeof src === 'number') {
      const { num, wide } = regInfo(dst);
      if (wide) throw new Error('mov r64, imm: use the 32-bit register (zero-extends)');
      const imm = new Uint8Array(4);
      new DataView(imm.buffer).setUint32(0, src >>> 0, true);
      this.insn([...(num & 8 ? [0x41] : []), 0xb8 + (num & 7), ...imm], `mov ${dst},${hex(src >>> 0)}`);
    } else if (typeof dst === 'string' && typeof src === 'string') {
      const d = regInfo(dst), s = regInfo(src as Reg);
      this.insn(this.modrm([0x89], d.wide, s.num, dst).bytes, `mov ${dst},${src}`);
    } else if (typeof dst === 'string' && typeof src === 'object') {
      const d = regInfo(dst);
      this.insn(this.modrm([0x8b], d.wide, d.num, src).bytes, `mov ${dst},${memText(src, 'QWORD')}`);
    } else if (typeof dst === 'object' && typeof src === 'string' && (REG8 as readonly string[]).includes(src)) {
      this.insn(this.modrm([0x88], false, REG8.indexOf(src as Reg8), dst).bytes, `mov ${memText(dst, 'BYTE')},${src}`);
    } else if (typeof dst === 'object' && typeof src === 'string') {
      const s = regInfo(src as Reg);
      this.insn(this.modrm([0x89], true, s.num, dst).bytes, `mov ${memText(dst, 'QWORD')},${src}`);
    } else {
      throw new Error('unsupported mov form');
    }
    return this;
  }

  /** movzx r32, BYTE PTR [mem]. */
  movzxByte(dst: Reg32, src: Mem): this {
    this.insn(this.modrm([0x0f, 0xb6], false, regInfo(dst).num, src).bytes, `movzx ${dst},${memText(src, 'BYTE')}`);
    return this;
  }

  /** lea r64, [base + disp] or [rip + label]. */
  lea(dst: Reg64, src: Mem | RipLabel): this {
    const r = regInfo(dst).num;
    const enc = this.modrm([0x8d], true, r, src);
    if ('rip' in src) {
      this.withRip(enc, src.rip, (target, disp) => `lea ${dst},[rip+${hex(BigInt.asUintN(64, BigInt(disp)))}] # ${hex(target)}`);
    } else {
      this.insn(enc.bytes, `lea ${dst},${memText(src)}`);
    }
    return this;
  }

  /** add/or/sub/xor/cmp with a register or a sign-extended 8-bit immediate. */
  alu(op: AluOp, dst: Reg, src: Reg | number): this {
    const { wide } = regInfo(dst);
    const [digit, opcode] = ALU[op];
    if (typeof src === 'number') {
      if (src < -128 || src > 127) throw new Error(`${op} immediate ${src} does not fit in 8 bits`);
      const shown = BigInt.asUintN(wide ? 64 : 32, BigInt(src));
      this.insn(this.modrm([0x83], wide, digit, dst, [src & 0xff]).bytes, `${op} ${dst},${hex(shown)}`);
    } else {
      this.insn(this.modrm([opcode], wide, regInfo(src).num, dst).bytes, `${op} ${dst},${src}`);
    }
    return this;
  }

  test(a: Reg, b: Reg): this {
    this.insn(this.modrm([0x85], regInfo(a).wide, regInfo(b).num, a).bytes, `test ${a},${b}`);
    return this;
  }

  /** imul r64, r64 (the low 64 bits of the product). */
  imul(dst: Reg64, src: Reg64): this {
    this.insn(this.modrm([0x0f, 0xaf], true, regInfo(dst).num, src).bytes, `imul ${dst},${src}`);
    return this;
  }

  /** Unsigned divide RDX:RAX by a 64-bit register. */
  div(src: Reg64): this { return this.group3(6, 'div', src); }
  neg(dst: Reg64): this { return this.group3(3, 'neg', dst); }

  private group3(digit: number, name: string, r: Reg64): this {
    this.insn(this.modrm([0xf7], true, digit, r).bytes, `${name} ${r}`);
    return this;
  }

  shl(dst: Reg64, count: number): this {
    this.insn(this.modrm([0xc1], true, 4, dst, [count]).bytes, `shl ${dst},${hex(count)}`);
    return this;
  }

  /** Jumps and calls, always with a 32-bit displacement. */
  jcc(cc: Jcc, label: string): this { return this.branch([0x0f, 0x80 | CONDITION[cc]], cc, label); }
  jmp(label: string): this { return this.branch([0xe9], 'jmp', label); }
  call(label: string): this { return this.branch([0xe8], 'call', label); }

  private branch(opcode: number[], name: string, label: string): this {
    this.withRip({ bytes: [...opcode, 0, 0, 0, 0], dispAt: opcode.length }, label, (target) => `${name} ${hex(target)}`);
    return this;
  }

  ret(): this { this.insn([0xc3], 'ret'); return this; }
  syscall(): this { this.insn([0x0f, 0x05], 'syscall'); return this; }
  vmcall(): this { this.insn([0x0f, 0x01, 0xc1], 'vmcall'); return this; }
  hlt(): this { this.insn([0xf4], 'hlt'); return this; }

  /** Resolve labels; the code is placed at the origin given to the constructor. */
  assemble(): Assembled {
    const code = Uint8Array.from(this.bytes);
    const v = new DataView(code.buffer);
    for (const f of this.fixups) {
      const target = this.labels.get(f.label);
      if (target === undefined) throw new Error(`undefined label ${f.label}`);
      const disp = target - f.end;
      v.setInt32(f.at, disp, true);
      f.insn.bytes = code.slice(f.insn.offset, f.end);
      f.insn.text = f.render(this.origin + target, disp);
    }
    return { code, listing: this.listing, labels: new Map(this.labels) };
  }
}
