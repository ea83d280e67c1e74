// Guest memory access by linear address: a TLB hit is a tag compare and a
// load from guest RAM; everything else (misses, page-crossing accesses, MMIO)
// takes the slow path through translate().
import { countEvent, P_READ_SLOW, P_WRITE_SLOW } from './profile';
import { TLB, RAM_BASE } from './layout';
import {
  T_READ, T_WRITE, T_EXEC, T_HOST, tlbSet, tlbIndex, tlbTag, translate, ramSize, ACC_READ, ACC_WRITE, ACC_EXEC,
  segmentAccess, alignmentChecks, noteWrite, PRIV_USER, PRIV_SUPER, PRIV_IMPLICIT, fillSet,
} from './paging';
import { fault } from './fault';
import { cpl } from './state';
import { mmioRead, mmioWrite } from './bus';
import { invalidateCode } from './codecache';
import { checkWatchpoints } from './debug';
import { syncIcount } from './run';

// ---- physical access (page walks are in paging.ts; this is for the core and devices) ----
export function physRead(gpa: i64, size: i32): i64 {
  if (<u64>gpa + <u64>size <= ramSize) {
    const h = RAM_BASE + <usize>gpa;
    if (size == 1) return <i64>load<u8>(h);
    if (size == 2) return <i64>load<u16>(h);
    if (size == 4) return <i64>load<u32>(h);
    return load<i64>(h);
  }
  syncIcount();
  if (size == 8) {
    return (<i64><u32>mmioRead(<f64>gpa, 4)) | (<i64><u32>mmioRead(<f64>(gpa + 4), 4) << 32);
  }
  return <i64><u32>mmioRead(<f64>gpa, size) & ((<i64>1 << (<i64>size << 3)) - 1);
}

export function physWrite(gpa: i64, size: i32, v: i64): void {
  if (<u64>gpa + <u64>size <= ramSize) {
    const h = RAM_BASE + <usize>gpa;
    invalidateCode(gpa);
    if (size > 1) invalidateCode(gpa + size - 1);
    if (size == 1) store<u8>(h, <u8>v);
    else if (size == 2) store<u16>(h, <u16>v);
    else if (size == 4) store<u32>(h, <u32>v);
    else store<i64>(h, v);
    return;
  }
  syncIcount();
  if (size == 8) {
    mmioWrite(<f64>gpa, 4, <i32>v);
    mmioWrite(<f64>(gpa + 4), 4, <i32>(v >>> 32));
    return;
  }
  mmioWrite(<f64>gpa, size, <i32>v);
}

// ---- slow paths ----
/** PRIV_USER at CPL 3, else PRIV_SUPER: the privilege of the instruction's explicit accesses. */
// @ts-ignore: decorator
@inline function explicitPriv(): i32 { return cpl == 3 ? PRIV_USER : PRIV_SUPER; }

function checkAlignment(la: i64, size: i32, priv: i32): void {
  if (alignmentChecks && priv == PRIV_USER && (<i32>la & (size - 1)) != 0) fault(17, 0);
}

function readSlow(la: i64, size: i32, priv: i32): i64 {
  countEvent(P_READ_SLOW);
  checkAlignment(la, size, priv);
  if ((<i32>la & 0xfff) + size > 0x1000) {
    // Crosses a page: byte by byte, each byte translated (reads have no side effects on RAM).
    let v: i64 = 0;
    for (let k = 0; k < size; k++) v |= readSlow(la + k, 1, priv) << (<i64>k << 3);
    return v;
  }
  const gpa = translate(la, ACC_READ, priv, size);
  checkWatchpoints(la, size, false);
  return physRead(gpa, size);
}

function writeSlow(la: i64, size: i32, v: i64, priv: i32): void {
  countEvent(P_WRITE_SLOW);
  checkAlignment(la, size, priv);
  const off = <i32>la & 0xfff;
  if (off + size > 0x1000) {
    // Check both pages before writing anything, so a fault leaves memory untouched.
    const first = 0x1000 - off;
    noteWrite(la, v);
    const gpa1 = translate(la, ACC_WRITE, priv, first);
    noteWrite(la + first, v >>> (<i64>first << 3));
    const gpa2 = translate(la + first, ACC_WRITE, priv, size - first);
    checkWatchpoints(la, size, true);
    for (let k = 0; k < size; k++) {
      const g = k < first ? gpa1 + k : gpa2 + (k - first);
      physWrite(g, 1, v >>> (<i64>k << 3));
    }
    return;
  }
  noteWrite(la, v);
  const gpa = translate(la, ACC_WRITE, priv, size);
  checkWatchpoints(la, size, true);
  physWrite(gpa, size, v);
}

// ---- linear-address access at the current privilege ----
/** Host address of `la` if TLB set `set` grants the access kind at tag offset `tagOff`, else 0. */
// @ts-ignore: decorator
@inline export function hostFor(set: usize, la: i64, tagOff: usize): usize {
  const i = tlbIndex(la);
  if (load<i64>(set + tagOff + (i << 3)) != tlbTag(la)) return 0;
  return <usize>load<u32>(set + T_HOST + (i << 2)) + (<usize>la & 0xfff);
}

export function read8(la: i64): i32 {
  const h = hostFor(tlbSet, la, T_READ);
  if (h != 0) return load<u8>(h);
  return <i32>readSlow(la, 1, explicitPriv());
}
export function read16(la: i64): i32 {
  if ((<i32>la & 0xfff) <= 0xffe) {
    const h = hostFor(tlbSet, la, T_READ);
    if (h != 0) return load<u16>(h);
  }
  return <i32>readSlow(la, 2, explicitPriv());
}
export function read32(la: i64): i32 {
  if ((<i32>la & 0xfff) <= 0xffc) {
    const h = hostFor(tlbSet, la, T_READ);
    if (h != 0) return load<i32>(h);
  }
  return <i32>readSlow(la, 4, explicitPriv());
}
export function read64(la: i64): i64 {
  if ((<i32>la & 0xfff) <= 0xff8) {
    const h = hostFor(tlbSet, la, T_READ);
    if (h != 0) return load<i64>(h);
  }
  return readSlow(la, 8, explicitPriv());
}
/** Read `size` (1, 2, 4, 8) bytes, zero-extended. */
export function readN(la: i64, size: i32): i64 {
  if (size == 4) return <i64><u32>read32(la);
  if (size == 8) return read64(la);
  if (size == 1) return <i64>read8(la);
  return <i64>read16(la);
}

export function write8(la: i64, v: i32): void {
  const h = hostFor(tlbSet, la, T_WRITE);
  if (h != 0) { store<u8>(h, <u8>v); return; }
  writeSlow(la, 1, v, explicitPriv());
}
export function write16(la: i64, v: i32): void {
  if ((<i32>la & 0xfff) <= 0xffe) {
    const h = hostFor(tlbSet, la, T_WRITE);
    if (h != 0) { store<u16>(h, <u16>v); return; }
  }
  writeSlow(la, 2, v, explicitPriv());
}
export function write32(la: i64, v: i32): void {
  if ((<i32>la & 0xfff) <= 0xffc) {
    const h = hostFor(tlbSet, la, T_WRITE);
    if (h != 0) { store<i32>(h, v); return; }
  }
  writeSlow(la, 4, v, explicitPriv());
}
export function write64(la: i64, v: i64): void {
  if ((<i32>la & 0xfff) <= 0xff8) {
    const h = hostFor(tlbSet, la, T_WRITE);
    if (h != 0) { store<i64>(h, v); return; }
  }
  writeSlow(la, 8, v, explicitPriv());
}
export function writeN(la: i64, size: i32, v: i64): void {
  if (size == 4) write32(la, <i32>v);
  else if (size == 8) write64(la, v);
  else if (size == 1) write8(la, <i32>v);
  else write16(la, <i32>v);
}

/**
 * Read the destination of a read-modify-write instruction: the access is
 * checked as a write (so a fault reports W=1, as on hardware) and hits the
 * write TLB, which the store that follows uses too.
 */
export function readForWrite(la: i64, size: i32): i64 {
  if ((<i32>la & 0xfff) <= 0x1000 - size) {
    const h = hostFor(tlbSet, la, T_WRITE);
    if (h != 0) {
      if (size == 8) return load<i64>(h);
      if (size == 4) return <i64>load<u32>(h);
      if (size == 2) return <i64>load<u16>(h);
      return <i64>load<u8>(h);
    }
  }
  probeWrite(la, size);
  return readSlow(la, size, explicitPriv());
}

/**
 * Fault now if a write of `size` bytes at `la` would fault, checking each
 * page from its first byte, so CR2 names the first byte that cannot be written
 * (multi-part stores check before they commit anything).
 */
export function probeWrite(la: i64, size: i32): void {
  if (hostFor(tlbSet, la, T_WRITE) == 0) translate(la, ACC_WRITE, explicitPriv(), size);
  const next = (la | 0xfff) + 1;
  if (next < la + size && hostFor(tlbSet, next, T_WRITE) == 0) translate(next, ACC_WRITE, explicitPriv(), 1);
}

// ---- supervisor (implicit) accesses: descriptor tables, TSS, IDT, interrupt stack ----
export function sysRead(la: i64, size: i32): i64 {
  segmentAccess(-1);
  const h = (<i32>la & 0xfff) + size <= 0x1000 ? hostFor(TLB, la, T_READ) : 0;
  if (h != 0) {
    if (size == 8) return load<i64>(h);
    if (size == 4) return <i64>load<u32>(h);
    if (size == 2) return <i64>load<u16>(h);
    return <i64>load<u8>(h);
  }
  return readSlow(la, size, PRIV_IMPLICIT);
}
export function sysWrite(la: i64, size: i32, v: i64): void {
  segmentAccess(-1);
  const h = (<i32>la & 0xfff) + size <= 0x1000 ? hostFor(TLB, la, T_WRITE) : 0;
  if (h != 0) {
    if (size == 8) store<i64>(h, v);
    else if (size == 4) store<u32>(h, <u32>v);
    else if (size == 2) store<u16>(h, <u16>v);
    else store<u8>(h, <u8>v);
    return;
  }
  writeSlow(la, size, v, PRIV_IMPLICIT);
}

// ---- instruction fetch ----
/** Host address of code byte `la`, filling the TLB; 0 if not guest RAM (code in MMIO). */
export function codeHost(la: i64): usize {
  const set = tlbSet;
  const h = hostFor(set, la, T_EXEC);
  if (h != 0) return h;
  translate(la, ACC_EXEC, explicitPriv(), 1);
  return hostFor(fillSet(), la, T_EXEC);
}
