// Walks the guest's own page tables in software, as the CPU would, so hypapps
// can translate and access guest-virtual memory: 32-bit (4 KiB and 4 MiB
// pages, PSE-36), PAE and 4-level paging (2 MiB and 1 GiB pages).
import { GuestPageFault, type Translation, type Mapping } from '../hypapp/api.js';
import { PAGE_SIZE } from '../backend/abi.js';

/** Reads guest-physical memory for the walker; undefined when outside guest RAM. */
export interface PhysicalReader {
  read32(gpa: bigint): number | undefined;
  read64(gpa: bigint): bigint | undefined;
}

export interface PagingRegisters {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
}

export type PagingMode = 'none' | '32-bit' | 'pae' | '4-level';

const CR0_PG = 1n << 31n;
const CR4_PSE = 1n << 4n;
const CR4_PAE = 1n << 5n;
const EFER_LMA = 1n << 10n;
const EFER_NXE = 1n << 11n;

const P = 1n, RW = 2n, US = 4n, PS = 0x80n, NX = 1n << 63n;
const ADDR_MASK = 0x000f_ffff_ffff_f000n;

export function pagingMode(r: PagingRegisters): PagingMode {
  if ((r.cr0 & CR0_PG) === 0n) return 'none';
  if ((r.efer & EFER_LMA) !== 0n) return '4-level';
  return (r.cr4 & CR4_PAE) !== 0n ? 'pae' : '32-bit';
}

/** Translate `gva` through the page tables `r` describes; throws GuestPageFault if it is not mapped. */
export function translate(mem: PhysicalReader, r: PagingRegisters, gva: bigint): Translation {
  const mode = pagingMode(r);
  if (mode === 'none') {
    return { gpa: gva & 0xffff_ffffn, pageSize: PAGE_SIZE, writable: true, user: true, executable: true };
  }
  if (mode === '32-bit') return walk32(mem, r, gva & 0xffff_ffffn);
  const nxe = (r.efer & EFER_NXE) !== 0n;
  if (mode === '4-level') {
    const sign = gva >> 47n;
    if (sign !== 0n && sign !== 0x1ffffn) throw new GuestPageFault(gva, 0, `0x${gva.toString(16)} is not a canonical address`);
    return walkLevels(mem, gva, r.cr3 & ADDR_MASK, [39n, 30n, 21n, 12n], nxe);
  }
  // PAE: CR3 points at four PDPTEs (32-byte aligned), which carry no access rights.
  const va = gva & 0xffff_ffffn;
  const pdpteAt = (r.cr3 & 0xffff_ffe0n) + ((va >> 30n) & 3n) * 8n;
  const pdpte = entry(mem, pdpteAt, va);
  if ((pdpte & P) === 0n) throw notPresent(va, 'PDPTE', pdpteAt);
  return walkLevels(mem, va, pdpte & ADDR_MASK, [21n, 12n], nxe);
}

function entry(mem: PhysicalReader, at: bigint, gva: bigint): bigint {
  const e = mem.read64(at);
  if (e === undefined) throw new GuestPageFault(gva, 0, `the page-table entry for 0x${gva.toString(16)} at 0x${at.toString(16)} is outside guest RAM`);
  return e;
}

function notPresent(gva: bigint, level: string, at: bigint): GuestPageFault {
  return new GuestPageFault(gva, 0, `0x${gva.toString(16)} is not mapped (${level} at 0x${at.toString(16)} is not present)`);
}

const LEVEL_NAMES: Record<string, string> = { '39': 'PML4E', '30': 'PDPTE', '21': 'PDE', '12': 'PTE' };

/** 64-bit entries from `table` down: `shifts` are the address bits each level indexes. */
function walkLevels(mem: PhysicalReader, gva: bigint, table: bigint, shifts: bigint[], nxe: boolean): Translation {
  let writable = true, user = true, executable = true;
  for (const shift of shifts) {
    const at = table + ((gva >> shift) & 0x1ffn) * 8n;
    const e = entry(mem, at, gva);
    if ((e & P) === 0n) throw notPresent(gva, LEVEL_NAMES[String(shift)], at);
    writable &&= (e & RW) !== 0n;
    user &&= (e & US) !== 0n;
    if (nxe && (e & NX) !== 0n) executable = false;
    const large = shift !== 12n && (e & PS) !== 0n;
    if (shift === 39n && (e & PS) !== 0n) throw new GuestPageFault(gva, 9, `PML4E at 0x${at.toString(16)} has the reserved PS bit set`);
    if (large || shift === 12n) {
      const size = 1n << shift;
      const base = e & ADDR_MASK & ~(size - 1n);
      return { gpa: base | (gva & (size - 1n)), pageSize: Number(size), writable, user, executable };
    }
    table = e & ADDR_MASK;
  }
  throw new Error('unreachable: the last level always maps');
}

function walk32(mem: PhysicalReader, r: PagingRegisters, va: bigint): Translation {
  const pdeAt = (r.cr3 & 0xffff_f000n) + (va >> 22n) * 4n;
  const pde = read32(mem, pdeAt, va);
  if ((pde & P) === 0n) throw notPresent(va, 'PDE', pdeAt);
  if ((pde & PS) !== 0n && (r.cr4 & CR4_PSE) !== 0n) {
    // PSE-36: PDE bits 13..20 are physical address bits 32..39.
    const base = (pde & 0xffc0_0000n) | (((pde >> 13n) & 0xffn) << 32n);
    return { gpa: base | (va & 0x3f_ffffn), pageSize: 4 << 20, writable: (pde & RW) !== 0n, user: (pde & US) !== 0n, executable: true };
  }
  const pteAt = (pde & 0xffff_f000n) + ((va >> 12n) & 0x3ffn) * 4n;
  const pte = read32(mem, pteAt, va);
  if ((pte & P) === 0n) throw notPresent(va, 'PTE', pteAt);
  return {
    gpa: (pte & 0xffff_f000n) | (va & 0xfffn), pageSize: PAGE_SIZE,
    writable: (pde & pte & RW) !== 0n, user: (pde & pte & US) !== 0n, executable: true,
  };
}

function read32(mem: PhysicalReader, at: bigint, gva: bigint): bigint {
  const e = mem.read32(at);
  if (e === undefined) throw new GuestPageFault(gva, 0, `the page-table entry for 0x${gva.toString(16)} at 0x${at.toString(16)} is outside guest RAM`);
  return BigInt(e >>> 0);
}

/**
 * Every present leaf mapping with a virtual address in [start, end), in
 * address order (4-level paging; the kernel's and a process's view alike).
 */
export function* mappings(mem: PhysicalReader, r: PagingRegisters, start = 0n, end = 1n << 64n): Generator<Mapping> {
  if (pagingMode(r) !== '4-level') throw new GuestPageFault(start, 0, `listing mappings needs 4-level paging (the guest uses ${pagingMode(r)})`);
  const nxe = (r.efer & EFER_NXE) !== 0n;
  function* level(table: bigint, shift: bigint, base: bigint, writable: boolean, user: boolean, executable: boolean): Generator<Mapping> {
    const span = 1n << shift;
    for (let i = 0n; i < 512n; i++) {
      let gva = base + i * span;
      if (shift === 39n && i >= 256n) gva |= 0xffff_0000_0000_0000n; // sign-extend the upper half
      if (gva + span <= start || gva >= end) continue;
      const e = mem.read64(table + i * 8n);
      if (e === undefined || (e & P) === 0n) continue;
      const w = writable && (e & RW) !== 0n, u = user && (e & US) !== 0n, x = executable && !(nxe && (e & NX) !== 0n);
      if (shift === 12n || (shift !== 39n && (e & PS) !== 0n)) {
        yield { gva, gpa: e & ADDR_MASK & ~(span - 1n), pageSize: Number(span), writable: w, user: u, executable: x };
      } else {
        yield* level(e & ADDR_MASK, shift - 9n, gva, w, u, x);
      }
    }
  }
  yield* level(r.cr3 & ADDR_MASK, 39n, 0n, true, true, true);
}
