// A vCPU as hypapps see it: named registers, MSRs, the guest's own address
// translation and guest-virtual memory access, event injection.
import { Reg, Seg, EventType, ExitField, type Vcpu } from '../backend/interface.js';
import { Vector } from '../backend/abi.js';
import type { GuestCpu, Register, SegmentRegister, Segment, Translation, Mapping, AddressSpace, X87State } from '../hypapp/api.js';
import { fullTagWord, abridgedTag, x87Bytes, x87Register } from './x87.js';
import { pagingMode, type PagingRegisters, type PagingMode } from './pagewalk.js';
import { VirtualView } from './address-space.js';
import type { GuestMemory } from './guest-memory.js';

const REGS: Record<Register, Reg> = {
  rax: Reg.RAX, rbx: Reg.RBX, rcx: Reg.RCX, rdx: Reg.RDX, rsi: Reg.RSI, rdi: Reg.RDI, rbp: Reg.RBP, rsp: Reg.RSP,
  r8: Reg.R8, r9: Reg.R9, r10: Reg.R10, r11: Reg.R11, r12: Reg.R12, r13: Reg.R13, r14: Reg.R14, r15: Reg.R15,
  rip: Reg.RIP, rflags: Reg.RFLAGS,
  cr0: Reg.CR0, cr2: Reg.CR2, cr3: Reg.CR3, cr4: Reg.CR4, cr8: Reg.CR8, efer: Reg.EFER,
  dr0: Reg.DR0, dr1: Reg.DR1, dr2: Reg.DR2, dr3: Reg.DR3, dr6: Reg.DR6, dr7: Reg.DR7,
  mxcsr: Reg.MXCSR,
};
const SEGS: Record<SegmentRegister, Seg> = {
  es: Seg.ES, cs: Seg.CS, ss: Seg.SS, ds: Seg.DS, fs: Seg.FS, gs: Seg.GS, ldtr: Seg.LDTR, tr: Seg.TR,
};

/** Exceptions that push an error code (#DF, #TS, #NP, #SS, #GP, #PF, #AC). */
const HAS_ERROR_CODE = new Set<number>([Vector.DF, Vector.TS, Vector.NP, Vector.SS, Vector.GP, Vector.PF, Vector.AC]);

export class GuestCpuImpl implements GuestCpu {
  constructor(private readonly vcpu: Vcpu, private readonly mem: GuestMemory) {
    this.current = new VirtualView(mem, () => this.pagingRegisters());
  }

  get index(): number { return this.vcpu.index; }

  get(reg: Register): bigint {
    const r = REGS[reg];
    if (r === undefined) throw new TypeError(`no register named "${reg}"`);
    return this.vcpu.getReg(r);
  }
  set(reg: Register, value: bigint): void {
    const r = REGS[reg];
    if (r === undefined) throw new TypeError(`no register named "${reg}"`);
    this.vcpu.setReg(r, BigInt.asUintN(64, value));
  }
  segment(seg: SegmentRegister): Segment {
    const s = SEGS[seg];
    if (s === undefined) throw new TypeError(`no segment register named "${seg}"`);
    return this.vcpu.getSeg(s);
  }
  msr(index: number): bigint | undefined { return this.vcpu.getMsr(index); }
  setMsr(index: number, value: bigint): void {
    if (!this.vcpu.setMsr(index, value)) throw new RangeError(`MSR 0x${index.toString(16)} rejects 0x${value.toString(16)} (or does not exist)`);
  }
  get cpl(): number { return Number(this.vcpu.getReg(Reg.CPL)); }
  get halted(): boolean { return this.vcpu.getReg(Reg.ACTIVITY) !== 0n; }

  // ---- x87 and SSE ----
  x87(): X87State {
    const v = this.vcpu;
    const st = Array.from({ length: 8 }, (_, i) => x87Bytes(v.getSt(i)));
    const fsw = Number(v.getReg(Reg.FPU_SW));
    const top = (fsw >> 11) & 7;
    // Physical register p is ST((p - TOP) & 7).
    const physical = Array.from({ length: 8 }, (_, p) => v.getSt((p - top) & 7));
    return {
      st, fcw: Number(v.getReg(Reg.FPU_CW)), fsw, ftw: fullTagWord(Number(v.getReg(Reg.FPU_TW)), physical),
      fop: Number(v.getReg(Reg.FPU_FOP)), fip: v.getReg(Reg.FPU_FIP), fcs: Number(v.getReg(Reg.FPU_FCS)),
      fdp: v.getReg(Reg.FPU_FDP), fds: Number(v.getReg(Reg.FPU_FDS)),
    };
  }
  setX87(s: Parameters<GuestCpu['setX87']>[0]): void {
    const v = this.vcpu;
    if (s.fcw !== undefined) v.setReg(Reg.FPU_CW, BigInt(s.fcw & 0xffff));
    if (s.fsw !== undefined) v.setReg(Reg.FPU_SW, BigInt(s.fsw & 0xffff));
    if (s.ftw !== undefined) v.setReg(Reg.FPU_TW, BigInt(abridgedTag(s.ftw)));
    if (s.fop !== undefined) v.setReg(Reg.FPU_FOP, BigInt(s.fop & 0x7ff));
    if (s.fip !== undefined) v.setReg(Reg.FPU_FIP, BigInt.asUintN(64, s.fip));
    if (s.fcs !== undefined) v.setReg(Reg.FPU_FCS, BigInt(s.fcs & 0xffff));
    if (s.fdp !== undefined) v.setReg(Reg.FPU_FDP, BigInt.asUintN(64, s.fdp));
    if (s.fds !== undefined) v.setReg(Reg.FPU_FDS, BigInt(s.fds & 0xffff));
    s.st?.forEach((bytes, i) => { if (bytes) v.setSt(i, x87Register(bytes)); });
  }
  xmm(index: number): bigint { return this.vcpu.getXmm(xmmIndex(index)); }
  setXmm(index: number, value: bigint): void { this.vcpu.setXmm(xmmIndex(index), BigInt.asUintN(128, value)); }

  private pagingRegisters(): PagingRegisters {
    return { cr0: this.get('cr0'), cr3: this.get('cr3'), cr4: this.get('cr4'), efer: this.get('efer') };
  }
  get paging(): PagingMode { return pagingMode(this.pagingRegisters()); }

  // ---- guest-virtual memory: the current address space (src/xmhf/address-space.ts) ----
  private readonly current: VirtualView;

  translate(gva: bigint): Translation { return this.current.translate(gva); }
  mappings(start?: bigint, end?: bigint): Iterable<Mapping> { return this.current.mappings(start, end); }
  readVirtual(gva: bigint, length: number): Uint8Array { return this.current.read(gva, length); }
  writeVirtual(gva: bigint, bytes: Uint8Array): void { this.current.write(gva, bytes); }
  readU8(gva: bigint): number { return this.current.readU8(gva); }
  readU16(gva: bigint): number { return this.current.readU16(gva); }
  readU32(gva: bigint): number { return this.current.readU32(gva); }
  readU64(gva: bigint): bigint { return this.current.readU64(gva); }
  writeU8(gva: bigint, value: number): void { this.current.writeU8(gva, value); }
  writeU16(gva: bigint, value: number): void { this.current.writeU16(gva, value); }
  writeU32(gva: bigint, value: number): void { this.current.writeU32(gva, value); }
  writeU64(gva: bigint, value: bigint): void { this.current.writeU64(gva, value); }
  readString(gva: bigint, max = 4096): string { return this.current.readString(gva, max); }
  addressSpace(cr3?: bigint): AddressSpace {
    if (cr3 === undefined) return this.current;
    const root = BigInt.asUintN(64, cr3);
    return new VirtualView(this.mem, () => ({ ...this.pagingRegisters(), cr3: root }));
  }

  injectException(vector: number, errorCode?: number): void {
    if (!Number.isInteger(vector) || vector < 0 || vector > 31) throw new RangeError(`exception vector ${vector} is not 0..31`);
    const code = HAS_ERROR_CODE.has(vector) ? (errorCode ?? 0) : undefined;
    this.vcpu.inject(EventType.HARDWARE_EXCEPTION, vector, code);
  }
  injectInterrupt(vector: number): void {
    if (!Number.isInteger(vector) || vector < 32 || vector > 255) throw new RangeError(`interrupt vector ${vector} is not 32..255`);
    this.vcpu.inject(EventType.EXTERNAL_INTERRUPT, vector);
  }
  skipInstruction(): void {
    if (this.vcpu.exitField(ExitField.INSTR_LEN) === 0n) throw new Error('the current event has no instruction to skip');
    this.vcpu.skipInstruction();
  }
}

function xmmIndex(i: number): number {
  if (!Number.isInteger(i) || i < 0 || i > 15) throw new RangeError(`no register XMM${i} (0..15)`);
  return i;
}

/** ", instruction bytes 0f 0b ..." for the 15 bytes at the vCPU's RIP (empty if they cannot be read), for messages that say where the guest was. */
export function instructionBytesText(cpu: GuestCpu): string {
  try {
    const bytes = cpu.readVirtual(cpu.get('rip') + cpu.segment('cs').base, 15);
    return `, instruction bytes ${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`;
  } catch {
    return '';
  }
}
