// The run loop: deliver pending events, then decode and execute instructions
// until the budget runs out or something exits to the hypervisor.
import { INSN } from './layout';
import { rip, setRip, mode64, codeDefault32, segBase, SEG_CS, linearMask, STATE, O_FLAGS, F_TF, F_RF, burstEnd, setBurstEnd, needAttention } from './state';
import { debugArmed, instructionBreakpoint, watchHits, clearWatchHits } from './debug';
import { fault, gp, DB } from './fault';
import { stackAccess, tlbSet, tlbIndex, tlbTag, T_READ, T_WRITE, T_HOST } from './paging';
import { setFlagBits } from './flags';
import {
  decode, D_LEN, D_OSIZE, D_IMM, D_FAST, D_FA, D_FB, D_FK, FAST_NONE, FAST_MOV_RR, FAST_LOAD, FAST_STORE,
  FAST_ALU_RR, FAST_ALU_RI, FAST_ALU_RM, FAST_TEST_RR, FAST_JCC, FAST_JMP, FAST_LEA, FAST_INC, FAST_DEC,
  FAST_PUSH, FAST_POP, FAST_CALL, FAST_RET, FAST_SHIFT_RI, FAST_MOV_RI, FAST_NOP,
  D_DISP, D_BASE, D_INDEX, D_SCALE, D_ASIZE, D_SEG, R_NONE, R_RIP, D_PFX, P_REX,
  FAST_IMUL_RRI, FAST_IMUL_RR, FAST_CMOV, FAST_STORE8, FAST_ALU_MR, FAST_ALU_MI, FAST_STORE_IMM, FAST_MOVSXD,
} from './decode';
import { reg64, setReg64, reg8 } from './state';
import { segLinear } from './operand';
import { read8, read32, read64, write8, write32, write64, readForWrite } from './mem';
import { alu, inc, dec, shift, imulTrunc } from './alu';
import { condition, setLazy, sizeMask, LF_LOGIC } from './flags';
import { execute } from './exec';
import { setNextRip, nextRip, setInsn } from './operand';
import { codeHost } from './mem';
import { tagFor, tagAt, slotOf, markCodePage } from './codecache';
import {
  handleFault, hasPendingInjection, deliverInjected, intrLine, checkInterrupt, tookInterrupt,
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

/** Linear address of the record's memory operand (operand.ts memLa, inlined for the fast path). */
// @ts-ignore: decorator
@inline function fastLa(slot: usize, next: i64): i64 {
  return segLinear(load<u8>(slot + D_SEG), fastEa(slot, next));
}

/** Effective address (offset) of the record's memory operand, for LEA. */
// @ts-ignore: decorator
@inline function fastEa(slot: usize, next: i64): i64 {
  let a: i64 = <i64>load<i32>(slot + D_DISP);
  const base = load<u8>(slot + D_BASE);
  if (base != R_NONE) a += base == R_RIP ? next : reg64(base);
  const index = load<u8>(slot + D_INDEX);
  if (index != R_NONE) a += reg64(index) << <i64>load<u8>(slot + D_SCALE);
  const as = load<u8>(slot + D_ASIZE);
  if (as == 4) a &= 0xffffffff; else if (as == 2) a &= 0xffff;
  return a;
}

/** Host address of `la` for an access of `size` bytes if the TLB (tag offset `kind`) allows it, else 0. */
// @ts-ignore: decorator
@inline function tlbHit(la: i64, size: i32, kind: usize): usize {
  const i = tlbIndex(la);
  if ((<i32>la & 0xfff) > 0x1000 - size || load<i64>(tlbSet + kind + (i << 3)) != tlbTag(la)) return 0;
  return <usize>load<u32>(tlbSet + T_HOST + (i << 2)) + (<usize>la & 0xfff);
}
// @ts-ignore: decorator
@inline function fastRead(la: i64, size: i32): i64 {
  const h = tlbHit(la, size, T_READ);
  if (h != 0) return size == 8 ? load<i64>(h) : <i64>load<u32>(h);
  return size == 8 ? read64(la) : <i64>read32(la) & 0xffffffff;
}
// @ts-ignore: decorator
@inline function fastWrite(la: i64, size: i32, v: i64): void {
  const h = tlbHit(la, size, T_WRITE);
  if (h != 0) { if (size == 8) store<i64>(h, v); else store<u32>(h, <u32>v); return; }
  if (size == 8) write64(la, v); else write32(la, <i32>v);
}

// @ts-ignore: decorator
@inline function getW(r: i32, size: i32): i64 { const v = reg64(r); return size == 8 ? v : v & 0xffffffff; }
// @ts-ignore: decorator
@inline function setW(r: i32, size: i32, v: i64): void { setReg64(r, size == 8 ? v : v & 0xffffffff); }

/** A near branch target: wrapped outside 64-bit mode, #GP at the branch if not canonical. */
// @ts-ignore: decorator
@inline function branchTarget(t: i64): i64 {
  if (!mode64) return t & 0xffffffff;
  if (((t << 16) >> 16) != t) gp(0);
  return t;
}

/**
 * Execute a FAST_* form (see decode.ts classifyFast) and return the next RIP.
 * Same semantics as exec.ts, minus the generality: 32/64-bit operands only.
 */
function execFast(f: u8, slot: usize, next: i64): i64 {
  const size = <i32>load<u8>(slot + D_OSIZE);
  const fa = <i32>load<u8>(slot + D_FA);
  const fb = <i32>load<u8>(slot + D_FB);
  switch (f) {
    case FAST_MOV_RR: setW(fa, size, getW(fb, size)); return next;
    case FAST_LOAD: setW(fa, size, fastRead(fastLa(slot, next), size)); return next;
    case FAST_STORE: fastWrite(fastLa(slot, next), size, reg64(fb)); return next;
    case FAST_MOV_RI: setW(fa, size, load<i64>(slot + D_IMM)); return next;
    case FAST_NOP: return next;
    case FAST_ALU_RR: {
      const k = <i32>load<u8>(slot + D_FK);
      const v = alu(k, size, getW(fa, size), getW(fb, size));
      if (k != 7) setW(fa, size, v);
      return next;
    }
    case FAST_ALU_RI: {
      const k = <i32>load<u8>(slot + D_FK);
      const v = alu(k, size, getW(fa, size), load<i64>(slot + D_IMM) & sizeMask(size));
      if (k != 7) setW(fa, size, v);
      return next;
    }
    case FAST_ALU_RM: {
      const k = <i32>load<u8>(slot + D_FK);
      const m = fastRead(fastLa(slot, next), size);
      const v = alu(k, size, getW(fa, size), m);
      if (k != 7) setW(fa, size, v);
      return next;
    }
    case FAST_TEST_RR: setLazy(LF_LOGIC, size, getW(fa, size) & getW(fb, size), 0, 0); return next;
    case FAST_JCC: {
      if (!condition(<i32>load<u8>(slot + D_FK))) return next;
      return branchTarget(next + load<i64>(slot + D_IMM));
    }
    case FAST_JMP: return branchTarget(next + load<i64>(slot + D_IMM));
    case FAST_LEA: setW(fa, size, fastEa(slot, next)); return next;
    case FAST_IMUL_RRI: setW(fa, size, imulTrunc(size, getW(fb, size), load<i64>(slot + D_IMM))); return next;
    case FAST_IMUL_RR: setW(fa, size, imulTrunc(size, getW(fa, size), getW(fb, size))); return next;
    case FAST_CMOV: {
      // A 32-bit CMOV zero-extends its destination even when the condition is false.
      setW(fa, size, condition(<i32>load<u8>(slot + D_FK)) ? getW(fb, size) : getW(fa, size));
      return next;
    }
    case FAST_STORE8: {
      const la = fastLa(slot, next);
      write8(la, reg8(fb, (load<u8>(slot + D_PFX) & P_REX) != 0));
      return next;
    }
    case FAST_ALU_MR: case FAST_ALU_MI: {
      const k = <i32>load<u8>(slot + D_FK);
      const la = fastLa(slot, next);
      const b = f == FAST_ALU_MR ? getW(fb, size) : load<i64>(slot + D_IMM) & sizeMask(size);
      if (k == 7) { alu(7, size, fastRead(la, size), b); return next; }
      const v = alu(k, size, size == 8 ? readForWrite(la, 8) : readForWrite(la, 4), b);
      fastWrite(la, size, v);
      return next;
    }
    case FAST_STORE_IMM: fastWrite(fastLa(slot, next), size, load<i64>(slot + D_IMM)); return next;
    case FAST_MOVSXD: setReg64(fa, <i64><i32>reg64(fb)); return next;
    case FAST_INC: setW(fa, size, inc(size, getW(fa, size))); return next;
    case FAST_DEC: setW(fa, size, dec(size, getW(fa, size))); return next;
    case FAST_PUSH: { const sp = reg64(4) - 8; stackAccess(); fastWrite(sp, 8, reg64(fb)); setReg64(4, sp); return next; }
    case FAST_POP: { const sp = reg64(4); stackAccess(); const v = fastRead(sp, 8); setReg64(4, sp + 8); setReg64(fa, v); return next; }
    case FAST_CALL: {
      const t = branchTarget(next + load<i64>(slot + D_IMM));
      const sp = reg64(4) - 8;
      stackAccess();
      fastWrite(sp, 8, next);
      setReg64(4, sp);
      return t;
    }
    case FAST_RET: { const sp = reg64(4); stackAccess(); const t = branchTarget(fastRead(sp, 8)); setReg64(4, sp + 8); return t; }
    case FAST_SHIFT_RI: {
      const k = <i32>load<u8>(slot + D_FK);
      setW(fa, size, shift(k, size, getW(fa, size), <i32>load<i64>(slot + D_IMM)));
      return next;
    }
    default: { // FAST_MOVZX8
      setW(fa, size, <i64>read8(fastLa(slot, next)));
      return next;
    }
  }
}

/** Longest run of the fast path before events are looked at again. */
const FAST_BURST: i64 = 4096;

function loop(): i32 {
  while (true) {
    if (initPending || activity == 2) {
      const r = initSipi();
      if (r >= 0) return r;
    }
    if (intrLine || activity != 0) {
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
    setBurstEnd(budgetEnd - icount < FAST_BURST ? budgetEnd : icount + FAST_BURST);
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
      let next = r + <i64>load<u8>(slot + D_LEN);
      if (!mode64) next &= codeDefault32 ? 0xffffffff : 0xffff;
      const fast = load<u8>(slot + D_FAST);
      if (fast != FAST_NONE) r = execFast(fast, slot, next); // fast forms read the record directly
      else { setInsn(slot); setNextRip(next); execute(); r = nextRip; }
      setRip(r);
      icount++;
      if (icount >= burstEnd) break;
      la = mode64 ? r : (csBase + r) & 0xffffffff;
      if ((la & ~0xfff) != pageLa) break;
    }
  }
}
