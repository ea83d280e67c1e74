// struct boot_params ("the zero page", Documentation/arch/x86/zero-page.rst)
// for the 32-bit and 64-bit boot protocols: the bzImage's setup header, what the loader
// fills in, and the e820 map.
import type { E820Entry } from './e820.js';

const BOOT_PARAMS_SIZE = 4096;
const E820_MAX_ENTRIES = 128;

export interface BootParamsInput {
  /** The bzImage file (its setup header is copied from offset 0x1f1). */
  kernel: Uint8Array;
  cmdlineAddr: number;
  cmdlineSize: number;
  e820: readonly E820Entry[];
  initrd?: { addr: number; size: number };
  rsdpAddr?: number;
  /** Where the 32-bit kernel was loaded (code32_start), for an entry there. */
  code32Start?: number;
}

/** The 4 KiB boot_params a 64-bit entry expects in RSI and a 32-bit one in ESI. */
export function buildBootParams(p: BootParamsInput): Uint8Array {
  const bp = new Uint8Array(BOOT_PARAMS_SIZE);
  const v = new DataView(bp.buffer);
  // The setup header runs from 0x1f1 to 0x202 + the byte at 0x201 (the jump's displacement).
  const headerEnd = 0x202 + p.kernel[0x201];
  bp.set(p.kernel.subarray(0x1f1, headerEnd), 0x1f1);
  if (p.e820.length > E820_MAX_ENTRIES) throw new RangeError(`${p.e820.length} e820 entries; boot_params holds ${E820_MAX_ENTRIES}`);
  v.setUint16(0x1fa, 0xffff, true);                  // vid_mode: normal
  bp[0x210] = 0xff;                                   // type_of_loader: undefined loader
  bp[0x211] |= 0x80;                                  // loadflags: CAN_USE_HEAP
  v.setUint16(0x224, 0xfe00, true);                   // heap_end_ptr
  v.setUint32(0x228, p.cmdlineAddr, true);            // cmd_line_ptr
  v.setUint32(0x0c0, Math.floor(p.cmdlineAddr / 2 ** 32), true);
  if (p.initrd) {
    v.setUint32(0x218, p.initrd.addr >>> 0, true);    // ramdisk_image
    v.setUint32(0x21c, p.initrd.size >>> 0, true);    // ramdisk_size
    v.setUint32(0x0b8, Math.floor(p.initrd.addr / 2 ** 32), true);
    v.setUint32(0x0bc, Math.floor(p.initrd.size / 2 ** 32), true);
  }
  if (p.code32Start !== undefined) v.setUint32(0x214, p.code32Start, true);
  if (p.rsdpAddr !== undefined) v.setBigUint64(0x070, BigInt(p.rsdpAddr), true);
  bp[0x1e8] = p.e820.length;
  p.e820.forEach((e, i) => {
    const o = 0x2d0 + 20 * i;
    v.setBigUint64(o, BigInt(e.addr), true);
    v.setBigUint64(o + 8, BigInt(e.size), true);
    v.setUint32(o + 16, e.type, true);
  });
  return bp;
}
