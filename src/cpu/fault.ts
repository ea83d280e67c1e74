// Leaving an instruction early. A fault or a mid-instruction exit records its
// cause and traps (unreachable); the TypeScript side catches the trap and calls
// resume(), which delivers the fault or reports the exit. Instructions commit
// registers only after their last memory access, so a trapped instruction
// leaves the state as it was before it started.
import { EXIT_INFO, STATE } from './layout';
import { ExitField } from '../backend/abi';
import { O_DEFERRED_FAILURE } from './state';

export const ABORT_NONE = 0;
export const ABORT_FAULT = 1;
export const ABORT_EXIT = 2;
export const ABORT_EMULATION = 3;

export let abortCause: i32 = ABORT_NONE;
export let faultVector: i32 = 0;
/** Error code of the pending fault, or -1 when the vector has none. */
export let faultError: i32 = -1;
/** Linear address for #PF (goes to CR2 on delivery). */
export let faultAddress: i64 = 0;

export let exitReason: i32 = 0;

export function setExitField(field: i32, v: i64): void {
  store<i64>(EXIT_INFO + (<usize>field << 3), v);
}
export function getExitField(field: i32): i64 {
  return load<i64>(EXIT_INFO + (<usize>field << 3));
}

export function clearAbort(): void { abortCause = ABORT_NONE; }

/** Raise exception `vector` (error code or -1) and abandon the instruction. */
export function fault(vector: i32, error: i32): void {
  abortCause = ABORT_FAULT;
  faultVector = vector;
  faultError = error;
  unreachable();
}

export function pageFault(address: i64, error: i32): void {
  faultAddress = address;
  fault(14, error);
}

/**
 * An exit the instruction takes before it has any effect (VMCALL, CPUID,
 * RDMSR/WRMSR, MOV to CR, HLT, IN/OUT): no trap. The instruction's code
 * returns at once and the run loop reports the exit with the instruction not
 * retired, as exitNow would, at a tenth of the cost (a trap out of
 * WebAssembly costs microseconds).
 */
export let pendingExit: i32 = 0;
export function exitBeforeEffects(reason: i32): void { pendingExit = reason; }
/** The pending exit, cleared. */
export function takePendingExit(): i32 { const r = pendingExit; pendingExit = 0; return r; }

/** Abandon the instruction and make run() return `reason` (fields already set). */
export function exitNow(reason: i32): void {
  abortCause = ABORT_EXIT;
  exitReason = reason;
  unreachable();
}

/**
 * Stop: this CPU cannot do what the instruction asks. The run returns Exit.EMULATION_FAILURE with RIP
 * at the instruction and the EmulationFailure `reason` and its details in the exit fields.
 */
export function emulationFailure(reason: i32, value: i64, extra: i64): void {
  noteEmulationFailure(reason, value, extra);
  abortCause = ABORT_EMULATION;
  unreachable();
}
/** Record an emulation failure's reason and details in the exit fields. */
export function noteEmulationFailure(reason: i32, value: i64, extra: i64): void {
  setExitField(ExitField.NUMBER, reason);
  setExitField(ExitField.VALUE, value);
  setExitField(ExitField.EXTRA, extra);
  setExitField(ExitField.INSTR_LEN, 0);
}
/**
 * An emulation failure found outside run() (completing an intercepted write): this vCPU's next run()
 * reports it first. Kept in the vCPU's state, so another vCPU running in between does not take it.
 */
export function emulationFailureAtNextRun(reason: i32, value: i64, extra: i64): void {
  store<i32>(STATE + O_DEFERRED_FAILURE, reason + 1);
  store<i64>(STATE + O_DEFERRED_FAILURE + 8, value);
  store<i64>(STATE + O_DEFERRED_FAILURE + 16, extra);
}
/** Report a deferred emulation failure in the exit fields: true if there was one (it is then cleared). */
export function takeDeferredFailure(): bool {
  const reason = load<i32>(STATE + O_DEFERRED_FAILURE);
  if (reason == 0) return false;
  store<i32>(STATE + O_DEFERRED_FAILURE, 0);
  noteEmulationFailure(reason - 1, load<i64>(STATE + O_DEFERRED_FAILURE + 8), load<i64>(STATE + O_DEFERRED_FAILURE + 16));
  return true;
}

export const DE = 0;
export const DB = 1;
export const NMI = 2;
export const BP = 3;
export const OF = 4;
export const BR = 5;
export const UD = 6;
export const NM = 7;
export const DF = 8;
export const TS = 10;
export const NP = 11;
export const SS = 12;
export const GP = 13;
export const PF = 14;
export const MF = 16;
export const AC = 17;
export const MC = 18;
export const XM = 19;

// @ts-ignore: decorator
@inline export function ud(): void { fault(UD, -1); }
// @ts-ignore: decorator
@inline export function gp(err: i32): void { fault(GP, err); }
