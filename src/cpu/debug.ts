// Debug registers: instruction breakpoints (faults before the instruction)
// and data watchpoints (traps after it). While DR7 enables any, the run loop
// takes its careful path, and pages holding a watched address stay out of the
// TLB so every access to them reaches checkWatchpoints().
import { st64, setSt64, O_DR, needAttention, STATE, O_FLAGS, F_RF } from './state';

const DR6: usize = O_DR + 32;
const DR7: usize = O_DR + 40;

/** Some breakpoint is enabled in DR7. */
export let debugArmed = false;
/** Some data watchpoint is enabled. */
export let watchArmed = false;
/** DR6 B0-B3 bits of data watchpoints hit by the current instruction. */
export let watchHits: i32 = 0;
export function clearWatchHits(): void { watchHits = 0; }

function enabled(i: i32): bool { return ((st64(DR7) >> (i * 2)) & 3) != 0; }
function rw(i: i32): i32 { return <i32>((st64(DR7) >> (16 + i * 4)) & 3); }
function len(i: i32): i64 {
  const l = <i32>((st64(DR7) >> (18 + i * 4)) & 3);
  return l == 0 ? 1 : l == 1 ? 2 : l == 3 ? 4 : 8;
}

/** Recompute the armed flags after DR7 (or DR0-3) changed. */
export function debugRegistersChanged(): void {
  debugArmed = false; watchArmed = false;
  for (let i = 0; i < 4; i++) {
    if (!enabled(i)) continue;
    debugArmed = true;
    if (rw(i) == 1 || rw(i) == 3) watchArmed = true;
  }
  needAttention();
}

/** Does an enabled instruction breakpoint match linear address `la`? Sets DR6 and returns true. */
export function instructionBreakpoint(la: i64): bool {
  if ((load<i32>(STATE + O_FLAGS) & F_RF) != 0) return false;
  let hit = 0;
  for (let i = 0; i < 4; i++) {
    if (enabled(i) && rw(i) == 0 && st64(O_DR + (<usize>i << 3)) == la) hit |= 1 << i;
  }
  if (hit == 0) return false;
  setSt64(DR6, (st64(DR6) & ~0xf) | hit | 0xffff0ff0);
  return true;
}

/** Is any watched address on the page of linear address `la`? */
export function pageWatched(la: i64): bool {
  if (!watchArmed) return false;
  for (let i = 0; i < 4; i++) {
    if (!enabled(i) || (rw(i) & 1) == 0) continue;
    const a = st64(O_DR + (<usize>i << 3));
    if (((a ^ la) >>> 12) == 0 || (((a + len(i) - 1) ^ la) >>> 12) == 0) return true;
  }
  return false;
}

/** An access of `size` bytes at `la` (write or not) happened: record the watchpoints it hit. */
export function checkWatchpoints(la: i64, size: i32, write: bool): void {
  if (!watchArmed) return;
  for (let i = 0; i < 4; i++) {
    if (!enabled(i)) continue;
    const kind = rw(i);
    if (kind != 3 && !(kind == 1 && write)) continue;
    const l = len(i);
    const a = st64(O_DR + (<usize>i << 3)) & ~(l - 1);
    if (la < a + l && a < la + size) watchHits |= 1 << i;
  }
}
