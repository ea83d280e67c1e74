// The WebAssembly CPU's exports: the raw backend ABI that
// src/backend/software.ts wraps into the Vcpu/Machine interfaces.
import { RAM_BASE, NPT, CONTROL, MSR_BITMAP, IO_BITMAP, STATE, STATE_SIZE, CPUID_MAX_ENTRIES } from './layout';
import {
  reg64, setReg64, rip, setRip, st64, setSt64, segBase, setSegBase, segLimit, setSegLimit, segSel, setSegSel,
  segAttr, setSegAttr, O_FLAGS, O_CR0, O_CR2, O_CR3, O_CR4, O_CR8, O_DR, O_EFER, O_GDTR_BASE, O_GDTR_LIMIT,
  O_IDTR_BASE, O_IDTR_LIMIT, O_APIC_BASE, O_PAT, O_MTRR_DEF, O_MXCSR, O_FPU_CW, O_FPU_SW, O_FPU_TAG, O_FPU_TOP, O_XMM,
  O_FPU_FOP, O_FPU_FIP, O_FPU_FCS, O_FPU_FDP, O_FPU_FDS,
  cpl,
} from './state';
import { getFlags, materializeFlags } from './flags';
import { setRamSize, tlbFlushAll, nestedPermsChanged, ramSize } from './paging';
import { modeChanged } from './system';
import { Reg, SegField, EventType, EmulationFailure } from '../backend/abi';
import { run as runLoop, resume as resumeLoop, icount, setIcount, activity, setActivity, requestStop as stop } from './run';
import { getExitField, emulationFailureAtNextRun, GP } from './fault';
import { completeIo as ioComplete } from './sysinsn';
import { writeCr, crWriteFaults, CR4_UNIMPLEMENTED } from './sysinsn';
import { injectEvent, setIntrLine, interruptShadow, setInterruptShadow, raiseNmi, nmiBlocked, setNmiBlocked, C_CONTROLS, C_EXCEPTION_BITMAP } from './events';
import { rdmsr, wrmsr, msrMissing, setTscFromPlatform } from './msr';
import { cpuidSet, cpuidClear, cpuidLookup, outA, outB, outC, outD } from './cpuid';
import { invalidateRange, invalidateAllCode } from './codecache';
import { addHvBreakpoint, removeHvBreakpoint, HVBP_MAX } from './hvbp';
import { resetAll } from './reset';
import { switchTo, createVcpus } from './vcpu';
import { debugRegistersChanged } from './debug';
import { signalInit, signalSipi, hvbpRipMoved } from './run';
import { stRegister, setStRegister } from './fpu';

// Table sizes the host needs (its error messages): exported so it never spells them again.
export const EXEC_BREAKPOINTS_MAX: i32 = HVBP_MAX;
export const CPUID_ENTRIES_MAX: i32 = CPUID_MAX_ENTRIES;

/** Grow memory to hold `bytes` of guest RAM; returns the offset of guest-physical 0, or 0 on failure. */
export function init(bytes: f64): u32 {
  const need = <u64>RAM_BASE + <u64>bytes;
  if (need > 0x100000000) return 0;
  const have = <u64>memory.size() << 16;
  if (need > have) {
    if (memory.grow(<i32>((need - have + 0xffff) >> 16)) < 0) return 0;
  }
  setRamSize(<u64>bytes);
  invalidateAllCode();
  memory.fill(NPT, 15, 0x100000); // memprot starts with every page fully accessible
  reset();
  return <u32>RAM_BASE;
}

/** Create `n` vCPUs (vCPU 0 plus application processors waiting for SIPI). */
export function setVcpuCount(n: i32): bool { return createVcpus(n); }
/** Make vCPU `i` the one every other export acts on. */
export function selectVcpu(i: i32): void { switchTo(i); }

/** Power-on state: real mode at F000:FFF0, as after RESET, with an empty control block and the default CPUID model. */
export function reset(): void { resetAll(); }

// ---- registers ----
export function getReg(r: i32): i64 {
  if (r < 16) return reg64(r);
  switch (r) {
    case Reg.RIP: return rip();
    case Reg.RFLAGS: return <i64>getFlags();
    case Reg.CR0: return st64(O_CR0);
    case Reg.CR2: return st64(O_CR2);
    case Reg.CR3: return st64(O_CR3);
    case Reg.CR4: return st64(O_CR4);
    case Reg.CR8: return st64(O_CR8);
    case Reg.DR0: case Reg.DR1: case Reg.DR2: case Reg.DR3: return st64(O_DR + (<usize>(r - Reg.DR0) << 3));
    case Reg.DR6: return st64(O_DR + 32);
    case Reg.DR7: return st64(O_DR + 40);
    case Reg.EFER: return st64(O_EFER);
    case Reg.GDTR_BASE: return st64(O_GDTR_BASE);
    case Reg.GDTR_LIMIT: return st64(O_GDTR_LIMIT);
    case Reg.IDTR_BASE: return st64(O_IDTR_BASE);
    case Reg.IDTR_LIMIT: return st64(O_IDTR_LIMIT);
    case Reg.CPL: return cpl;
    case Reg.INSTRET: return icount;
    case Reg.ACTIVITY: return activity;
    case Reg.INTERRUPTIBILITY: return interruptShadow | (nmiBlocked ? 4 : 0);
    case Reg.MXCSR: return <i64>load<u32>(STATE + O_MXCSR);
    case Reg.FPU_CW: return <i64>load<u16>(STATE + O_FPU_CW);
    case Reg.FPU_SW: return <i64>((load<u16>(STATE + O_FPU_SW) & ~0x3800) | ((<i32>load<u8>(STATE + O_FPU_TOP) & 7) << 11));
    case Reg.FPU_TW: return <i64>load<u8>(STATE + O_FPU_TAG);
    case Reg.FPU_FOP: return <i64>(load<u16>(STATE + O_FPU_FOP) & 0x7ff);
    case Reg.FPU_FIP: return load<i64>(STATE + O_FPU_FIP);
    case Reg.FPU_FCS: return <i64>load<u16>(STATE + O_FPU_FCS);
    case Reg.FPU_FDP: return load<i64>(STATE + O_FPU_FDP);
    case Reg.FPU_FDS: return <i64>load<u16>(STATE + O_FPU_FDS);
    default: return 0;
  }
}

/** Set a register directly (no checks, no exits): the hypervisor's view of the state. */
export function setReg(r: i32, v: i64): void {
  if (r < 16) { setReg64(r, v); return; }
  switch (r) {
    case Reg.RIP: hvbpRipMoved(rip(), v); setRip(v); return;
    case Reg.RFLAGS: materializeFlags(); store<i32>(STATE + O_FLAGS, (<i32>v & 0x3f7fd5) | 2); modeChanged(); return;
    case Reg.CR0: setSt64(O_CR0, v); tlbFlushAll(); modeChanged(); return;
    case Reg.CR2: setSt64(O_CR2, v); return;
    case Reg.CR3: setSt64(O_CR3, v); tlbFlushAll(); return;
    case Reg.CR4: setSt64(O_CR4, v); tlbFlushAll(); modeChanged(); return;
    case Reg.CR8: setSt64(O_CR8, v & 15); return;
    case Reg.DR0: case Reg.DR1: case Reg.DR2: case Reg.DR3:
      setSt64(O_DR + (<usize>(r - Reg.DR0) << 3), v); debugRegistersChanged(); tlbFlushAll(); return;
    case Reg.DR6: setSt64(O_DR + 32, v); return;
    case Reg.DR7: setSt64(O_DR + 40, v); debugRegistersChanged(); tlbFlushAll(); return;
    case Reg.EFER: setSt64(O_EFER, v); tlbFlushAll(); modeChanged(); return;
    case Reg.GDTR_BASE: setSt64(O_GDTR_BASE, v); return;
    case Reg.GDTR_LIMIT: setSt64(O_GDTR_LIMIT, v & 0xffff); return;
    case Reg.IDTR_BASE: setSt64(O_IDTR_BASE, v); return;
    case Reg.IDTR_LIMIT: setSt64(O_IDTR_LIMIT, v & 0xffff); return;
    case Reg.INSTRET: setIcount(v); return;
    case Reg.ACTIVITY: setActivity(<i32>v); return;
    case Reg.INTERRUPTIBILITY: setInterruptShadow(<i32>v & 3); setNmiBlocked((v & 4) != 0); return;
    case Reg.MXCSR: store<u32>(STATE + O_MXCSR, <u32>v); return;
    case Reg.FPU_CW: store<u16>(STATE + O_FPU_CW, <u16>v); return;
    case Reg.FPU_SW: store<u16>(STATE + O_FPU_SW, <u16>v); store<u8>(STATE + O_FPU_TOP, <u8>((v >> 11) & 7)); return;
    case Reg.FPU_TW: store<u8>(STATE + O_FPU_TAG, <u8>v); return;
    case Reg.FPU_FOP: store<u16>(STATE + O_FPU_FOP, <u16>(v & 0x7ff)); return;
    case Reg.FPU_FIP: store<i64>(STATE + O_FPU_FIP, v); return;
    case Reg.FPU_FCS: store<u16>(STATE + O_FPU_FCS, <u16>v); return;
    case Reg.FPU_FDP: store<i64>(STATE + O_FPU_FDP, v); return;
    case Reg.FPU_FDS: store<u16>(STATE + O_FPU_FDS, <u16>v); return;
    default: return;
  }
}

export function getSeg(s: i32, field: i32): i64 {
  if (field == SegField.SELECTOR) return segSel(s);
  if (field == SegField.BASE) return segBase(s);
  if (field == SegField.LIMIT) return <i64>segLimit(s);
  return segAttr(s);
}
export function setSeg(s: i32, field: i32, v: i64): void {
  if (field == SegField.SELECTOR) setSegSel(s, <i32>v);
  else if (field == SegField.BASE) setSegBase(s, v);
  else if (field == SegField.LIMIT) setSegLimit(s, <u32>v);
  else setSegAttr(s, <i32>v);
  modeChanged();
}

/** XMM register r, 64-bit half `hi`. */
export function getXmm(r: i32, hi: i32): i64 { return load<i64>(STATE + O_XMM + (<usize>r << 4) + (<usize>hi << 3)); }
export function setXmm(r: i32, hi: i32, v: i64): void { store<i64>(STATE + O_XMM + (<usize>r << 4) + (<usize>hi << 3), v); }

/** x87 ST(i) in stack order: part 0 the significand, part 1 the sign/exponent word. */
export function getSt(i: i32, part: i32): i64 { return stRegister(i, part); }
export function setSt(i: i32, significand: i64, signExponent: i32): void { setStRegister(i, significand, signExponent); }

export function getMsr(idx: u32): i64 { return rdmsr(idx); }
export function msrExists(): bool { return !msrMissing; }
export function setMsr(idx: u32, v: i64): bool { return wrmsr(idx, v); }
/** 1: the TSC reads the guestTsc import (the platform's clock); 0: it counts retired instructions. */
export function setTscSource(platform: bool): void { setTscFromPlatform(platform); }

/**
 * Complete an intercepted CR write the hypervisor allowed: true if done; false if not (the MOV is not
 * retired): a value the MOV raises #GP(0) for queues that #GP, and one setting CR4 bits this CPU does not
 * implement makes the next run() return Exit.EMULATION_FAILURE.
 */
export function completeCrWrite(n: i32, v: i64): bool {
  if (n == 4 && (v & CR4_UNIMPLEMENTED) != 0) {
    emulationFailureAtNextRun(EmulationFailure.CR4_BITS, v & CR4_UNIMPLEMENTED, 0);
    return false;
  }
  if (crWriteFaults(n, v)) { injectEvent(EventType.HARDWARE_EXCEPTION, GP, 0); return false; }
  writeCr(n, v);
  return true;
}

// ---- controls ----
export function setControls(bits: i32): void { store<i32>(CONTROL + C_CONTROLS, bits); tlbFlushAll(); }
export function setExceptionBitmap(bits: u32): void { store<u32>(CONTROL + C_EXCEPTION_BITMAP, bits); }
export function setIoIntercept(port: i32, on: bool): void {
  const p = IO_BITMAP + <usize>((port & 0xffff) >> 3);
  const b = <u8>(1 << <u8>(port & 7));
  store<u8>(p, on ? load<u8>(p) | b : load<u8>(p) & ~b);
}
export function setMsrIntercept(idx: u32, read: bool, write: bool): void {
  let base: usize;
  if (idx <= 0x1fff) base = MSR_BITMAP;
  else if (idx >= 0xc0000000 && idx <= 0xc0001fff) base = MSR_BITMAP + 1024;
  else return;
  const bit = idx & 0x1fff;
  const off = <usize>(bit >> 3);
  const m = <u8>(1 << <u8>(bit & 7));
  store<u8>(base + off, read ? load<u8>(base + off) | m : load<u8>(base + off) & ~m);
  store<u8>(base + 2048 + off, write ? load<u8>(base + 2048 + off) | m : load<u8>(base + 2048 + off) & ~m);
}
export function cpuidReset(): void { cpuidClear(); }
export function cpuidEntry(leaf: i32, subleaf: i32, a: i32, b: i32, c: i32, d: i32): bool { return cpuidSet(leaf, subleaf, a, b, c, d); }
/** What CPUID (leaf, subleaf) returns from the table: register `r` (0 EAX, 1 EBX, 2 ECX, 3 EDX). */
export function cpuidQuery(leaf: i32, subleaf: i32, r: i32): i32 {
  cpuidLookup(leaf, subleaf);
  return r == 0 ? outA : r == 1 ? outB : r == 2 ? outC : outD;
}

// ---- nested page permissions ----
export function setNestedPerm(firstPage: u32, count: u32, access: i32): void {
  const end: u32 = firstPage + count > 0x100000 ? 0x100000 : firstPage + count;
  // Only rights taken away matter to the TLB: an entry lacking a right just misses and refills.
  let reduced = false;
  for (let p = firstPage; p < end && !reduced; p++) reduced = (load<u8>(NPT + <usize>p) & ~access) != 0;
  if (end > firstPage) memory.fill(NPT + <usize>firstPage, <u8>access, <usize>(end - firstPage));
  if (reduced) nestedPermsChanged(<i64>firstPage, <i64>end);
}
export function getNestedPerm(page: u32): i32 { return page < 0x100000 ? load<u8>(NPT + <usize>page) : 15; }

// ---- running ----
export function run(budget: i64): i32 { return runLoop(budget); }
export function resume(): i32 { return resumeLoop(); }
export function exitField(i: i32): i64 { return getExitField(i); }
export function completeIo(v: i32): void { ioComplete(v); }
export function inject(type: i32, vector: i32, error: i32): void { injectEvent(type, vector, error); }
export function setInterruptLine(on: bool): void { setIntrLine(on); }
export function requestStop(): void { stop(); }
/** The NMI pin: an NMI is delivered at the next boundary unless one is being handled (until IRET). */
export function sendNmi(): void { raiseNmi(); }
/** INIT IPI: the vCPU resets and waits for a SIPI (run() reports Exit.INIT, then HALTED until the SIPI). */
export function sendInit(): void { signalInit(); }
/** Startup IPI: a vCPU waiting for SIPI starts in real mode at vector << 12. */
export function sendSipi(vector: i32): void { signalSipi(vector); }
/** Guest RAM at [gpa, gpa+len) was written by someone other than the guest (DMA, the loader). */
export function ramWritten(gpa: f64, len: f64): void { invalidateRange(<i64>gpa, <i64>len); }
export function addExecBreakpoint(gpa: f64): bool { return addHvBreakpoint(<i64>gpa); }
export function removeExecBreakpoint(gpa: f64): void { removeHvBreakpoint(<i64>gpa); }

/** Profiling builds' event counters (profile.ts), or 0. */
export { profileCounters } from './profile';
