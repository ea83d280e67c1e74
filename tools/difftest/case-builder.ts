// Builds one test case: picks operands, fixes the initial register and
// memory values they need, and tracks which flags end up undefined. The
// category generators (gen-*.ts) are written against this class.
import type { HostRule } from './host.js';
import type { AsmItem } from './assemble.js';
import { Rng } from './prng.js';
import { randomXmm } from './random-values.js';
import {
  ARITH_FLAGS, DATA_BASE, DATA_SIZE, Flag, HEAP_SIZE, STACK_TOP, type CpuState, type MemRun,
} from './layout.js';

export type Size = 8 | 16 | 32 | 64;

export interface Reg {
  kind: 'reg';
  /** Register number; for AH..BH the number of the register holding them (0..3). */
  num: number;
  size: Size;
  /** AH, CH, DH or BH. */
  high: boolean;
  name: string;
}

export interface Mem {
  kind: 'mem';
  /** Access width in bits (8..128). */
  bits: number;
  /** `[...]` without a size keyword. */
  addr: string;
  /** With the size keyword, e.g. `dword ptr [rbx + 4]`. */
  text: string;
  /** Data-region offset of the first byte accessed. */
  offset: number;
}

export type Operand = Reg | Mem;

/** How an instruction treats RFLAGS: flags it reads, writes with a defined value, leaves undefined. */
export interface FlagEffect {
  reads?: number;
  writes?: number;
  undef?: number;
}

/** Thrown when the random choices cannot satisfy the constraints; the case is drawn again. */
export class Retry extends Error {}

export interface CaseDraft {
  category: string;
  items: AsmItem[];
  insnTexts: string[];
  init: CpuState;
  patches: MemRun[];
  undefinedFlags: number;
  undefinedRegs: number;
  hostRules: HostRule[];
}

const NAMES: Record<Size, readonly string[]> = {
  64: ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'],
  32: ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'r8d', 'r9d', 'r10d', 'r11d', 'r12d', 'r13d', 'r14d', 'r15d'],
  16: ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di', 'r8w', 'r9w', 'r10w', 'r11w', 'r12w', 'r13w', 'r14w', 'r15w'],
  8: ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil', 'r8b', 'r9b', 'r10b', 'r11b', 'r12b', 'r13b', 'r14b', 'r15b'],
};
const HIGH_NAMES = ['ah', 'ch', 'dh', 'bh'];
export const RSP = 4;
export const RBP = 5;
const M64 = (1n << 64n) - 1n;
const M32 = (1n << 32n) - 1n;

export function registerName(num: number, size: Size): string {
  return NAMES[size][num];
}

export function mask(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

export function toSigned(v: bigint, bits: number): bigint {
  return BigInt.asIntN(bits, v);
}

function ptrKeyword(bits: number): string {
  switch (bits) {
    case 8: return 'byte ptr';
    case 16: return 'word ptr';
    case 32: return 'dword ptr';
    case 64: return 'qword ptr';
    case 80: return 'tbyte ptr';
    case 128: return 'xmmword ptr';
    default: throw new Error(`no ptr keyword for ${bits} bits`);
  }
}

export function hexSigned(v: number | bigint): string {
  const b = BigInt(v);
  return b < 0n ? `-0x${(-b).toString(16)}` : `0x${b.toString(16)}`;
}

export interface MemOptions {
  /** Required alignment of the accessed address (default: natural half the time). */
  align?: number;
  /** Force a misaligned address (offset by this many bytes from `align`). */
  misalign?: number;
  /** Bytes the instruction may touch below / above the operand (bit strings, strings). */
  before?: number;
  after?: number;
  /** Use 32-bit addressing (67 prefix). */
  addr32?: boolean;
  /** Do not use RIP-relative or absolute forms (the caller needs a register-based address). */
  registerBased?: boolean;
  /** Do not base the address on a register whose value the case pinned (RSP, RBP...). */
  noPinnedBase?: boolean;
}

export class CaseBuilder {
  readonly gpr: bigint[];
  rflags: bigint;
  readonly xmm: Uint8Array;
  mxcsr = 0x1f80;
  /** 8-bit register numbers 4..7 mean AH..BH, so no register may need a REX prefix. */
  legacyBytes = false;
  undefinedRegs = 0;

  private readonly pinned = new Set<number>();
  /** Registers an earlier instruction of the case overwrites: useless as address registers later. */
  private readonly clobbered = new Set<number>();
  private readonly patchBytes = new Map<number, number>();
  private readonly items: AsmItem[] = [];
  private readonly insnTexts: string[] = [];
  private undefFlags = 0;

  constructor(readonly rng: Rng, private readonly pattern: Uint8Array, readonly category: string) {
    this.gpr = Array.from({ length: 16 }, () => rng.interesting(64));
    this.gpr[RSP] = BigInt(DATA_BASE + STACK_TOP - 8 * rng.int(16));
    this.pinned.add(RSP);
    let flags = 0x202;
    for (const f of [Flag.CF, Flag.PF, Flag.AF, Flag.ZF, Flag.SF, Flag.OF]) if (rng.chance(0.5)) flags |= f;
    if (rng.chance(0.2)) flags |= Flag.DF;
    this.rflags = BigInt(flags);
    this.xmm = randomXmm(rng);
  }

  // ---- registers ----

  /** Decide whether 8-bit operands of this case use AH..BH (and so no REX). */
  chooseByteMode(): void {
    this.legacyBytes = this.rng.chance(0.4);
  }

  isPinned(num: number): boolean {
    return this.pinned.has(num);
  }

  /** Note that the case writes this register, so later memory operands must not be based on it. */
  clobber(num: number): void {
    this.clobbered.add(num);
  }

  /** Fix the initial value of a register (throws Retry if it was fixed differently). */
  setReg(num: number, value: bigint): void {
    value &= M64;
    if (this.pinned.has(num) && this.gpr[num] !== value) throw new Retry();
    this.gpr[num] = value;
    this.pinned.add(num);
  }

  /** Replace a register's initial value even if it was fixed (e.g. to move RSP off the data region). */
  forceReg(num: number, value: bigint): void {
    this.gpr[num] = value & M64;
    this.pinned.add(num);
  }

  /** Fix the low `size` bits (or AH..BH) of a register, keeping the rest random. */
  setRegPart(r: Reg, value: bigint): void {
    const shift = r.high ? 8n : 0n;
    const m = mask(r.size) << shift;
    this.setReg(r.num, (this.gpr[r.num] & ~m) | ((value << shift) & m));
  }

  /** A named register operand (number `num`, size `size`). */
  fixedReg(num: number, size: Size): Reg {
    return { kind: 'reg', num, size, high: false, name: NAMES[size][num] };
  }

  /**
   * A random register operand. Unpinned registers get their low bits
   * re-drawn at this size half the time, so narrow operations see edge values.
   */
  reg(size: Size, opts: { allowRsp?: boolean; unpinned?: boolean; noHigh?: boolean } = {}): Reg {
    const candidates: Reg[] = [];
    const limit = this.legacyBytes ? 8 : 16;
    for (let n = 0; n < limit; n++) {
      const high = size === 8 && this.legacyBytes && n >= 4;
      if (high && opts.noHigh) continue;
      const num = high ? n - 4 : n;
      if (!high && num === RSP && !opts.allowRsp) continue;
      if (opts.unpinned && this.pinned.has(num)) continue;
      candidates.push({ kind: 'reg', num, size, high, name: high ? HIGH_NAMES[num] : NAMES[size][num] });
    }
    if (candidates.length === 0) throw new Retry();
    const r = this.rng.pick(candidates);
    if (!this.pinned.has(r.num) && size < 64 && this.rng.chance(0.5)) {
      const shift = r.high ? 8n : 0n;
      const m = mask(size) << shift;
      this.gpr[r.num] = (this.gpr[r.num] & ~m) | ((this.rng.interesting(size) << shift) & m);
    }
    return r;
  }

  /** Initial value of an operand (zero-extended). */
  value(op: Operand): bigint {
    if (op.kind === 'mem') return this.read(op.offset, op.bits / 8);
    const v = this.gpr[op.num];
    return op.high ? (v >> 8n) & 0xffn : v & mask(op.size);
  }

  /** Set the initial value of an operand (register part or memory). */
  setValue(op: Operand, value: bigint): void {
    if (op.kind === 'mem') this.write(op.offset, op.bits / 8, value);
    else this.setRegPart(op, value);
  }

  // ---- memory ----

  /** Initial data bytes as a little-endian number. */
  read(offset: number, n: number): bigint {
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.patchBytes.get(offset + i) ?? this.pattern[offset + i]);
    return v;
  }

  /** Overwrite initial data bytes (little-endian). */
  write(offset: number, n: number, value: bigint): void {
    if (offset < 0 || offset + n > DATA_SIZE) throw new Error(`patch outside the data region: ${offset}+${n}`);
    for (let i = 0; i < n; i++) this.patchBytes.set(offset + i, Number((value >> BigInt(8 * i)) & 0xffn));
  }

  /** A data offset for an access of `span` bytes with the given margins and alignment. */
  private pickOffset(span: number, opts: MemOptions): number {
    const before = opts.before ?? 0;
    const after = opts.after ?? 0;
    const align = opts.align ?? (this.rng.chance(0.5) ? Math.min(span, 16) : 1);
    const lo = Math.ceil(before / align) * align;
    const hi = HEAP_SIZE - span - after - (opts.misalign ?? 0);
    if (hi < lo) throw new Retry();
    const off = lo + this.rng.int(Math.floor((hi - lo) / align) + 1) * align;
    return off + (opts.misalign ?? 0);
  }

  /** A memory operand of `bits` width inside the data region. */
  mem(bits: number, opts: MemOptions = {}): Mem {
    const offset = this.pickOffset(Math.max(1, bits / 8), opts);
    const addr = this.addressOf(offset, opts);
    // CS/DS/ES/SS overrides are accepted and ignored in 64-bit mode (FS/GS bases cannot be set natively).
    const segment = this.rng.chance(0.05) ? this.rng.pick(['cs:', 'ds:', 'es:', 'ss:']) : '';
    const text = `${ptrKeyword(bits)} ${segment}${addr}`;
    return { kind: 'mem', bits, addr, text, offset };
  }

  /** An address expression reaching data offset `offset`, pinning the registers it uses. */
  addressOf(offset: number, opts: MemOptions = {}): string {
    const target = BigInt(DATA_BASE + offset);
    const bits = opts.addr32 ? 32 : 64;
    const wrap = opts.addr32 ? M32 : M64;
    const prefix = opts.addr32 ? 'e' : 'r';
    const limit = this.legacyBytes ? 8 : 16;
    const free: number[] = [];
    for (let n = 0; n < limit; n++) if (n !== RSP && !this.pinned.has(n) && !this.clobbered.has(n)) free.push(n);
    const name = (n: number) => (opts.addr32 ? NAMES[32][n] : NAMES[64][n]);

    const forms = ['base', 'base', 'baseIndex', 'baseIndex', 'index'];
    if (!opts.registerBased) forms.push('rip');
    if (!opts.registerBased && !opts.addr32) forms.push('abs');
    const pinnedBases = opts.noPinnedBase ? [] : [...this.pinned]
      .filter((n) => n < limit && !this.clobbered.has(n) && fitsDisp(target - (this.gpr[n] & wrap)));
    if (pinnedBases.length > 0) forms.push('pinned');
    const form = this.rng.pick(forms);

    const disp = (): bigint => {
      switch (this.rng.int(3)) {
        case 0: return 0n;
        case 1: return BigInt(this.rng.range(-128, 127));
        default: return BigInt(this.rng.u32() | 0);
      }
    };
    const dispText = (d: bigint) => (d === 0n ? '' : ` + ${hexSigned(d)}`);
    const scale = this.rng.pick([1n, 2n, 4n, 8n]);

    switch (form) {
      case 'rip':
        return `[${prefix}ip + {D:${offset}}]`;
      case 'abs':
        return `[${hexSigned(target)}]`;
      case 'pinned': {
        const n = this.rng.pick(pinnedBases);
        return `[${name(n)}${dispText(target - (this.gpr[n] & wrap))}]`;
      }
      case 'base': {
        if (free.length === 0) throw new Retry();
        const b = this.rng.pick(free);
        const d = disp();
        this.setAddressReg(b, (target - d) & wrap, bits);
        return `[${name(b)}${dispText(d)}]`;
      }
      case 'baseIndex': {
        if (free.length < 2) throw new Retry();
        const b = this.rng.pick(free);
        const i = this.rng.pick(free.filter((n) => n !== b));
        const d = disp();
        const iv = this.rng.chance(0.5) ? BigInt(this.rng.range(-4096, 4096)) & wrap : this.rng.u64() & wrap;
        this.setAddressReg(i, iv, bits);
        this.setAddressReg(b, (target - BigInt.asIntN(bits, iv) * scale - d) & wrap, bits);
        return `[${name(b)} + ${name(i)}*${scale}${dispText(d)}]`;
      }
      default: { // index only: [index*scale + disp32]
        if (free.length === 0) throw new Retry();
        const i = this.rng.pick(free);
        const iv = BigInt(this.rng.range(-4096, 65536));
        const d = target - iv * scale;
        this.setAddressReg(i, iv & wrap, bits);
        return `[${name(i)}*${scale} + ${hexSigned(d)}]`;
      }
    }
  }

  /** With 32-bit addressing the upper half of an address register is ignored: make it garbage. */
  private setAddressReg(num: number, value: bigint, bits: number): void {
    this.setReg(num, bits === 32 ? (this.rng.u64() & ~M32) | value : value);
  }

  // ---- instructions ----

  /** Append an instruction and account for its effect on the flags. */
  insn(text: string, fx: FlagEffect = {}, display?: string): void {
    if ((fx.reads ?? 0) & this.undefFlags) throw new Retry(); // it would consume an undefined flag
    const touched = (fx.writes ?? 0) | (fx.undef ?? 0);
    this.undefFlags = (this.undefFlags & ~touched) | (fx.undef ?? 0);
    this.items.push({ insn: text });
    this.insnTexts.push(display ?? text);
  }

  /** Raw bytes for encodings `as` does not choose by itself. */
  bytes(bytes: number[], display: string, fx: FlagEffect = {}): void {
    this.insn(`.byte ${bytes.map((b) => `0x${b.toString(16)}`).join(', ')}`, fx, `${display}  {${bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ')}}`);
  }

  label(name: string): void {
    this.items.push({ label: `{L}${name}` });
  }

  /** Flags left undefined by the instructions so far. */
  get undefinedFlags(): number {
    return this.undefFlags;
  }

  /** Mark a register's final value as architecturally undefined. */
  undefinedReg(num: number): void {
    this.undefinedRegs |= 1 << num;
  }

  /** Results whose comparison depends on the host CPU (host.ts). */
  readonly hostRules: HostRule[] = [];
  hostRule(rule: HostRule): void {
    this.hostRules.push(rule);
  }

  /** Random initial arithmetic flags were drawn; let a category force some. */
  setFlags(set: number, clear = 0): void {
    this.rflags = (this.rflags | BigInt(set)) & ~BigInt(clear);
  }

  draft(): CaseDraft {
    const runs: MemRun[] = [];
    const offsets = [...this.patchBytes.keys()].sort((a, b) => a - b);
    for (let i = 0; i < offsets.length;) {
      let j = i;
      while (j + 1 < offsets.length && offsets[j + 1] === offsets[j] + 1) j++;
      runs.push({ offset: offsets[i], bytes: Uint8Array.from(offsets.slice(i, j + 1), (o) => this.patchBytes.get(o)!) });
      i = j + 1;
    }
    return {
      category: this.category,
      items: this.items,
      insnTexts: this.insnTexts,
      init: { gpr: [...this.gpr], rip: 0n, rflags: this.rflags, xmm: this.xmm, mxcsr: this.mxcsr },
      patches: runs,
      undefinedFlags: this.undefFlags & ARITH_FLAGS,
      undefinedRegs: this.undefinedRegs,
      hostRules: this.hostRules,
    };
  }
}

function fitsDisp(d: bigint): boolean {
  return d >= -(1n << 31n) && d < (1n << 31n);
}
