// The one definition of the CPU backend's ABI: register, segment, exit and
// control numbering. This file is compiled twice: by AssemblyScript into the
// WebAssembly CPU and by TypeScript into the backend wrapper, so it may only
// use syntax both accept (plain numeric enums).

/** Architectural registers reachable through getReg/setReg. */
export enum Reg {
  RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7,
  R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15,
  RIP = 16, RFLAGS = 17,
  CR0 = 18, CR2 = 19, CR3 = 20, CR4 = 21, CR8 = 22,
  DR0 = 23, DR1 = 24, DR2 = 25, DR3 = 26, DR6 = 27, DR7 = 28,
  EFER = 29,
  GDTR_BASE = 30, GDTR_LIMIT = 31, IDTR_BASE = 32, IDTR_LIMIT = 33,
  /** Current privilege level (read-only: it follows CS and SS). */
  CPL = 34,
  /** Instructions retired since the vCPU was created. */
  INSTRET = 35,
  /** 0 running, 1 halted (HLT without HLT exiting), 2 waiting for SIPI. */
  ACTIVITY = 36,
  /** Interruptibility: bit 0 STI shadow, bit 1 MOV SS shadow, bit 2 NMI blocked. */
  INTERRUPTIBILITY = 37,
  MXCSR = 38,
  /** FPU_TW: the abridged tag (bit i: physical register i is valid), as FXSAVE stores it. */
  FPU_CW = 39, FPU_SW = 40, FPU_TW = 41,
  /** The last x87 instruction's opcode (11 bits), instruction pointer and CS, operand pointer and its segment. */
  FPU_FOP = 42, FPU_FIP = 43, FPU_FCS = 44, FPU_FDP = 45, FPU_FDS = 46,
  COUNT = 47,
}

/** Segment registers, in the ModRM sreg encoding order, then LDTR and TR. */
export enum Seg {
  ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5, LDTR = 6, TR = 7,
}

/** Fields of a cached segment descriptor (the hidden part). */
export enum SegField {
  SELECTOR = 0,
  BASE = 1,
  LIMIT = 2,
  /** Descriptor bits 40..55 shifted down: type, S, DPL, P, (limit 19:16), AVL, L, D/B, G. */
  ATTR = 3,
}

/** Why run() returned. */
export enum Exit {
  /** The instruction budget ran out; nothing is pending. */
  BUDGET = 0,
  /** HLT with HLT exiting: RIP is at the HLT (skip it to continue). */
  HLT = 1,
  /** The vCPU is halted (HLT without HLT exiting, or waiting for SIPI) with no interrupt to take. */
  HALTED = 2,
  /** An intercepted port access (see the I/O bitmap); complete it with completeIo. */
  IO = 3,
  /** CPUID with CPUID exiting; the leaf is in RAX/RCX. */
  CPUID = 4,
  /** RDMSR of an intercepted MSR. */
  MSR_READ = 5,
  /** WRMSR of an intercepted MSR. */
  MSR_WRITE = 6,
  /** A MOV to CR0/CR3/CR4 with that control set; the write has not happened. */
  CR_WRITE = 7,
  /** An exception whose vector is set in the exception bitmap, before delivery. */
  EXCEPTION = 8,
  /** VMCALL (or VMMCALL): the hypercall instruction. */
  VMCALL = 9,
  /** A guest access the nested page permissions forbid. */
  NPF = 10,
  /** A fault while delivering a double fault: the guest is shut down. */
  TRIPLE_FAULT = 11,
  /** Something this CPU cannot emulate (not an architectural #UD): the reason is an EmulationFailure in NUMBER. RIP is at the instruction. */
  EMULATION_FAILURE = 12,
  /** Interrupt-window exiting: the guest can now take an external interrupt. */
  INTERRUPT_WINDOW = 13,
  /** Monitor trap flag: one guest instruction retired. */
  MONITOR_TRAP = 14,
  /** An INIT signal arrived (the vCPU is reset to wait-for-SIPI). */
  INIT = 15,
  /** A SIPI arrived while waiting; the vector is in the qualification. */
  SIPI = 16,
  /** The platform asked run() to return (requestStop). */
  STOPPED = 17,
  /**
   * A hypervisor breakpoint (Machine.addExecBreakpoint): RIP is at the instruction, not yet
   * executed; GPA and GVA say where. The next run executes it without exiting again.
   */
  BREAKPOINT = 18,
}

/** Why the CPU could not emulate an instruction: ExitField.NUMBER of Exit.EMULATION_FAILURE. */
export enum EmulationFailure {
  /** The CPU trapped where no instruction asked it to (a bug in this CPU); the backend has the trap's message. */
  INTERNAL = 0,
  /**
   * An opcode of an instruction set CPUID advertises that this CPU does not implement (one CPUID does not
   * advertise raises #UD instead). VALUE: the opcode as map << 8 | byte (map 0 one-byte, 1 0F, 2 0F 38,
   * 3 0F 3A, 4 VEX); EXTRA: the CpuFeature.
   */
  OPCODE = 1,
  /** A CR4 write setting bits the architecture defines but this CPU does not implement; VALUE: those bits. */
  CR4_BITS = 2,
}

/** Instruction sets named by EmulationFailure.OPCODE. */
export enum CpuFeature {
  SSE3 = 0,
  /** SSSE3, SSE4.1, SSE4.2, AES-NI, PCLMULQDQ: the 0F 38 and 0F 3A maps. */
  SSSE3_SSE4 = 1,
  MOVBE = 2,
  AVX = 3,
  RDRAND = 4,
  RDSEED = 5,
  XSAVE = 6,
}

/** Exit qualification slots, read with exitField(). Which are meaningful depends on the exit. */
export enum ExitField {
  /** Length of the exiting instruction, to skip it (NPF: 0 for instruction fetches). */
  INSTR_LEN = 0,
  /** IO: port. MSR: index. CR_WRITE: CR number. EXCEPTION: vector. SIPI: vector. CPUID: leaf. EMULATION_FAILURE: the EmulationFailure. */
  NUMBER = 1,
  /** IO/MMIO/NPF: access size in bytes. */
  SIZE = 2,
  /** IO: 1 for IN. NPF: Access bits. */
  DIRECTION = 3,
  /** IO out/MSR write/CR write: the value. EXCEPTION: error code. NPF: the value being stored (if FLAGS is 1). */
  VALUE = 4,
  /** IO: 1 for INS/OUTS. EXCEPTION: 1 if there is an error code. NPF: 1 if VALUE holds the value a store writes. */
  FLAGS = 5,
  /** NPF: guest-physical address. EXCEPTION (#PF): the faulting linear address. */
  GPA = 6,
  /** NPF: guest-virtual (linear) address. */
  GVA = 7,
  /** CPUID: subleaf. IO: 1 if REP-prefixed. EMULATION_FAILURE: more detail (see EmulationFailure). */
  EXTRA = 8,
  COUNT = 9,
}

/** Bytes in a page (the granule of nested page permissions, memprot and dmaprot). */
export const PAGE_SIZE = 4096;

/**
 * Guest-physical start of the PC's MMIO hole below 4 GiB: guest RAM ends
 * below it (3 GiB at most), the PCI window and the chipset's devices lie above.
 */
export const MMIO_HOLE_START = 0xc000_0000;

/** Access kinds, as bits (NPF qualification, page permissions; the hypapp API's Prot is made of them). */
export enum Access {
  READ = 1,
  WRITE = 2,
  /** Instruction fetch in supervisor mode (CPL 0-2). */
  EXEC_SUPER = 4,
  /** Instruction fetch in user mode (CPL 3). */
  EXEC_USER = 8,
  ALL = 15,
  /** NPF qualification only: the access was part of a guest page-table walk. */
  PAGE_WALK = 16,
  /** NPF qualification only: the access was made at CPL 3. */
  USER = 32,
}

/** Bits of the control block's primary controls (setControls). */
export enum Control {
  CPUID_EXITING = 1,
  HLT_EXITING = 2,
  CR0_WRITE_EXITING = 4,
  CR3_WRITE_EXITING = 8,
  CR4_WRITE_EXITING = 16,
  /** Use the MSR bitmaps; without it no MSR access exits. */
  USE_MSR_BITMAP = 32,
  /** Use the I/O bitmap; without it no port access exits. */
  USE_IO_BITMAP = 64,
  INTERRUPT_WINDOW_EXITING = 128,
  MONITOR_TRAP_FLAG = 256,
  /** Check nested page permissions (memprot) on every guest access. */
  NESTED_PAGING = 512,
}

/** Event types for inject(). */
export enum EventType {
  EXTERNAL_INTERRUPT = 0,
  NMI = 2,
  HARDWARE_EXCEPTION = 3,
  SOFTWARE_INTERRUPT = 4,
}

/** Exception vectors (Intel SDM vol. 3, table 6-1). */
export enum Vector {
  DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8,
  TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18, XM = 19,
}

/** Well-known MSR indexes. */
export enum Msr {
  TSC = 0x10,
  APIC_BASE = 0x1b,
  TSC_DEADLINE = 0x6e0,
  EFER = 0xc0000080,
  STAR = 0xc0000081,
  /** The 64-bit SYSCALL entry point. */
  LSTAR = 0xc0000082,
  CSTAR = 0xc0000083,
  SFMASK = 0xc0000084,
  FS_BASE = 0xc0000100,
  GS_BASE = 0xc0000101,
  KERNEL_GS_BASE = 0xc0000102,
  TSC_AUX = 0xc0000103,
}

/** #PF error code bits. */
export enum PageFaultError {
  PRESENT = 1,
  WRITE = 2,
  USER = 4,
  RESERVED = 8,
  FETCH = 16,
}
