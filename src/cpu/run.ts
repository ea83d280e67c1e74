// The run loop: deliver pending events, then decode and execute instructions
// until the budget runs out or something exits to the hypervisor.
import { countEvent, countGeneral, P_FAST, P_BLOCK_LENGTH, P_BLOCK_LINKED, P_PAGE_CHANGE, P_BLOCK_RUN, P_CAREFUL_STEP } from './profile';
import { INSN, RAM_BASE } from './layout';
import {
  rip, setRip, mode64, codeDefault32, segBase, SEG_CS, linearMask, STATE, O_FLAGS, F_TF, F_RF,
  burstEnd, setBurstEnd, needAttention, blockEnd, setBlockEnd,
} from './state';
import { debugArmed, instructionBreakpoint, watchHits, clearWatchHits } from './debug';
import { fault, DB } from './fault';
import { setFlagBits } from './flags';
import { decode, D_LEN, D_FAST, FAST_NONE, RECORD_SIZE, RECORD_SHIFT } from './decode';
import { execute } from './exec';
import { execFast } from './fast';
import { setNextRip, nextRip, setInsn, dLen } from './operand';
import { codeHost, hostFor } from './mem';
import { tlbSet, T_EXEC } from './paging';
import { ioCompletion } from './sysinsn';
import { hvbpCount, isHvBreakpoint } from './hvbp';
import { lookupBlock, recordsBefore, linkBlock, arenaEpoch, B_COUNT, B_RECORDS, B_LINK0_OFF, B_LINK1_OFF, B_LINK0, B_LINK1 } from './codecache';
import {
  handleFault, hasPendingInjection, deliverInjected, intrLine, nmiPending, checkInterrupt, tookInterrupt,
  interruptShadow, setInterruptShadow, singleStepTrap, dataBreakpointTrap, controls, clearDelivering,
} from './events';
import {
  abortCause, exitReason, clearAbort, ABORT_EXIT, ABORT_FAULT, ABORT_EMULATION, setExitField, pendingExit, takePendingExit,
  noteEmulationFailure, takeDeferredFailure,
} from './fault';
import { setSegment, modeChanged } from './system';
import { resetForInit } from './reset';
import { Exit, Control, ExitField, EmulationFailure } from '../backend/abi';

/** Instructions retired. */
export let icount: i64 = 0;
export function setIcount(v: i64): void { icount = v; }
let budgetEnd: i64 = 0;
let stopRequested = false;
export function requestStop(): void { stopRequested = true; needAttention(); }

/** 0 running, 1 halted, 2 waiting for SIPI. */
export let activity: i32 = 0;
export function setActivity(v: i32): void { activity = v; needAttention(); }

// INIT and SIPI signals from other processors (through the platform's local APIC).
let initPending = false;
let sipiVector: i32 = -1;
export function signalInit(): void { initPending = true; needAttention(); }
export function signalSipi(vector: i32): void { sipiVector = vector & 0xff; needAttention(); }

/** INIT and SIPI handling at an instruction boundary: an exit reason, or -1 to go on. */
function initSipi(): i32 {
  if (initPending) {
    initPending = false;
    sipiVector = -1;
    resetForInit();
    activity = 2;
    return Exit.INIT;
  }
  if (activity == 2) {
    if (sipiVector < 0) return Exit.HALTED;
    // Start in real mode at vector:0000.
    setSegment(SEG_CS, sipiVector << 8, <i64>sipiVector << 12, 0xffff, 0x9b);
    setRip(0);
    setExitField(ExitField.NUMBER, sipiVector);
    sipiVector = -1;
    activity = 0;
    modeChanged();
    return Exit.SIPI;
  }
  return -1;
}

/** Save and restore this module's per-vCPU values (vcpu.ts). */
export function saveRunState(p: usize): void {
  store<i64>(p, icount); store<i32>(p + 8, activity); store<i32>(p + 12, stopRequested ? 1 : 0);
  store<i32>(p + 16, initPending ? 1 : 0); store<i32>(p + 20, sipiVector); store<i64>(p + 24, hvbpPassing);
}
export function loadRunState(p: usize): void {
  icount = load<i64>(p); activity = load<i32>(p + 8); stopRequested = load<i32>(p + 12) != 0;
  initPending = load<i32>(p + 16) != 0; sipiVector = load<i32>(p + 20); hvbpPassing = load<i64>(p + 24);
}

/** The hypervisor breakpoint this vCPU last exited at: its instruction runs once without exiting again. */
let hvbpPassing: i64 = -1;
/** Where that breakpoint's instruction is (its linear address). */
let hvbpPassingAt: i64 = -1;
export function saveHvbpAt(p: usize): void { store<i64>(p, hvbpPassingAt); }
export function loadHvbpAt(p: usize): void { hvbpPassingAt = load<i64>(p); }
/**
 * The hypervisor moves RIP from `from` to `to`: moved away from the
 * breakpoint it stopped at (a skipped call, say), the next visit there exits again.
 */
export function hvbpRipMoved(from: i64, to: i64): void {
  if (from != to && linearRip(from) == hvbpPassingAt) hvbpPassing = -1;
}

/** Exit.BREAKPOINT if the instruction at linear `la` (decoded, so in RAM) starts at a hypervisor breakpoint, else -1. */
function hvBreakpoint(la: i64): i32 {
  const h = codeHost(la);
  if (h == 0) return -1;
  const gpa = <i64>(h - RAM_BASE);
  if (!isHvBreakpoint(gpa)) return -1;
  if (hvbpPassing == gpa) { hvbpPassing = -1; return -1; }
  hvbpPassing = gpa;
  hvbpPassingAt = la;
  setExitField(ExitField.GPA, gpa);
  setExitField(ExitField.GVA, la);
  setExitField(ExitField.INSTR_LEN, <i64>load<u8>(INSN + D_LEN));
  return Exit.BREAKPOINT;
}

export function run(budget: i64): i32 {
  budgetEnd = icount + budget;
  clearAbort();
  if (takeDeferredFailure()) return Exit.EMULATION_FAILURE; // found since this vCPU's last run
  if (hasPendingInjection()) { activity = 0; deliverInjected(); }
  return loop();
}

/**
 * Length of the instruction being executed, for exits that report it. Fast
 * forms inside a block run without making their record current, so find it
 * from the block (a cold path, kept out of the block loop).
 */
export function currentInstructionLength(): i32 {
  if (block == 0) return dLen();
  const k = recordsBefore(block, rip() - blockRip);
  return <i32>load<u8>(block + B_RECORDS + <usize>k * RECORD_SIZE + D_LEN);
}

/** Continue after a trap out of run(): report the exit or deliver the fault. */
export function resume(): i32 {
  if (block != 0) {
    // Left a block midway: count the instructions before the one that trapped.
    icount = blockIcount + <i64>recordsBefore(block, rip() - blockRip);
    block = 0;
  }
  const cause = abortCause;
  clearAbort();
  if (cause == ABORT_EXIT) { clearDelivering(); return exitReason; }
  if (cause == ABORT_FAULT) {
    const r = handleFault();
    if (r >= 0) return r;
    return loop();
  }
  if (cause == ABORT_EMULATION) { clearDelivering(); return Exit.EMULATION_FAILURE; }
  // A trap no instruction asked for: a bug in this CPU (the backend reports the trap's own message).
  noteEmulationFailure(EmulationFailure.INTERNAL, 0, 0);
  return Exit.EMULATION_FAILURE;
}

/** Tag bits for the current code size (records decode differently per mode). */
// @ts-ignore: decorator
@inline function modeBits(): i32 { return (mode64 ? 2 : 0) | (codeDefault32 ? 1 : 0); }

function linearRip(r: i64): i64 { return mode64 ? r : (segBase(SEG_CS) + r) & linearMask; }

// @ts-ignore: decorator
@inline function nextRipAfter(r: i64, rec: usize): i64 {
  const next = r + <i64>load<u8>(rec + D_LEN);
  if (mode64) return next;
  return next & (codeDefault32 ? 0xffffffff : 0xffff);
}

/**
 * Execute one instruction with every check: single-step traps, shadows,
 * monitor trap, code that is not cached. Returns an exit reason or -1.
 */
function stepCarefully(): i32 {
  countEvent(P_CAREFUL_STEP);
  const r = rip();
  const la = linearRip(r);
  decode(la, INSN);
  const rec = INSN;
  setInsn(rec);
  setNextRip(nextRipAfter(r, rec));
  const tf = (load<i32>(STATE + O_FLAGS) & F_TF) != 0;
  const shadowBefore = interruptShadow;
  if (hvbpCount != 0) { const t = hvBreakpoint(la); if (t >= 0) return t; }
  if (debugArmed && instructionBreakpoint(la)) { fault(DB, -1); return -1; }
  clearWatchHits();
  execute();
  if (pendingExit != 0) return takePendingExit(); // not retired: RIP stays at it
  setRip(nextRip);
  icount++;
  // RF suppresses breakpoints for one instruction only.
  if ((load<i32>(STATE + O_FLAGS) & F_RF) != 0) setFlagBits(F_RF, 0);
  if (watchHits != 0) { const t = dataBreakpointTrap(watchHits); if (t >= 0) return t; }
  // A shadow lasts for one instruction after the one that set it.
  if (shadowBefore != 0 && interruptShadow == shadowBefore) setInterruptShadow(0);
  if (tf) { const t = singleStepTrap(); if (t >= 0) return t; }
  if ((controls() & Control.MONITOR_TRAP_FLAG) != 0) return Exit.MONITOR_TRAP;
  return -1;
}

/** Longest run of the fast path before events are looked at again. */
const FAST_BURST: i64 = 4096;

// The block being executed, for recounting instructions when one traps
// midway (see resume()); 0 outside blocks.
let block: usize = 0;
let blockRip: i64 = 0;
let blockIcount: i64 = 0;

/**
 * Make icount exact in the middle of a block (it is kept per block), before
 * the platform gets control from inside an instruction (MMIO).
 */
export function syncIcount(): void {
  if (block != 0) icount = blockIcount + <i64>recordsBefore(block, rip() - blockRip);
}

function loop(): i32 {
  while (true) {
    if (initPending || activity == 2) {
      const r = initSipi();
      if (r >= 0) return r;
    }
    // An intercepted port access the hypervisor completed re-executes first:
    // no event may come between it and its completion.
    if ((intrLine || nmiPending || activity != 0) && !ioCompletion) {
      const r = checkInterrupt();
      if (r >= 0) return r;
      if (tookInterrupt) activity = 0;
      if (activity != 0) return Exit.HALTED;
    }
    if (stopRequested) { stopRequested = false; return Exit.STOPPED; }
    if (icount >= budgetEnd) return Exit.BUDGET;

    const careful = interruptShadow != 0 || (load<i32>(STATE + O_FLAGS) & (F_TF | F_RF)) != 0 ||
      (controls() & Control.MONITOR_TRAP_FLAG) != 0 || debugArmed ||
      // IP wraps within a page unless CS's base is page-aligned: blocks would run past the wrap.
      (!mode64 && (segBase(SEG_CS) & 0xfff) != 0);
    if (!careful) {
      setBurstEnd(budgetEnd - icount < FAST_BURST ? budgetEnd : icount + FAST_BURST);
      runBlocks();
      if (pendingExit != 0) return takePendingExit();
      if (burstEnd != 0 && icount < burstEnd) {
        // Stopped at code that cannot be in a block: one careful step.
        const t = stepCarefully();
        if (t >= 0) return t;
      }
      continue;
    }
    const t = stepCarefully();
    if (t >= 0) return t;
  }
}

/**
 * The fast path: run decoded blocks until the burst ends, something needs
 * attention (burstEnd zeroed), or the code at RIP cannot be in a block (not
 * RAM, or an instruction crossing into the next page).
 */
function runBlocks(): void {
  const m64 = mode64;
  const csBase = segBase(SEG_CS);
  const laMask = linearMask;
  const ripMask: i64 = m64 ? -1 : codeDefault32 ? 0xffffffff : 0xffff;
  const bits = modeBits();
  let r = rip();
  let pageLa: i64 = -1;
  let pageHost: usize = 0;
  let b: usize = 0;
  while (true) {
    const la = m64 ? r : (csBase + r) & laMask;
    const off = <i32>la & 0xfff;
    if ((la & ~0xfff) == pageLa) {
      // The same page as the last block: follow its link, or look up and link.
      if (<i32>load<u16>(b + B_LINK0_OFF) == off) { b = <usize>load<u32>(b + B_LINK0); countEvent(P_BLOCK_LINKED); }
      else if (<i32>load<u16>(b + B_LINK1_OFF) == off) { b = <usize>load<u32>(b + B_LINK1); countEvent(P_BLOCK_LINKED); }
      else {
        const epoch = arenaEpoch;
        const next = lookupBlock(la, pageHost + <usize>off, bits);
        if (next == 0) return;
        if (arenaEpoch == epoch) linkBlock(b, off, next);
        b = next;
      }
    } else {
      countEvent(P_PAGE_CHANGE);
      let h = hostFor(tlbSet, la, T_EXEC);
      if (h == 0) h = codeHost(la);
      if (h == 0) return;
      pageLa = la & ~0xfff;
      pageHost = h - <usize>off;
      b = lookupBlock(la, h, bits);
      if (b == 0) return;
    }
    countEvent(P_BLOCK_RUN);
    const first = b + B_RECORDS;
    const end = first + (<usize>load<u8>(b + B_COUNT) << RECORD_SHIFT);
    // The budget is exact; the burst (a bound on the time between looks at events) may overshoot
    // by a block. A block the budget cuts short runs carefully: its records may leave flags to a
    // later instruction of the block (codecache.ts dropDeadFlags).
    if (budgetEnd - icount < <i64>((end - first) >> RECORD_SHIFT)) return;
    const base = icount;
    block = b; blockRip = r; blockIcount = base;
    setBlockEnd(end);
    let rec = first;
    // Within a block, RIP does not wrap (the block lies in one page, and IP wraps at page boundaries
    // here, see loop()): `next` needs ripMask only after the block's last instruction. A taken
    // branch, and anything that needs attention, zero blockEnd to leave the block.
    do {
      const next = r + <i64>load<u8>(rec + D_LEN);
      const fast = load<u8>(rec + D_FAST);
      if (fast != FAST_NONE) {
        countEvent(P_FAST + <i32>fast);
        r = execFast(<i32>fast, rec, next); // fast forms read the record directly
      } else {
        icount = base + <i64>((rec - first) >> RECORD_SHIFT);
        countGeneral(rec);
        setInsn(rec);
        const n = next & ripMask;
        setNextRip(n);
        execute();
        if (pendingExit != 0) break; // it exits unretired: RIP and the count stay before it
        r = nextRip;
        if (r != n) setBlockEnd(0); // it branched, or repeats (a REP yielding)
      }
      setRip(r);
      rec += RECORD_SIZE;
    } while (rec < blockEnd);
    icount = base + <i64>((rec - first) >> RECORD_SHIFT);
    countEvent(P_BLOCK_LENGTH + <i32>((rec - first) >> RECORD_SHIFT));
    block = 0;
    // Wrap IP at the code size in force now: the last instruction may have changed the mode
    // (INT, SYSCALL or a far transfer from 32-bit code into 64-bit code), and its target is exact.
    if (!mode64) { r &= codeDefault32 ? 0xffffffff : 0xffff; setRip(r); }
    if (icount >= burstEnd || pendingExit != 0) return;
  }
}
