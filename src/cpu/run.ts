// The run loop: deliver pending events, then decode and execute instructions
// until the budget runs out or something exits to the hypervisor.
import { INSN } from './layout';
import { rip, setRip, mode64, codeDefault32, segBase, SEG_CS, linearMask, STATE, O_FLAGS, F_TF } from './state';
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
export function requestStop(): void { stopRequested = true; }

/** 0 running, 1 halted, 2 waiting for SIPI. */
export let activity: i32 = 0;
export function setActivity(v: i32): void { activity = v; }

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

/** The decoded record for the instruction at `la`, from the cache when possible. */
function fetchRecord(la: i64): usize {
  const h = codeHost(la);
  if (h == 0 || (<i32>la & 0xfff) > 0xff0) {
    // Code outside RAM, or an instruction that may cross into the next page: not cached.
    decode(la, INSN);
    setInsn(INSN);
    return INSN;
  }
  const tag = tagFor(h, (mode64 ? 2 : 0) | (codeDefault32 ? 1 : 0));
  const t = tagAt(h);
  const slot = slotOf(h);
  if (load<i64>(t) != tag) {
    decode(la, slot);
    markCodePage(h);
    store<i64>(t, tag);
  }
  setInsn(slot);
  return slot;
}

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

    const r = rip();
    const la = mode64 ? r : (segBase(SEG_CS) + r) & linearMask;
    const rec = fetchRecord(la);
    let next = r + <i64>load<u8>(rec + D_LEN);
    if (!mode64) next &= codeDefault32 ? 0xffffffff : 0xffff;
    setNextRip(next);
    const tf = (load<i32>(STATE + O_FLAGS) & F_TF) != 0;
    const shadowBefore = interruptShadow;
    execute();
    setRip(nextRip);
    icount++;
    // A shadow lasts for one instruction after the one that set it.
    if (shadowBefore != 0 && interruptShadow == shadowBefore) setInterruptShadow(0);
    if (tf) { const t = singleStepTrap(); if (t >= 0) return t; }
    if ((controls() & Control.MONITOR_TRAP_FLAG) != 0) return Exit.MONITOR_TRAP;
  }
}
