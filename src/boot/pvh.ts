// The PVH boot ABI's start-of-day structure (xen/include/public/arch-x86/hvm/
// start_info.h, version 1): what a PVH kernel finds in EBX at its 32-bit entry.
import type { E820Entry } from './e820.js';

export const HVM_START_MAGIC = 0x336ec578;
/** Bytes of struct hvm_start_info (version 1). */
const START_INFO_SIZE = 56;
/** Bytes of one struct hvm_memmap_table_entry. */
const MEMMAP_ENTRY_SIZE = 24;

export interface PvhStartInfo {
  cmdlineAddr: number;
  memmapAddr: number;
  memmap: readonly E820Entry[];
  rsdpAddr?: number;
  /** Initrd as the first module: its guest-physical address and size. */
  initrd?: { addr: number; size: number };
  /** Where the module list goes (one 32-byte entry), if there is an initrd. */
  modlistAddr?: number;
}

/** Write hvm_start_info at `at`, and the memory map and module list it points to, into guest RAM. */
export function writePvhStartInfo(ram: Uint8Array, at: number, info: PvhStartInfo): void {
  const v = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  ram.fill(0, at, at + START_INFO_SIZE);
  v.setUint32(at, HVM_START_MAGIC, true);
  v.setUint32(at + 4, 1, true);                       // version
  v.setUint32(at + 8, 0, true);                       // flags
  if (info.initrd) {
    if (info.modlistAddr === undefined) throw new Error('an initrd needs a module list address');
    v.setUint32(at + 12, 1, true);                    // nr_modules
    v.setBigUint64(at + 16, BigInt(info.modlistAddr), true);
    ram.fill(0, info.modlistAddr, info.modlistAddr + 32);
    v.setBigUint64(info.modlistAddr, BigInt(info.initrd.addr), true);
    v.setBigUint64(info.modlistAddr + 8, BigInt(info.initrd.size), true);
  }
  v.setBigUint64(at + 24, BigInt(info.cmdlineAddr), true);
  v.setBigUint64(at + 32, BigInt(info.rsdpAddr ?? 0), true);
  v.setBigUint64(at + 40, BigInt(info.memmapAddr), true);
  v.setUint32(at + 48, info.memmap.length, true);
  info.memmap.forEach((e, i) => {
    const p = info.memmapAddr + i * MEMMAP_ENTRY_SIZE;
    v.setBigUint64(p, BigInt(e.addr), true);
    v.setBigUint64(p + 8, BigInt(e.size), true);
    v.setUint32(p + 16, e.type, true);
    v.setUint32(p + 20, 0, true);
  });
}
