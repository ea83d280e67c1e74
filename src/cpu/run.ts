// The run loop: deliver pending events, then decode and execute instructions
// until the budget runs out or something exits to the hypervisor.
import { INSN } from './layout';
import { rip, setRip, mode64, codeDefault32, segBase, SEG_CS, linearMask, STATE, O_FLAGS, F_TF, attention, clearAttention, needAttention } from './state';
import { decode, D_LEN } from './decode';
import { execute } from './exec';
import { setNextRip, nextRip, setInsn } from './operand';
import { codeHost } from './mem';
import { tagFor, tagAt, slotOf, markCodePage } from './codecache';
import {
  handleFault, hasPendingInjection, deliverInjected, intrLine, checkInterrupt, tookInterrupt,
  interruptShadow, setInterruptShadow, singleStepTrap, controls, clearDelivering,
} from './events';
import { abortCause, exitReason, clearAbort, ABORT_EXIT, ABORT_FAULT } from './fault';
import { Exit, Control } from '../backend/abi';

/** Instructions retired. */
export let icount: i64 = 0;
export function setIcount(v: i64): void { icount = v; }
let budgetEnd: i64 = 0;
let stopRequested = false;
export function requestStop(): void { stopRequested = true; needAttention(); }

/** 0 running, 1 halted, 2 waiting for SIPI. */
export let activity: i32 = 0;
export function setActivity(v: i32): void { activity = v; needAttention(); }

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
@inline function cachedRecord(la: i64, h: usize): usize {
  const tag = tagFor(h, modeBits());
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

function nextRipAfter(r: i64, rec: usize): i64 {
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
  } else rec = cachedRecord(la, h);
  setInsn(rec);
  setNextRip(nextRipAfter(r, rec));
  const tf = (load<i32>(STATE + O_FLAGS) & F_TF) != 0;
  const shadowBefore = interruptShadow;
  execute();
  setRip(nextRip);
  icount++;
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
    if (intrLine || activity != 0) {
      const r = checkInterrupt();
      if (r >= 0) return r;
      if (tookInterrupt) activity = 0;
      if (activity != 0) return Exit.HALTED;
    }
    if (stopRequested) { stopRequested = false; return Exit.STOPPED; }
    if (icount >= budgetEnd) return Exit.BUDGET;

    clearAttention();
    const careful = interruptShadow != 0 || (load<i32>(STATE + O_FLAGS) & F_TF) != 0 ||
      (controls() & Control.MONITOR_TRAP_FLAG) != 0;
    let r = rip();
    let la = linearRip(r);
    const h = careful ? 0 : codeHost(la);
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
    const end = budgetEnd - icount < FAST_BURST ? budgetEnd : icount + FAST_BURST;
    while (true) {
      const off = <usize>la & 0xfff;
      if (off > 0xff0) break;
      const hh = pageHost + off;
      const t = tagAt(hh);
      const slot = slotOf(hh);
      if (load<i64>(t) != tagFor(hh, bits)) {
        decode(la, slot);
        markCodePage(hh);
        store<i64>(t, tagFor(hh, bits));
      }
      setInsn(slot);
      let next = r + <i64>load<u8>(slot + D_LEN);
      if (!mode64) next &= codeDefault32 ? 0xffffffff : 0xffff;
      setNextRip(next);
      execute();
      r = nextRip;
      setRip(r);
      icount++;
      if (attention || icount >= end) break;
      la = mode64 ? r : (csBase + r) & 0xffffffff;
      if ((la & ~0xfff) != pageLa) break;
    }
  }
}
