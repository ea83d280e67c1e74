// The run loop: deliver pending events, then decode and execute instructions
// until the budget runs out or something exits to the hypervisor.
import { INSN } from './layout';
import {
  rip, setRip, mode64, codeDefault32, segBase, SEG_CS, linearMask, STATE, O_FLAGS, F_TF, F_RF,
  burstEnd, setBurstEnd, needAttention,
} from './state';
import { debugArmed, instructionBreakpoint, watchHits, clearWatchHits } from './debug';
import { fault, DB } from './fault';
import { setFlagBits } from './flags';
import { decode, D_LEN, D_FAST, FAST_NONE } from './decode';
import { execute } from './exec';
import { execFast } from './fast';
import { setNextRip, nextRip, setInsn } from './operand';
import { codeHost } from './mem';
import { ioCompletion } from './sysinsn';
import { tagFor, tagAt, slotOf, markCodePage } from './codecache';
import {
  handleFault, hasPendingInjection, deliverInjected, intrLine, nmiPending, checkInterrupt, tookInterrupt,
  interruptShadow, setInterruptShadow, singleStepTrap, dataBreakpointTrap, controls, clearDelivering,
} from './events';
import { abortCause, exitReason, clearAbort, ABORT_EXIT, ABORT_FAULT, setExitField } from './fault';
import { setSegment, modeChanged } from './system';
import { resetForInit } from './reset';
import { Exit, Control, ExitField } from '../backend/abi';

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
  store<i32>(p + 16, initPending ? 1 : 0); store<i32>(p + 20, sipiVector);
}
export function loadRunState(p: usize): void {
  icount = load<i64>(p); activity = load<i32>(p + 8); stopRequested = load<i32>(p + 12) != 0;
  initPending = load<i32>(p + 16) != 0; sipiVector = load<i32>(p + 20);
}

export function run(budget: i64): i32 {
  budgetEnd = icount + budget;
  clearAbort();
  if (hasPendingInjection()) { activity = 0; deliverInjected(); }
  return loop();
}

/** Continue after a trap out of run(): report the exit or deliver the fault. */
export function resume(): i32 {
  const cause = abortCause;
  clearAbort();
  if (cause == ABORT_EXIT) { clearDelivering(); return exitReason; }
  if (cause == ABORT_FAULT) {
    const r = handleFault();
    if (r >= 0) return r;
    return loop();
  }
  return Exit.EMULATION_FAILURE; // a trap no instruction asked for: a bug in this CPU
}

/** Tag bits for the current code size (records decode differently per mode). */
// @ts-ignore: decorator
@inline function modeBits(): i32 { return (mode64 ? 2 : 0) | (codeDefault32 ? 1 : 0); }

/** The cached record for the instruction whose first byte is at host address `h`, decoding it on a miss. */
// @ts-ignore: decorator
@inline function cachedRecord(la: i64, h: usize, bits: i32): usize {
  const tag = tagFor(h, bits);
  const t = tagAt(h);
  const slot = slotOf(h);
  if (load<i64>(t) != tag) {
    decode(la, slot);
    markCodePage(h);
    store<i64>(t, tag);
  }
  return slot;
}

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
  const r = rip();
  const la = linearRip(r);
  const h = codeHost(la);
  let rec: usize;
  if (h == 0 || (<i32>la & 0xfff) > 0xff0) {
    // Code outside RAM, or an instruction that may cross into the next page: not cached.
    decode(la, INSN);
    rec = INSN;
  } else rec = cachedRecord(la, h, modeBits());
  setInsn(rec);
  setNextRip(nextRipAfter(r, rec));
  const tf = (load<i32>(STATE + O_FLAGS) & F_TF) != 0;
  const shadowBefore = interruptShadow;
  if (debugArmed && instructionBreakpoint(la)) { fault(DB, -1); return -1; }
  clearWatchHits();
  execute();
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
      (controls() & Control.MONITOR_TRAP_FLAG) != 0 || debugArmed;
    let r = rip();
    let la = linearRip(r);
    const h: usize = careful ? 0 : codeHost(la);
    if (h == 0 || (<i32>la & 0xfff) > 0xff0) {
      const t = stepCarefully();
      if (t >= 0) return t;
      continue;
    }

    // Fast path: stay on this code page, walking records by host address.
    const pageLa = la & ~0xfff;
    const pageHost = h - (<usize>la & 0xfff);
    const csBase = segBase(SEG_CS);
    const bits = modeBits();
    setBurstEnd(budgetEnd - icount < FAST_BURST ? budgetEnd : icount + FAST_BURST);
    while (true) {
      const off = <usize>la & 0xfff;
      if (off > 0xff0) break;
      const slot = cachedRecord(la, pageHost + off, bits);
      const next = nextRipAfter(r, slot);
      const fast = load<u8>(slot + D_FAST);
      setInsn(slot); // the current record, for exits that report the instruction length
      if (fast != FAST_NONE) r = execFast(fast, slot, next); // fast forms read the record directly
      else { setNextRip(next); execute(); r = nextRip; }
      setRip(r);
      icount++;
      if (icount >= burstEnd) break;
      la = mode64 ? r : (csBase + r) & 0xffffffff;
      if ((la & ~0xfff) != pageLa) break;
    }
  }
}
