// The virtualization backend interface: what the platform and the XMHF core
// see of a CPU, whether it is our WebAssembly CPU or (later) KVM.
import { Reg, Seg, SegField, Exit, ExitField, EventType } from './abi.js';

export { Reg, Seg, SegField, Exit, ExitField, EventType };
export { Access, Control } from './abi.js';

/**
 * Device side of the machine, served synchronously while the guest runs.
 * Port and MMIO accesses that are not intercepted by the control block land
 * here, as they would reach real devices under hardware virtualization.
 */
export interface PlatformBus {
  /** Port read of 1, 2 or 4 bytes. */
  ioIn(port: number, size: number): number;
  ioOut(port: number, size: number, value: number): void;
  /** Read of 1, 2 or 4 bytes outside guest RAM (wider accesses arrive split) by vCPU `vcpu`. */
  mmioRead(gpa: number, size: number, vcpu: number): number;
  mmioWrite(gpa: number, size: number, value: number, vcpu: number): void;
  /** Interrupt acknowledge by vCPU `vcpu`: the vector of its highest pending external interrupt, or -1. */
  ackInterrupt(vcpu: number): number;
}

export interface SegmentState {
  selector: number;
  base: bigint;
  limit: number;
  /** Descriptor attribute bits (type, S, DPL, P, AVL, L, D/B, G), see SegField.ATTR. */
  attr: number;
}

/** An 80-bit x87 register: the 64-bit significand (explicit integer bit) and the sign/exponent word. */
export interface X87Register {
  significand: bigint;
  signExponent: number;
}

export interface CpuidEntry {
  leaf: number;
  subleaf?: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export interface Vcpu {
  readonly index: number;
  /** Run until an exit or until `budget` instructions have retired. */
  run(budget: number): Exit;
  /** Qualification of the last exit, as an unsigned 64-bit value. */
  exitField(field: ExitField): bigint;
  /** After Exit.EMULATION_FAILURE: the CPU's mode and what it could not emulate, in words. */
  emulationFailure(): string;

  getReg(reg: Reg): bigint;
  setReg(reg: Reg, value: bigint): void;
  getSeg(seg: Seg): SegmentState;
  setSeg(seg: Seg, state: SegmentState): void;
  /** MSR storage as the guest sees it; returns undefined for an MSR this CPU does not have. */
  getMsr(index: number): bigint | undefined;
  setMsr(index: number, value: bigint): boolean;

  /** XMM register `index` as an unsigned 128-bit value. */
  getXmm(index: number): bigint;
  setXmm(index: number, value: bigint): void;
  /** x87 ST(i) (stack order, 0 is the top) as its exact 80-bit value. */
  getSt(index: number): X87Register;
  /** Write ST(i) exactly, leaving the tag word alone. */
  setSt(index: number, value: X87Register): void;

  /** Finish an intercepted IN/OUT/INS/OUTS (one iteration) as if the device answered `value`. */
  completeIo(value: number): void;
  /** Perform an intercepted MOV to CRn the hypervisor allows, and skip the instruction; a value the MOV raises #GP(0) for queues that #GP instead. */
  completeCrWrite(cr: number, value: bigint): void;
  /** Advance RIP past the exiting instruction (ExitField.INSTR_LEN). */
  skipInstruction(): void;
  /** Queue an event for delivery at the next run, as VM-entry event injection does. */
  inject(type: EventType, vector: number, errorCode?: number): void;
  /** Level of the INTR line (an external interrupt is pending at the platform). */
  setInterruptLine(asserted: boolean): void;
  /** The NMI pin: delivered at the next boundary, ignoring IF, unless an NMI handler runs (until its IRET). */
  sendNmi(): void;
  /** INIT signal: the vCPU resets and waits for a SIPI; run() reports Exit.INIT, then HALTED. */
  sendInit(): void;
  /** Startup IPI: a vCPU waiting for SIPI reports Exit.SIPI and then runs real-mode code at vector << 12. */
  sendSipi(vector: number): void;
  /** Make run() return Exit.STOPPED at the next instruction boundary (callable from bus callbacks). */
  requestStop(): void;

  setControls(bits: number): void;
  setExceptionBitmap(bits: number): void;
  setIoIntercept(port: number, intercept: boolean): void;
  setMsrIntercept(index: number, read: boolean, write: boolean): void;
  setCpuid(entries: CpuidEntry[]): void;
  /** What the guest's CPUID (leaf, subleaf) answers from the table (what an intercepted CPUID would have returned). */
  cpuid(leaf: number, subleaf: number): CpuidEntry;
  /** Add or replace these CPUID entries, keeping the rest of the table (a platform adds its own leaves). */
  updateCpuid(entries: CpuidEntry[]): void;
}

export interface Machine {
  /** Guest-physical RAM from address 0, a view over the backend's memory (no copy). */
  readonly ram: Uint8Array;
  readonly ramSize: number;
  readonly vcpus: readonly Vcpu[];
  /** Nested page permissions (Access bits) for `count` pages from guest-physical `gpa`. */
  setNestedPerm(gpa: number, count: number, access: number): void;
  getNestedPerm(gpa: number): number;
  /** Tell the CPU that something other than the guest (DMA, the loader) wrote guest RAM. */
  notifyRamWritten(gpa: number, length: number): void;
  /**
   * A hypervisor breakpoint on the instruction starting at guest-physical `gpa`: every vCPU
   * exits with Exit.BREAKPOINT before executing it (and runs it on the next run). Invisible to
   * the guest; costs nothing elsewhere. Throws when the backend's table is full.
   */
  addExecBreakpoint(gpa: number): void;
  removeExecBreakpoint(gpa: number): void;
}

/** What a platform asks of a backend: guest RAM, its device bus, and the guest TSC's source. */
export interface MachineSpec {
  ramSize: number;
  bus: PlatformBus;
  /** vCPU 0 starts at RESET; the others wait for INIT/SIPI (default 1). */
  vcpus?: number;
  /**
   * The guest TSC's source: the platform's clock in TSC ticks (a non-negative
   * integer as a number), read on every RDTSC. Without it the TSC counts
   * retired instructions.
   */
  tsc?: () => number;
}

/** A backend: builds a Machine to a platform's spec (the software CPU's is createSoftwareMachine). */
export type MachineFactory = (spec: MachineSpec) => Promise<Machine>;
