// Event delivery policy: which exceptions exit to the hypervisor (exception
// bitmap), double- and triple-fault escalation, injected events, external
// interrupts and single-step traps. The mechanics of delivery are in system.ts.
import { CONTROL } from './layout';
import { rip, st64, setSt64, O_DR, STATE, O_FLAGS, F_IF, F_RF, needAttention } from './state';
import { deliverEvent, isContributory, setCr2 } from './system';
import { setExitField, exitNow, faultVector, faultError, faultAddress, DF, PF, DB } from './fault';
import { dLen, nextRip } from './operand';
import { getFlags, setFlagBits } from './flags';
import { ackInterrupt } from './bus';
import { Exit, ExitField, EventType, Control } from '../backend/abi';

/** Offsets in the control block. */
export const C_CONTROLS: usize = 0;
export const C_EXCEPTION_BITMAP: usize = 4;

// @ts-ignore: decorator
@inline export function controls(): i32 { return load<i32>(CONTROL + C_CONTROLS); }

export function exceptionIntercepted(vector: i32): bool {
  return (load<u32>(CONTROL + C_EXCEPTION_BITMAP) & (1 << vector)) != 0;
}

/** Vector being delivered, for double-fault escalation; -1 when none. */
export let deliveringVector: i32 = -1;
export function clearDelivering(): void { deliveringVector = -1; }

function exceptionExit(vector: i32, error: i32, address: i64, len: i32): i32 {
  setExitField(ExitField.NUMBER, vector);
  setExitField(ExitField.VALUE, error);
  setExitField(ExitField.FLAGS, error >= 0 ? 1 : 0);
  setExitField(ExitField.GPA, address);
  setExitField(ExitField.INSTR_LEN, len);
  return Exit.EXCEPTION;
}

/**
 * Handle the fault recorded by fault(): exit if intercepted, else deliver it
 * (escalating to #DF or a triple fault). Returns an exit reason or -1 to go on.
 */
export function handleFault(): i32 {
  let v = faultVector, err = faultError;
  const first = deliveringVector;
  if (first >= 0) {
    if (first == DF) { deliveringVector = -1; return Exit.TRIPLE_FAULT; }
    if ((isContributory(first) && isContributory(v)) || (first == PF && (isContributory(v) || v == PF))) {
      v = DF; err = 0;
    }
  }
  if (exceptionIntercepted(v)) {
    deliveringVector = -1;
    return exceptionExit(v, err, v == PF ? faultAddress : 0, 0);
  }
  if (v == PF) setCr2(faultAddress);
  // The saved RFLAGS of a fault has RF set, so IRET back to the instruction
  // does not hit its instruction breakpoint again (#DB handlers set RF themselves).
  if (v != DB) setFlagBits(F_RF, F_RF);
  if (v == DB) setSt64(O_DR + 32, st64(O_DR + 32) | 0xffff0ff0);
  deliveringVector = v;
  deliverEvent(v, err, 0, rip());
  deliveringVector = -1;
  return -1;
}

/** INT n (kind 0), INT3/INTO (1), INT1 (2) executed by the guest. */
export function softwareEvent(vector: i32, kind: i32): void {
  if (kind != 0 && exceptionIntercepted(vector)) {
    exceptionExit(vector, -1, 0, dLen());
    exitNow(Exit.EXCEPTION);
    return;
  }
  deliverEvent(vector, -1, kind == 2 ? 2 : 1, nextRip);
}

// ---- injected events (VM-entry injection) ----
let pendingValid = false;
let pendingType = 0;
let pendingVector = 0;
let pendingError = -1;

export function injectEvent(type: i32, vector: i32, error: i32): void {
  needAttention();
  pendingValid = true; pendingType = type; pendingVector = vector; pendingError = error;
}
export function hasPendingInjection(): bool { return pendingValid; }

/** Save and restore this module's per-vCPU values (vcpu.ts). */
export function saveEventState(p: usize): void {
  store<i32>(p + 24, (nmiPending ? 1 : 0) | (nmiBlocked ? 2 : 0));
  store<i32>(p, pendingValid ? 1 : 0); store<i32>(p + 4, pendingType); store<i32>(p + 8, pendingVector);
  store<i32>(p + 12, pendingError); store<i32>(p + 16, intrLine ? 1 : 0); store<i32>(p + 20, interruptShadow);
}
export function loadEventState(p: usize): void {
  pendingValid = load<i32>(p) != 0; pendingType = load<i32>(p + 4); pendingVector = load<i32>(p + 8);
  pendingError = load<i32>(p + 12); intrLine = load<i32>(p + 16) != 0; interruptShadow = load<i32>(p + 20);
  nmiPending = (load<i32>(p + 24) & 1) != 0; nmiBlocked = (load<i32>(p + 24) & 2) != 0;
  deliveringVector = -1;
}

/** Deliver an injected event at VM entry (no interception: the hypervisor asked for it). */
export function deliverInjected(): void {
  pendingValid = false;
  if (pendingType == EventType.HARDWARE_EXCEPTION) {
    deliveringVector = pendingVector;
    deliverEvent(pendingVector, pendingError, 0, rip());
    deliveringVector = -1;
  } else if (pendingType == EventType.SOFTWARE_INTERRUPT) {
    deliverEvent(pendingVector, -1, 1, rip());
  } else {
    if (pendingType == EventType.NMI) nmiBlocked = true;
    deliverEvent(pendingVector, -1, 0, rip());
  }
}

// ---- NMI ----
/** An NMI arrived at the pin and waits for delivery. */
export let nmiPending = false;
/** NMIs are blocked from the delivery of one until the next IRET. */
export let nmiBlocked = false;
export function raiseNmi(): void { nmiPending = true; needAttention(); }
export function unblockNmi(): void { nmiBlocked = false; }
export function setNmiBlocked(b: bool): void { nmiBlocked = b; needAttention(); }

// ---- external interrupts ----
/** INTR line level, driven by the platform. */
export let intrLine = false;
export function setIntrLine(v: bool): void { intrLine = v; needAttention(); }
/** STI / MOV SS shadow: interrupts are blocked before the next instruction. */
export let interruptShadow: i32 = 0;
export function setInterruptShadow(v: i32): void { interruptShadow = v; needAttention(); }

/** Set by checkInterrupt when it delivered an interrupt. */
export let tookInterrupt = false;
/**
 * Take an external interrupt if one is pending and allowed. Returns an exit
 * reason (interrupt-window exiting) or -1.
 */
export function checkInterrupt(): i32 {
  tookInterrupt = false;
  // NMIs ignore IF (but not the MOV SS shadow) and win over INTR.
  if (nmiPending && !nmiBlocked && (interruptShadow & 2) == 0) {
    nmiPending = false;
    nmiBlocked = true;
    deliverEvent(2, -1, 0, rip());
    tookInterrupt = true;
    return -1;
  }
  if (!intrLine || (getFlags() & F_IF) == 0 || interruptShadow != 0) return -1;
  if ((controls() & Control.INTERRUPT_WINDOW_EXITING) != 0) return Exit.INTERRUPT_WINDOW;
  const vector = ackInterrupt();
  if (vector < 0) return -1;
  deliverEvent(vector & 0xff, -1, 0, rip());
  tookInterrupt = true;
  return -1;
}

/** Data watchpoints `hits` (DR6 B0-B3) fired during the instruction just retired. */
export function dataBreakpointTrap(hits: i32): i32 {
  setSt64(O_DR + 32, (st64(O_DR + 32) & ~0xf) | hits | 0xffff0ff0);
  if (exceptionIntercepted(DB)) return exceptionExit(DB, -1, 0, 0);
  deliverEvent(DB, -1, 0, rip());
  return -1;
}

/** Single-step trap after an instruction that started with TF set. */
export function singleStepTrap(): i32 {
  setSt64(O_DR + 32, st64(O_DR + 32) | 0x4000 | 0xffff0ff0); // DR6.BS
  if (exceptionIntercepted(DB)) return exceptionExit(DB, -1, 0, 0);
  deliverEvent(DB, -1, 0, rip());
  return -1;
}

