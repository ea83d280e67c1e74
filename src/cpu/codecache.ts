// Decoded-instruction cache. A record is found by the host address of the
// instruction's first byte (so by guest-physical address) and the code size
// mode it was decoded in. Pages that supplied code are marked in CODE_PAGES
// and kept out of the write TLB, so every write to them takes the slow path,
// which calls invalidateCode() before the bytes change.
import { DCACHE, DCACHE_TAGS, DCACHE_ENTRIES, CODE_PAGES, RAM_BASE } from './layout';
import { tlbDropWrites } from './paging';

const MASK: usize = <usize>DCACHE_ENTRIES - 1;

// @ts-ignore: decorator
@inline export function slotOf(host: usize): usize { return DCACHE + ((host & MASK) << 6); }
// @ts-ignore: decorator
@inline export function tagAt(host: usize): usize { return DCACHE_TAGS + ((host & MASK) << 3); }
// @ts-ignore: decorator
@inline export function tagFor(host: usize, modeBits: i32): i64 { return (<i64>host << 2) | <i64>modeBits | 0x1000000000000; }

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
  // Cached instructions never cross a page (see run.ts), so the page's own slots suffice.
  memory.fill(tagAt(RAM_BASE + <usize>(page << 12)), 0, 4096 << 3);
}

/** Invalidate every code page touched by guest-physical [gpa, gpa + len). */
export function invalidateRange(gpa: i64, len: i64): void {
  if (len <= 0) return;
  for (let p = gpa & ~0xfff; p < gpa + len; p += 4096) invalidateCode(p);
}

export function invalidateAllCode(): void {
  memory.fill(DCACHE_TAGS, 0, <usize>DCACHE_ENTRIES << 3);
  memory.fill(CODE_PAGES, 0, 0x100000);
}
