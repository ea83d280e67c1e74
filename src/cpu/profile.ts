// Event counters for profiling builds (node scripts/build-cpu.mjs --profile,
// which defines XMHF_PROFILE); in normal builds countEvent() compiles to
// nothing. tools/perf/boot.ts --profile prints them for a Debian boot.
import { PROFILE_COUNTERS } from './layout';

/** Instructions run as each fast form: + the FAST_* id. */
export const P_FAST = 0;
/** Instructions run by the general executor inside blocks: + the opcode (decode.ts D_OP). */
export const P_GENERAL = 0x100;
export const P_BLOCK_RUN = 0x500;        // blocks entered
export const P_BLOCK_LINKED = 0x501;     // ... through a link from the block before
export const P_PAGE_CHANGE = 0x502;      // ... in another page than the block before
export const P_BLOCK_BUILT = 0x503;      // blocks decoded
export const P_INSN_DECODED = 0x504;     // instructions decoded (blocks and careful steps)
export const P_CAREFUL_STEP = 0x505;     // instructions run by the careful path
export const P_TLB_FILL = 0x506;         // page walks (translate)
export const P_READ_SLOW = 0x507;        // reads past the TLB (misses, page crossings, MMIO)
export const P_WRITE_SLOW = 0x508;       // writes past the TLB (also every write to a code page)
export const P_CODE_INVALIDATED = 0x509; // code pages invalidated by writes
export const P_FLAGS_MATERIALIZED = 0x50a; // full RFLAGS computed from the lazy state
export const P_CONDITION_SLOW = 0x50b;   // conditions not read straight from the operands
export const P_STRING_BULK = 0x50c;      // REP MOVS/STOS iterations done a page at a time
export const P_STRING_ELEMENT = 0x50d;   // string iterations done one at a time
export const P_EVENT_DELIVERED = 0x50e;  // exceptions and interrupts delivered through the IDT
/** Blocks left after N instructions: + N (0..32). */
export const P_BLOCK_LENGTH = 0x600;
export const PROFILE_COUNTER_COUNT = 0x640;

// @ts-ignore: decorator
@inline export function countEvent(i: i32): void {
  // @ts-ignore: defined by the profiling build
  if (isDefined(XMHF_PROFILE)) { const p = PROFILE_COUNTERS + (<usize>i << 3); store<i64>(p, load<i64>(p) + 1); }
}
// @ts-ignore: decorator
@inline export function countEvents(i: i32, n: i64): void {
  // @ts-ignore: defined by the profiling build
  if (isDefined(XMHF_PROFILE)) { const p = PROFILE_COUNTERS + (<usize>i << 3); store<i64>(p, load<i64>(p) + n); }
}

/** Count the general executor's instruction in record `rec` by opcode. */
// @ts-ignore: decorator
@inline export function countGeneral(rec: usize): void {
  // @ts-ignore: defined by the profiling build
  if (isDefined(XMHF_PROFILE)) countEvent(P_GENERAL + (<i32>load<u16>(rec) & 0x3ff)); // D_OP
}

/** Address of the counters (i64 each), or 0 if this is not a profiling build. */
export function profileCounters(): usize {
  // @ts-ignore: defined by the profiling build
  return isDefined(XMHF_PROFILE) ? PROFILE_COUNTERS : 0;
}
