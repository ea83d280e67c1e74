// The guest's physical memory map as the firmware reports it (e820 types):
// RAM below the legacy VGA/BIOS hole, RAM from 1 MiB up to the RAM size, and
// nothing in the MMIO hole below 4 GiB where the devices live.
import { MMIO_HOLE_START } from '../backend/abi.js';

export const E820_RAM = 1;
export const E820_RESERVED = 2;
export const E820_ACPI = 3;

export interface E820Entry { addr: number; size: number; type: number }

const LOW_RAM_END = 0x9fc00;        // 639 KiB: the EBDA and legacy areas follow
const HIGH_RAM_START = 0x100000;

/** The e820 map for `ramSize` bytes of RAM, with extra reserved ranges (ACPI tables, ...). */
export function e820Map(ramSize: number, reserved: readonly E820Entry[] = []): E820Entry[] {
  if (ramSize <= HIGH_RAM_START) throw new RangeError(`guest RAM of ${ramSize} bytes is too small: at least 1 MiB is needed`);
  if (ramSize > MMIO_HOLE_START) throw new RangeError(`guest RAM of ${ramSize} bytes would overlap the MMIO hole at 0x${MMIO_HOLE_START.toString(16)}`);
  const map: E820Entry[] = [
    { addr: 0, size: LOW_RAM_END, type: E820_RAM },
    { addr: LOW_RAM_END, size: HIGH_RAM_START - LOW_RAM_END, type: E820_RESERVED },
  ];
  // Carve reserved ranges out of high RAM so no byte is both.
  const holes = [...reserved].filter((r) => r.addr >= HIGH_RAM_START).sort((a, b) => a.addr - b.addr);
  let at = HIGH_RAM_START;
  for (const h of holes) {
    if (h.addr < at) throw new RangeError(`reserved range at 0x${h.addr.toString(16)} overlaps another`);
    if (h.addr + h.size > ramSize) throw new RangeError(`reserved range at 0x${h.addr.toString(16)} lies outside RAM`);
    if (h.addr > at) map.push({ addr: at, size: h.addr - at, type: E820_RAM });
    map.push(h);
    at = h.addr + h.size;
  }
  if (at < ramSize) map.push({ addr: at, size: ramSize - at, type: E820_RAM });
  for (const r of reserved) if (r.addr < HIGH_RAM_START) map.push(r);
  return map.sort((a, b) => a.addr - b.addr);
}
