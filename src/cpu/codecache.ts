// Decoded-block cache. A block is the decoded records of consecutive
// instructions from one page, up to an unconditional branch, the page end or
// BLOCK_MAX (conditional branches leave it midway when taken); it
// is found by the host address of its first byte (so by guest-physical
// address) and the code size mode it was decoded in. Pages that supplied code
// are marked in CODE_PAGES and kept out of the write TLB, so every write to
// them takes the slow path, which calls invalidateCode() before the bytes
// change: that bumps the page's generation, and blocks from an older
// generation are decoded again when next looked up.
import { countEvent, P_BLOCK_BUILT, P_CODE_INVALIDATED } from './profile';
import {
  CODE_PAGES, CODE_GEN, RAM_BASE, BLOCK_HASH, BLOCK_HASH_BITS, BLOCK_HASH_ENTRIES, BLOCK_ARENA, BLOCK_ARENA_END,
} from './layout';
import { tlbDropWrites } from './paging';
import { needAttention } from './state';
import { hvbpCount, isHvBreakpoint } from './hvbp';
import {
  decodeProbe, RECORD_SIZE, RECORD_SHIFT, D_LEN, D_FAST, D_FK, D_IMM, FAST_CALL, FAST_JMP_IND, FAST_ROT, FAST_ROT_NF,
  FAST_ALU_RR, FAST_ALU_RI, FAST_TEST_RR32, FAST_TEST_RI64, FAST_TEST8_RR, FAST_TEST8_RI, FAST_CMP8_RI,
  FAST_ALU8_RR, FAST_IMUL_RRI, FAST_IMUL_RR, FAST_SHIFT, FAST_MOV_RR32, FAST_MOV_RR64, FAST_MOV_RI, FAST_LEA32,
  FAST_LEA64, FAST_MOVSXD, FAST_MOVZX8_R, FAST_NOT32, FAST_NOT64, FAST_NOP,
} from './decode';

// Block header; the records follow at B_RECORDS.
export const B_COUNT: usize = 0;    // u8: instructions in the block
/**
 * Links to the blocks that followed this one in the same page, by page
 * offset (u16, NO_LINK if none) and block address (u32): the run loop's way
 * past the hash lookup. A link never needs checking: blocks of one page are
 * invalidated together (and invalidation stops the run loop before it
 * follows another link), and links live in the arena with their targets.
 */
export const B_LINK_NEXT: usize = 1; // u8: the slot the next new link replaces
export const B_LINK0_OFF: usize = 2;
export const B_LINK1_OFF: usize = 4;
export const B_LINK0: usize = 8;
export const B_LINK1: usize = 12;
export const NO_LINK: u16 = 0xffff;
export const B_RECORDS: usize = 32;
/** Most instructions in one block. */
export const BLOCK_MAX: i32 = 32;
const BLOCK_BYTES_MAX: usize = B_RECORDS + <usize>BLOCK_MAX * RECORD_SIZE;

// Hash entry: tag (i64), page generation (u32), block address (u32).
const H_TAG: usize = 0;
const H_GEN: usize = 8;
const H_BLOCK: usize = 12;

let arenaTop: usize = BLOCK_ARENA;
/** Counts arena resets: a block address taken before a lookup is dead if this changed. */
export let arenaEpoch: i32 = 0;

/** Link block `b` to block `next` starting at page offset `off` (after a lookup that left the arena alone). */
export function linkBlock(b: usize, off: i32, next: usize): void {
  const slot = <usize>load<u8>(b + B_LINK_NEXT);
  store<u16>(b + B_LINK0_OFF + (slot << 1), <u16>off);
  store<u32>(b + B_LINK0 + (slot << 2), <u32>next);
  store<u8>(b + B_LINK_NEXT, <u8>(slot ^ 1));
}

// @ts-ignore: decorator
@inline function hashEntry(host: usize): usize {
  return BLOCK_HASH + (<usize>((<u32>host * 0x9e3779b1) >>> (32 - BLOCK_HASH_BITS)) << 4);
}
// @ts-ignore: decorator
@inline function blockTag(host: usize, modeBits: i32): i64 { return (<i64>host << 2) | <i64>modeBits | 0x1000000000000; }
// @ts-ignore: decorator
@inline function genAddr(host: usize): usize { return CODE_GEN + (((host - RAM_BASE) >> 12) << 2); }

/**
 * The block starting at host address `host` (linear address `la`) for code
 * size `modeBits`, decoding it on a miss; 0 if its first instruction cannot be
 * in a block (it runs into the next page, or is invalid: the careful path
 * then decodes it and raises its fault).
 */
// @ts-ignore: decorator
@inline export function lookupBlock(la: i64, host: usize, modeBits: i32): usize {
  const e = hashEntry(host);
  if (load<i64>(e + H_TAG) == blockTag(host, modeBits) && load<u32>(e + H_GEN) == load<u32>(genAddr(host))) {
    return <usize>load<u32>(e + H_BLOCK);
  }
  return buildBlock(la, host, modeBits);
}

/**
 * Does a fast form end its block? Unconditional branches do; a block goes on
 * past a conditional branch (the run loop leaves it when the branch is taken).
 */
// @ts-ignore: decorator
@inline function endsBlock(fast: u8): bool { return fast >= FAST_CALL && fast <= FAST_JMP_IND; }

function buildBlock(la: i64, host: usize, modeBits: i32): usize {
  countEvent(P_BLOCK_BUILT);
  if (arenaTop + BLOCK_BYTES_MAX > BLOCK_ARENA_END) dropAllBlocks();
  const b = arenaTop;
  const pageEnd = (host | 0xfff) + 1;
  let h = host;
  let n = 0;
  while (n < BLOCK_MAX && h < pageEnd) {
    // A hypervisor breakpoint is left to the careful path, which exits there.
    if (hvbpCount != 0 && isHvBreakpoint(<i64>(h - RAM_BASE))) break;
    const rec = b + B_RECORDS + <usize>n * RECORD_SIZE;
    if (!decodeProbe(la + <i64>(h - host), h, rec)) break;
    n++;
    // General instructions may branch too; the run loop leaves the block when one does.
    if (endsBlock(load<u8>(rec + D_FAST))) break;
    h += <usize>load<u8>(rec + D_LEN);
  }
  if (n == 0) return 0;
  dropDeadFlags(b + B_RECORDS, n);
  markCodePage(host);
  store<u8>(b + B_COUNT, <u8>n);
  store<u8>(b + B_LINK_NEXT, 0);
  store<u16>(b + B_LINK0_OFF, NO_LINK);
  store<u16>(b + B_LINK1_OFF, NO_LINK);
  arenaTop = b + B_RECORDS + <usize>n * RECORD_SIZE;
  const e = hashEntry(host);
  store<i64>(e + H_TAG, blockTag(host, modeBits));
  store<u32>(e + H_GEN, load<u32>(genAddr(host)));
  store<u32>(e + H_BLOCK, <u32>b);
  return b;
}

// ---- flags no instruction reads ----
// A rotate sets CF and OF and keeps the other flags, which the lazy flags
// can only do by computing them all (flags.ts setFlagBits). Where a later
// instruction of the same block overwrites CF and OF before anything could
// observe them, the rotate skips that. Observers are instructions that read
// flags and any that may fault, exit or call out (the flags must then be
// exact), and the block's end; in between, only register-only instructions
// that neither read nor write flags may come. A block cut short by the
// budget runs carefully instead (run.ts), so the overwriting one always runs.

// @ts-ignore: decorator
@inline function fastAt(recs: usize, i: i32): u8 { return load<u8>(recs + (<usize>i << RECORD_SHIFT) + D_FAST); }

/** Does record `rec` (fast form `f`) set CF and OF without reading any flag and without leaving the block? */
function overwritesCfOf(rec: usize, f: u8): bool {
  if (f >= FAST_ALU_RR && f < FAST_ALU_RI + 16) {
    const kind = (<i32>(f - FAST_ALU_RR) & 15) >> 1;
    return kind != 2 && kind != 3; // not ADC, SBB
  }
  if (f >= FAST_TEST_RR32 && f <= FAST_TEST_RI64) return true;
  if (f == FAST_TEST8_RR || f == FAST_TEST8_RI || f == FAST_CMP8_RI || f == FAST_IMUL_RRI || f == FAST_IMUL_RR) return true;
  if (f == FAST_ALU8_RR) { const kind = <i32>load<u8>(rec + D_FK); return kind != 2 && kind != 3; }
  // Shifts and rotates by a constant that is not 0 (a zero count changes no flag).
  const byImm = f >= FAST_SHIFT && f < FAST_SHIFT + 6;
  if (byImm || (f >= FAST_ROT && f < FAST_ROT + 4)) {
    const mask = (<i32>(f - (byImm ? FAST_SHIFT : FAST_ROT)) & 1) != 0 ? 63 : 31;
    return (<i32>load<i64>(rec + D_IMM) & mask) != 0;
  }
  return false;
}

/** Register-only instructions that neither read nor write flags. */
// @ts-ignore: decorator
@inline function flagNeutral(f: u8): bool {
  return f == FAST_MOV_RR32 || f == FAST_MOV_RR64 || f == FAST_MOV_RI || f == FAST_LEA32 || f == FAST_LEA64 ||
    f == FAST_MOVSXD || f == FAST_MOVZX8_R || f == FAST_NOT32 || f == FAST_NOT64 || f == FAST_NOP;
}

function dropDeadFlags(recs: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const f = fastAt(recs, i);
    if (f < FAST_ROT || f >= FAST_ROT + 4) continue;
    for (let j = i + 1; j < n; j++) {
      const g = fastAt(recs, j);
      if (overwritesCfOf(recs + (<usize>j << RECORD_SHIFT), g)) {
        store<u8>(recs + (<usize>i << RECORD_SHIFT) + D_FAST, f - FAST_ROT + FAST_ROT_NF);
        break;
      }
      if (!flagNeutral(g)) break;
    }
  }
}

/** Instructions of block `b` before the one `offset` bytes after its start (to recount a block left midway). */
export function recordsBefore(b: usize, offset: i64): i32 {
  const n = <i32>load<u8>(b + B_COUNT);
  let k = 0, at: i64 = 0;
  while (k < n && at < offset) { at += <i64>load<u8>(b + B_RECORDS + <usize>k * RECORD_SIZE + D_LEN); k++; }
  return k;
}

function dropAllBlocks(): void {
  memory.fill(BLOCK_HASH, 0, <usize>BLOCK_HASH_ENTRIES << 4);
  arenaTop = BLOCK_ARENA;
  arenaEpoch++;
}

/** Is guest-physical page `page` (gpa >> 12, below 4 GiB) a source of cached code? */
// @ts-ignore: decorator
@inline export function isCodePage(page: i64): bool {
  return <u64>page < 0x100000 && load<u8>(CODE_PAGES + <usize>page) != 0;
}

/** Record that code was decoded from the page at host address `host`. */
export function markCodePage(host: usize): void {
  const page = <i64>((host - RAM_BASE) >> 12);
  if (load<u8>(CODE_PAGES + <usize>page) != 0) return;
  store<u8>(CODE_PAGES + <usize>page, 1);
  // Writes to this page must now go through the slow path: drop cached write permission.
  tlbDropWrites(page << 12);
}

/** Forget decoded code of the guest-physical page holding `gpa`, if any. */
export function invalidateCode(gpa: i64): void {
  const page = gpa >>> 12;
  if (!isCodePage(page)) return;
  store<u8>(CODE_PAGES + <usize>page, 0);
  const g = CODE_GEN + (<usize>page << 2);
  store<u32>(g, load<u32>(g) + 1);
  countEvent(P_CODE_INVALIDATED);
  // The block running now may come from this page: the run loop must look again.
  needAttention();
}

/** Invalidate every code page touched by guest-physical [gpa, gpa + len). */
export function invalidateRange(gpa: i64, len: i64): void {
  if (len <= 0) return;
  for (let p = gpa & ~0xfff; p < gpa + len; p += 4096) invalidateCode(p);
}

export function invalidateAllCode(): void {
  dropAllBlocks();
  memory.fill(CODE_PAGES, 0, 0x100000);
}
