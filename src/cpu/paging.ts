// Linear-to-physical translation: the guest's page tables (none, 32-bit, PAE,
// 4-level), the nested page permissions (memprot) and the TLB that caches
// both. A TLB entry grants an access kind only if both the guest's tables and
// the nested permissions allow it, so the fast path is one tag compare.
import { countEvent, P_TLB_FILL } from './profile';
import { TLB, TLB_SETS, TLB_ENTRIES, TLB_SET_SIZE, TLB_FILLED, TLB_LARGE_REGIONS, TLB_BITS, NPT, RAM_BASE, CONTROL, WALKED_PAGES } from './layout';
import {
  st64, O_CR0, O_CR3, O_CR4, O_EFER, CR0_PG, CR0_WP, CR4_PAE, CR4_PSE, CR4_SMEP, CR4_SMAP,
  EFER_NXE, EFER_LMA, linearMask, cpl, needAttention, CR0_AM, STATE, O_FLAGS, F_AC,
} from './state';
import { pageFault, gp, fault, exitNow, setExitField } from './fault';
import { Access, Exit, ExitField, Control } from '../backend/abi';
import { isCodePage, invalidateCode } from './codecache';
import { pageWatched } from './debug';
import { currentInstructionLength } from './run';

// Offsets inside one TLB set.
export const T_READ: usize = 0;
export const T_WRITE: usize = <usize>TLB_ENTRIES * 8;
export const T_EXEC: usize = <usize>TLB_ENTRIES * 16;
export const T_GPA: usize = <usize>TLB_ENTRIES * 24;
export const T_HOST: usize = <usize>TLB_ENTRIES * 32;
// Flag bits kept in the low bits of the T_GPA word.
const G_GLOBAL: i64 = 1;
/** From a page larger than 4 KiB. */
const G_LARGE: i64 = 2;
/** The slot is in the filled list's tail (filled since the last non-global flush). */
const G_IN_TAIL: i64 = 4;
/** The slot is in the filled list's prefix (held a global translation at a non-global flush). */
const G_IN_PREFIX: i64 = 8;
/** From a 1 GiB (or 32-bit 4 MiB) page: INVLPG then looks through the whole list. */
const G_HUGE: i64 = 16;

/** Guest RAM size in bytes; guest-physical [0, ramSize) is RAM, the rest MMIO. */
export let ramSize: u64 = 0;
export function setRamSize(n: u64): void { ramSize = n; }

// The TLB sets (layout.ts TLB_SETS), by number. Supervisor accesses use SET_SUPER, whose entries never
// grant data access to user pages while CR4.SMAP is on; explicit supervisor accesses with EFLAGS.AC
// set (SMAP overridden, as in the kernel's copies to and from user memory) use SET_SUPER_AC instead,
// which may. Implicit supervisor accesses (descriptor tables, TSS, interrupt frames) always use SET_SUPER.
const SET_SUPER = 0;
const SET_USER = 1;
const SET_SUPER_AC = 2;
const SET_EMPTY = 3;
// @ts-ignore: decorator
@inline function setBase(n: i32): usize { return TLB + <usize>n * TLB_SET_SIZE; }

/** Privilege of an access for translate(): CPL 3, an explicit supervisor access, or an implicit one. */
export const PRIV_USER = 0;
export const PRIV_SUPER = 1;
export const PRIV_IMPLICIT = 2;

/** Base of the TLB set for explicit accesses at the current privilege (and EFLAGS.AC under SMAP). */
export let tlbSet: usize = TLB;
/**
 * Alignment checking is on (CR0.AM, RFLAGS.AC, CPL 3). User accesses then use
 * a TLB set that is never filled, so every one takes the slow path, which
 * checks alignment; the fast path stays free of the test.
 */
export let alignmentChecks = false;
/** CR4.SMAP and EFLAGS.AC at CPL < 3: explicit supervisor accesses may touch user pages. */
let smapOverridden = false;
export function selectTlbSet(): void {
  const ac = (load<i32>(STATE + O_FLAGS) & F_AC) != 0;
  alignmentChecks = cpl == 3 && (st64(O_CR0) & CR0_AM) != 0 && ac;
  smapOverridden = cpl != 3 && ac && (st64(O_CR4) & CR4_SMAP) != 0;
  tlbSet = setBase(cpl != 3 ? (smapOverridden ? SET_SUPER_AC : SET_SUPER) : alignmentChecks ? SET_EMPTY : SET_USER);
}
/** The TLB set translate() fills for explicit accesses now (tlbSet, but for the never-filled one). */
export function fillSet(): usize { return setBase(cpl == 3 ? SET_USER : smapOverridden ? SET_SUPER_AC : SET_SUPER); }


// @ts-ignore: decorator
@inline export function tlbIndex(la: i64): usize { return <usize>((la >>> 12) & (TLB_ENTRIES - 1)); }
// @ts-ignore: decorator
@inline export function tlbTag(la: i64): i64 { return (la & ~0xfff) | 1; }

export function nestedPagingOn(): bool {
  return (load<i32>(CONTROL) & Control.NESTED_PAGING) != 0;
}

/** Nested permission bits of a guest-physical page. */
export function nestedPerm(gpa: i64): i32 {
  if (!nestedPagingOn() || <u64>gpa >= 0x100000000) return Access.ALL;
  return load<u8>(NPT + <usize>(gpa >>> 12));
}

export function tlbFlushAll(): void {
  needAttention();
  memory.fill(TLB, 0, TLB_SET_SIZE * <usize>(TLB_SETS - 1)); // the empty set stays empty
  memory.fill(TLB_LARGE_REGIONS, 0, 0x2000);
  filledCount = 0;
  globalCount = 0;
  hugeCached = false;
}

/*
 * The slots filled since the last full flush, so flushes and scans visit
 * those instead of all 2 x TLB_ENTRIES (the kernel reloads CR3 and runs
 * INVLPG tens of thousands of times while it boots). The list is a prefix
 * of slots that held global translations at the last non-global flush, then
 * a tail of slots filled since; a slot is in each part at most once
 * (G_IN_PREFIX, G_IN_TAIL), and any slot filled with a non-global
 * translation is in the tail, so a non-global flush clears just the tail.
 */
let filledCount: i32 = 0;
let globalCount: i32 = 0;
/** Entries from 1 GiB or 4 MiB pages may be cached. */
let hugeCached: bool = false;
// @ts-ignore: decorator
@inline function filledAt(k: i32): i32 { return <i32>load<u16>(TLB_FILLED + (<usize>k << 1)); }
// @ts-ignore: decorator
@inline function filledSet(e: i32): usize { return setBase(e >> TLB_BITS); }
// @ts-ignore: decorator
@inline function filledIndex(e: i32): usize { return <usize>(e & (TLB_ENTRIES - 1)); }
// @ts-ignore: decorator
@inline function gpaWord(set: usize, i: usize): usize { return set + T_GPA + (i << 3); }

/** Record a fill of slot `i` of set number `n` (at `set`) whose new T_GPA word is `g` without list bits. */
function listFill(set: usize, n: i32, i: usize, g: i64): i64 {
  const old = load<i64>(gpaWord(set, i)) & (G_IN_TAIL | G_IN_PREFIX);
  let listed = old;
  if ((old & G_IN_TAIL) == 0 && ((g & G_GLOBAL) == 0 || (old & G_IN_PREFIX) == 0)) {
    store<u16>(TLB_FILLED + (<usize>filledCount << 1), <u16>((n << TLB_BITS) | <i32>i));
    filledCount++;
    listed |= G_IN_TAIL;
  }
  return g | listed;
}

/** Flush everything but global translations (a CR3 write with CR4.PGE). */
export function tlbFlushNonGlobal(): void {
  needAttention();
  const end = filledCount;
  for (let k = globalCount; k < end; k++) {
    const e = filledAt(k);
    const set = filledSet(e), i = filledIndex(e);
    let g = load<i64>(gpaWord(set, i)) & ~G_IN_TAIL;
    if ((g & G_GLOBAL) == 0) clearEntry(set, i);
    else if ((g & G_IN_PREFIX) == 0) {
      store<u16>(TLB_FILLED + (<usize>globalCount << 1), <u16>e); // globalCount <= k: already read
      globalCount++;
      g |= G_IN_PREFIX;
    }
    store<i64>(gpaWord(set, i), g);
  }
  filledCount = globalCount;
}

function clearEntry(set: usize, i: usize): void {
  store<i64>(set + T_READ + (i << 3), 0);
  store<i64>(set + T_WRITE + (i << 3), 0);
  store<i64>(set + T_EXEC + (i << 3), 0);
}

/** The linear page an entry translates (its tags are the page | 1, or 0 for a kind not granted). */
// @ts-ignore: decorator
@inline function entryPage(set: usize, i: usize): i64 {
  return load<i64>(set + T_READ + (i << 3)) | load<i64>(set + T_WRITE + (i << 3)) | load<i64>(set + T_EXEC + (i << 3));
}

/** INVLPG: drop the translation of `la`, and every entry from the large page holding it. */
export function tlbFlushPage(la: i64): void {
  needAttention();
  if (hugeCached) {
    for (let k = 0; k < filledCount; k++) {
      const e = filledAt(k);
      const set = filledSet(e), i = filledIndex(e);
      if ((load<i64>(gpaWord(set, i)) & G_HUGE) != 0 && (entryPage(set, i) >>> 30) == (la >>> 30)) clearEntry(set, i);
    }
  }
  const region = la >>> 21;
  const bit = <usize>(region & 0xffff);
  if ((load<u8>(TLB_LARGE_REGIONS + (bit >> 3)) & (1 << <u8>(bit & 7))) != 0) {
    // Entries from a 2 MiB page sit in one 512-slot block of each set.
    const first = tlbIndex(la) & ~511;
    for (let set: usize = TLB; set < setBase(SET_EMPTY); set += TLB_SET_SIZE) {
      for (let i = first; i < first + 512; i++) {
        if ((load<i64>(gpaWord(set, i)) & G_LARGE) != 0 && (entryPage(set, i) >>> 21) == region) clearEntry(set, i);
      }
    }
  }
  const i = tlbIndex(la);
  clearEntry(setBase(SET_SUPER), i);
  clearEntry(setBase(SET_USER), i);
  clearEntry(setBase(SET_SUPER_AC), i);
}

/** Stop caching writes to guest-physical page `gpa` (it now holds decoded code). */
export function tlbDropWrites(gpa: i64): void {
  for (let k = 0; k < filledCount; k++) {
    const e = filledAt(k);
    const set = filledSet(e), i = filledIndex(e);
    if ((load<i64>(gpaWord(set, i)) & ~0xfff) == gpa) store<i64>(set + T_WRITE + (i << 3), 0);
  }
}

/** Drop every translation to guest-physical pages [first, end). */
function tlbDropGpaPages(first: i64, end: i64): void {
  needAttention();
  for (let k = 0; k < filledCount; k++) {
    const e = filledAt(k);
    const set = filledSet(e), i = filledIndex(e);
    const page = load<i64>(gpaWord(set, i)) >>> 12;
    if (page >= first && page < end) clearEntry(set, i);
  }
}

/** Host address of guest-physical RAM byte `gpa` (caller checked gpa < ramSize). */
// @ts-ignore: decorator
@inline export function ramHost(gpa: i64): usize { return RAM_BASE + <usize>gpa; }

// ---- nested page faults ----
/** A write about to be translated: its value is reported if the translation takes an NPF exit. */
let writeLa: i64 = -1, writeValue: i64 = 0;
export function noteWrite(la: i64, v: i64): void { writeLa = la; writeValue = v; }

function nestedFault(gpa: i64, la: i64, access: i32, size: i32): void {
  // The written value (FLAGS = 1) for a plain store; the instruction length
  // for data accesses (a hypapp may skip the instruction), 0 for fetches.
  const store = access == Access.WRITE && writeLa == la;
  setExitField(ExitField.VALUE, store ? writeValue : 0);
  setExitField(ExitField.FLAGS, store ? 1 : 0);
  setExitField(ExitField.INSTR_LEN, (access & (Access.EXEC_SUPER | Access.EXEC_USER)) != 0 ? 0 : <i64>currentInstructionLength());
  writeLa = -1;
  setExitField(ExitField.GPA, gpa);
  setExitField(ExitField.GVA, la);
  setExitField(ExitField.DIRECTION, access | (cpl == 3 ? Access.USER : 0));
  setExitField(ExitField.SIZE, size);
  exitNow(Exit.NPF);
}

// ---- page-table walk ----
function ptRead(gpa: i64, la: i64): i64 {
  if (<u64>gpa + 8 > ramSize) return 0; // tables outside RAM read as not present
  if ((nestedPerm(gpa) & Access.READ) == 0) nestedFault(gpa, la, Access.READ | Access.PAGE_WALK, 8);
  markWalked(gpa);
  return load<i64>(ramHost(gpa));
}
function ptRead32(gpa: i64, la: i64): i64 {
  if (<u64>gpa + 4 > ramSize) return 0;
  if ((nestedPerm(gpa) & Access.READ) == 0) nestedFault(gpa, la, Access.READ | Access.PAGE_WALK, 4);
  markWalked(gpa);
  return <i64>load<u32>(ramHost(gpa));
}

// @ts-ignore: decorator
@inline function markWalked(gpa: i64): void {
  const page = <usize>(gpa >>> 12);
  const p = WALKED_PAGES + (page >> 3);
  store<u8>(p, load<u8>(p) | <u8>(1 << <u8>(page & 7)));
}

/** Did the walker ever read page-table entries from a guest-physical page in [first, end)? */
function anyWalked(first: i64, end: i64): bool {
  for (let page = first; page < end; page++) {
    if ((page & 7) == 0 && end - page >= 8) {
      if (load<u8>(WALKED_PAGES + <usize>(page >>> 3)) != 0) return true;
      page += 7;
    } else if ((load<u8>(WALKED_PAGES + <usize>(page >>> 3)) & (1 << <u8>(page & 7))) != 0) return true;
  }
  return false;
}

/**
 * The nested permissions of guest-physical pages [first, end) changed: drop
 * the translations that depend on them. Those to the pages themselves go;
 * the rest of the TLB stays (a full flush cost the guest every translation
 * it had, at each allow-once of a hypapp), unless a page in the range has
 * held page tables, whose permissions every walk through it must see again.
 */
export function nestedPermsChanged(first: i64, end: i64): void {
  if (anyWalked(first, end)) tlbFlushAll();
  else tlbDropGpaPages(first, end);
}
function ptSetBits(gpa: i64, la: i64, entry: i64, bits: i64, wide: bool): void {
  if ((entry & bits) == bits) return;
  if ((nestedPerm(gpa) & Access.WRITE) == 0) nestedFault(gpa, la, Access.WRITE | Access.PAGE_WALK, wide ? 8 : 4);
  invalidateCode(gpa);
  if (wide) store<i64>(ramHost(gpa), entry | bits);
  else store<u32>(ramHost(gpa), <u32>(entry | bits));
}

const PTE_P: i64 = 1;
const PTE_W: i64 = 2;
const PTE_U: i64 = 4;
const PTE_A: i64 = 32;
const PTE_D: i64 = 64;
const PTE_PS: i64 = 128;
const PTE_G: i64 = 256;
const PTE_NX: i64 = <i64>1 << 63;
const ADDR_MASK: i64 = 0x000ffffffffff000;

// Results of the last walk.
let walkGpa: i64 = 0;
let walkWritable: bool = false;
let walkUser: bool = false;
let walkNx: bool = false;
let walkGlobal: bool = false;
let walkLarge: bool = false;
/** The page is 1 GiB (or 4 MiB in 32-bit paging): bigger than a 512-slot block of the TLB. */
let walkHuge: bool = false;
/** The leaf entry's dirty bit is set (now or before), so writes may be cached. */
let walkDirty: bool = false;

/** Kinds of access for translate(). */
export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_EXEC = 2;

/**
 * Walk 64-bit page-table levels from `table` at `level` (4: PML4 ... 1: PT),
 * combining access rights and stopping at a large-page leaf (PS at levels 2
 * and 3). Sets the walk* results; false if an entry is not present.
 */
function walk64(table: i64, level: i32, la: i64, dirty: bool, nxe: bool): bool {
  let w = true, u = true, nx = false;
  while (true) {
    const shift = <i64>(12 + 9 * (level - 1));
    const eaddr = table + (((la >>> shift) & 511) << 3);
    const e = ptRead(eaddr, la);
    if ((e & PTE_P) == 0) return false;
    w = w && (e & PTE_W) != 0;
    u = u && (e & PTE_U) != 0;
    if (nxe && (e & PTE_NX) != 0) nx = true;
    if (level == 1 || ((level == 2 || level == 3) && (e & PTE_PS) != 0)) {
      ptSetBits(eaddr, la, e, dirty ? PTE_A | PTE_D : PTE_A, true);
      walkDirty = dirty || (e & PTE_D) != 0;
      const pageMask: i64 = (<i64>1 << shift) - 1;
      walkGpa = (e & ADDR_MASK & ~pageMask) | (la & pageMask & ~0xfff);
      walkGlobal = (e & PTE_G) != 0;
      walkLarge = level > 1;
      walkHuge = level > 2;
      walkWritable = w; walkUser = u; walkNx = nx;
      return true;
    }
    ptSetBits(eaddr, la, e, PTE_A, true);
    table = e & ADDR_MASK;
    level--;
  }
}

/**
 * Walk the guest's page tables for linear address `la`. Returns false if not
 * present (walkGpa undefined); otherwise fills the walk* results and sets the
 * accessed bits (and dirty, if `dirty`).
 */
function walk(la: i64, dirty: bool): bool {
  const cr0 = st64(O_CR0);
  if ((cr0 & CR0_PG) == 0) {
    walkGpa = la & linearMask & ~0xfff;
    walkWritable = true; walkUser = true; walkNx = false; walkGlobal = false; walkLarge = false; walkHuge = false; walkDirty = true;
    return true;
  }
  const cr4 = st64(O_CR4);
  const nxe = (st64(O_EFER) & EFER_NXE) != 0;
  if ((st64(O_EFER) & EFER_LMA) != 0) {
    // With CR4.PCIDE the low 12 bits of CR3 are the PCID; ADDR_MASK drops them.
    return walk64(st64(O_CR3) & ADDR_MASK, 4, la, dirty, nxe);
  }
  if ((cr4 & CR4_PAE) != 0) {
    // PAE: a 4-entry PDPT (no access-right bits), then the same 64-bit levels as long mode.
    const pdpte = ptRead((st64(O_CR3) & 0xffffffe0) + (((la >>> 30) & 3) << 3), la);
    if ((pdpte & PTE_P) == 0) return false;
    return walk64(pdpte & ADDR_MASK, 2, la, dirty, nxe);
  }
  // 32-bit paging: a page directory of 4-byte entries, 4 MiB pages with CR4.PSE.
  const pdeAddr = (st64(O_CR3) & 0xfffff000) + (((la >>> 22) & 1023) << 2);
  const pde = ptRead32(pdeAddr, la);
  if ((pde & PTE_P) == 0) return false;
  let w = (pde & PTE_W) != 0;
  let u = (pde & PTE_U) != 0;
  if ((pde & PTE_PS) != 0 && (cr4 & CR4_PSE) != 0) {
    ptSetBits(pdeAddr, la, pde, dirty ? PTE_A | PTE_D : PTE_A, false);
    walkDirty = dirty || (pde & PTE_D) != 0;
    // PSE-36: bits 20:13 of the PDE are physical address bits 39:32.
    walkGpa = (pde & 0xffc00000) | ((pde & 0x1fe000) << 19) | (la & 0x3ff000);
    walkGlobal = (pde & PTE_G) != 0;
    walkLarge = true;
    walkHuge = true;
  } else {
    ptSetBits(pdeAddr, la, pde, PTE_A, false);
    const pteAddr = (pde & 0xfffff000) + (((la >>> 12) & 1023) << 2);
    const pte = ptRead32(pteAddr, la);
    if ((pte & PTE_P) == 0) return false;
    w = w && (pte & PTE_W) != 0;
    u = u && (pte & PTE_U) != 0;
    ptSetBits(pteAddr, la, pte, dirty ? PTE_A | PTE_D : PTE_A, false);
    walkDirty = dirty || (pte & PTE_D) != 0;
    walkGpa = pte & 0xfffff000;
    walkGlobal = (pte & PTE_G) != 0;
    walkLarge = false;
    walkHuge = false;
  }
  walkWritable = w; walkUser = u; walkNx = false;
  return true;
}

/** The access being made goes through SS (non-canonical addresses then raise #SS, not #GP). */
let viaStack = false;
// @ts-ignore: decorator
@inline export function stackAccess(): void { viaStack = true; }
// @ts-ignore: decorator
@inline export function segmentAccess(seg: i32): void { viaStack = seg == 2; }

function checkCanonical(la: i64, kind: i32): void {
  if ((st64(O_EFER) & EFER_LMA) != 0 && ((la << 16) >> 16) != la) {
    if (viaStack && kind != ACC_EXEC) fault(12, 0); else gp(0);
  }
}

/**
 * Translate `la` for an access of `kind` at privilege `priv` (PRIV_*), raising
 * #PF or an NPF exit as the hardware would, and fill the TLB set of that
 * privilege. Returns the guest-physical address of the byte.
 */
export function translate(la: i64, kind: i32, priv: i32, size: i32): i64 {
  countEvent(P_TLB_FILL);
  checkCanonical(la, kind);
  const write = kind == ACC_WRITE;
  const user = priv == PRIV_USER;
  if (!walk(la, write)) {
    pageFault(la, (write ? 2 : 0) | (user ? 4 : 0) | (kind == ACC_EXEC && nxEnabled() ? 16 : 0));
    return 0;
  }
  const cr0 = st64(O_CR0);
  const cr4 = st64(O_CR4);
  const paging = (cr0 & CR0_PG) != 0;
  // SMAP: supervisor data accesses to user pages fault, unless explicit with EFLAGS.AC set (SDM 4.6.1).
  const smapUserData = paging && !user && walkUser && (cr4 & CR4_SMAP) != 0;
  let ok = true;
  if (paging) {
    if (user && !walkUser) ok = false;
    else if (write && !walkWritable && (user || (cr0 & CR0_WP) != 0)) ok = false;
    else if (kind == ACC_EXEC && walkNx) ok = false;
    else if (kind == ACC_EXEC && !user && walkUser && (cr4 & CR4_SMEP) != 0) ok = false;
    else if (kind != ACC_EXEC && smapUserData && (priv == PRIV_IMPLICIT || !smapOverridden)) ok = false;
    if (!ok) {
      pageFault(la, 1 | (write ? 2 : 0) | (user ? 4 : 0) | (kind == ACC_EXEC && nxEnabled() ? 16 : 0));
      return 0;
    }
  }
  const gpa = walkGpa | (la & 0xfff);
  const need = kind == ACC_READ ? Access.READ : kind == ACC_WRITE ? Access.WRITE : (user ? Access.EXEC_USER : Access.EXEC_SUPER);
  const np = nestedPerm(gpa);
  if ((np & need) == 0) nestedFault(gpa, la, need, size);

  // Pages with a data watchpoint stay uncached, so every access is checked.
  if (pageWatched(la)) return gpa;
  // Fill the TLB set of this privilege with every access kind both levels allow.
  const n = user ? SET_USER : priv == PRIV_SUPER && smapOverridden ? SET_SUPER_AC : SET_SUPER;
  const set = setBase(n);
  // SET_SUPER never grants data access to a user page under SMAP: those accesses come back here to fault.
  const dataOk = !smapUserData || n == SET_SUPER_AC;
  const i = tlbIndex(la);
  const tag = tlbTag(la);
  const page = walkGpa;
  const isRam = <u64>page < ramSize;
  const readOk = isRam && (np & Access.READ) != 0 && dataOk;
  const guestWrite = !paging || walkWritable || (!user && (cr0 & CR0_WP) == 0);
  // Pages holding decoded code stay out of the write TLB so writes reach invalidateCode().
  const writeOk = isRam && (np & Access.WRITE) != 0 && guestWrite && walkDirty && !isCodePage(page >>> 12) && dataOk;
  const guestExec = !paging || (!walkNx && (user || !walkUser || (cr4 & CR4_SMEP) == 0));
  const execOk = isRam && (np & (user ? Access.EXEC_USER : Access.EXEC_SUPER)) != 0 && guestExec;
  store<i64>(set + T_READ + (i << 3), readOk ? tag : 0);
  store<i64>(set + T_WRITE + (i << 3), writeOk ? tag : 0);
  store<i64>(set + T_EXEC + (i << 3), execOk ? tag : 0);
  store<i64>(set + T_GPA + (i << 3), listFill(set, n, i, page | (walkGlobal ? G_GLOBAL : 0) | (walkLarge ? G_LARGE : 0) | (walkHuge ? G_HUGE : 0)));
  store<u32>(set + T_HOST + (i << 2), isRam ? <u32>ramHost(page) : 0);
  if (walkHuge) hugeCached = true;
  else if (walkLarge) {
    const bit = <usize>((la >>> 21) & 0xffff);
    store<u8>(TLB_LARGE_REGIONS + (bit >> 3), load<u8>(TLB_LARGE_REGIONS + (bit >> 3)) | (1 << <u8>(bit & 7)));
  }
  return gpa;
}

function nxEnabled(): bool {
  return (st64(O_EFER) & EFER_NXE) != 0 || (st64(O_CR4) & CR4_SMEP) != 0;
}
