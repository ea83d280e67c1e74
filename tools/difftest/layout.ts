// What the native runner and the emulated side agree on: fixed addresses,
// the shape of a test case, and the shape of its outcome.
import { Vector as ArchVector } from '../../src/backend/abi.js';

import type { HostRule } from './host.js';

/** Code of the running case (both natively and as guest-physical = linear address). */
export const CODE_BASE = 0x1000000;
export const CODE_SIZE = 0x10000;
/** Data region: operands live in the low half, the stack in the high half. */
export const DATA_BASE = 0x2000000;
export const DATA_SIZE = 0x10000;
export const HEAP_SIZE = 0x8000;
/** Initial RSP (offset into the data region); cases push below it and pop above it. */
export const STACK_TOP = 0xc000;
/** A canonical address that is mapped on neither side, for deliberate #PF. */
export const UNMAPPED_ADDR = 0x100_0000_0000n;
/** Guest RAM needed by the emulated side (page tables go at its top). */
export const GUEST_RAM_SIZE = 64 << 20;

/** RFLAGS bits. */
export const Flag = {
  CF: 0x1, PF: 0x4, AF: 0x10, ZF: 0x40, SF: 0x80, TF: 0x100, IF: 0x200, DF: 0x400, OF: 0x800,
  IOPL: 0x3000, NT: 0x4000, RF: 0x10000, VM: 0x20000, AC: 0x40000, VIF: 0x80000, VIP: 0x100000, ID: 0x200000,
} as const;
/** The six arithmetic flags. */
export const ARITH_FLAGS = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;
/**
 * RFLAGS bits the compare looks at: all of the low 32 but RF, which is an
 * artefact of how the fault was delivered. IF and IOPL are included: user
 * code must not be able to change them.
 */
export const COMPARED_FLAGS = (0xffffffff & ~Flag.RF) >>> 0;

/** Exception vectors (the ABI's) and pseudo-vectors for outcomes that are not exceptions. */
export const Vector = {
  DE: ArchVector.DE, DB: ArchVector.DB, BP: ArchVector.BP, UD: ArchVector.UD, NM: ArchVector.NM, DF: ArchVector.DF,
  SS: ArchVector.SS, GP: ArchVector.GP, PF: ArchVector.PF, MF: ArchVector.MF, AC: ArchVector.AC, XM: ArchVector.XM,
  /** The case did not reach its final ud2 in time. */
  TIMEOUT: 256,
  /** Our CPU stopped for a reason other than an exception (see Outcome.note). */
  OTHER_EXIT: 257,
} as const;

/** Vectors that push an error code. */
export const VECTORS_WITH_ERROR_CODE = new Set([8, 10, 11, 12, 13, 14, 17, 21]);

export const GPR_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;

export interface CpuState {
  /** RAX..R15 in encoding order. */
  gpr: bigint[];
  rip: bigint;
  rflags: bigint;
  /** XMM0..XMM15, 16 little-endian bytes each. */
  xmm: Uint8Array;
  mxcsr: number;
}

/** Bytes of the data region that differ from the pattern (case set-up or results). */
export interface MemRun {
  offset: number;
  bytes: Uint8Array;
}

export interface TestCase {
  /** Index in its batch; with the seed it identifies the case. */
  id: number;
  category: string;
  /** Assembly of each instruction (the final ud2 is not listed). */
  insns: string[];
  /** Machine code including the final ud2. */
  code: Uint8Array;
  /** Offset of the end of each instruction in `code`. */
  insnEnds: number[];
  /** Initial state; rip is CODE_BASE. */
  init: CpuState;
  /** Initial data = pattern overlaid with these. */
  patches: MemRun[];
  /** RFLAGS bits that are architecturally undefined at the end of the case. */
  undefinedFlags: number;
  /** GPRs (bit per register number) whose final value is architecturally undefined. */
  undefinedRegs: number;
  /** Results whose comparison depends on the host CPU (host.ts). */
  hostRules?: HostRule[];
}

export interface Outcome {
  /** Exception vector that ended the case: UD at the final ud2 for a normal end. */
  vector: number;
  errorCode: bigint;
  /** Faulting linear address for #PF. */
  faultAddr: bigint;
  state: CpuState;
  /** Runs of data bytes that differ from the initial data at the end. */
  memChanges: MemRun[];
  /** Why the emulated run stopped when it was not an exception. */
  note?: string;
}
