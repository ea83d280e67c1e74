// Hypervisor breakpoints: guest-physical addresses at which the CPU exits
// (Exit.BREAKPOINT) before executing the instruction that starts there. The
// guest sees nothing of them: no debug registers, no INT3 in its memory.
// Shared by every vCPU, like guest memory. Decoded blocks stop short of them
// (codecache.ts), so only the careful path (run.ts) ever tests for one and
// the fast path pays nothing.
import { invalidateRange } from './codecache';

export const HVBP_MAX = 64;
const TABLE: usize = memory.data(HVBP_MAX * 8);

export let hvbpCount: i32 = 0;

function indexOf(gpa: i64): i32 {
  for (let i = 0; i < hvbpCount; i++) if (load<i64>(TABLE + (<usize>i << 3)) == gpa) return i;
  return -1;
}

export function isHvBreakpoint(gpa: i64): bool { return indexOf(gpa) >= 0; }

/** False when the table is full. */
export function addHvBreakpoint(gpa: i64): bool {
  if (indexOf(gpa) >= 0) return true;
  if (hvbpCount == HVBP_MAX) return false;
  store<i64>(TABLE + (<usize>hvbpCount << 3), gpa);
  hvbpCount++;
  invalidateRange(gpa, 1); // blocks already decoded there may run through it
  return true;
}

export function removeHvBreakpoint(gpa: i64): void {
  const i = indexOf(gpa);
  if (i < 0) return;
  hvbpCount--;
  store<i64>(TABLE + (<usize>i << 3), load<i64>(TABLE + (<usize>hvbpCount << 3)));
  invalidateRange(gpa, 1); // let blocks run through it again
}
