// The memory map the guest is told about, and the PVH start info carrying it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { e820Map, E820_RAM, E820_RESERVED, E820_ACPI } from '../src/boot/e820.js';
import { writePvhStartInfo, HVM_START_MAGIC } from '../src/boot/pvh.js';

test('the e820 map covers RAM up to its size, keeps the legacy hole and carves out reserved ranges', () => {
  const map = e820Map(256 << 20, [{ addr: 0xfff0000, size: 0x10000, type: E820_ACPI }]);
  assert.deepEqual(map, [
    { addr: 0, size: 0x9fc00, type: E820_RAM },
    { addr: 0x9fc00, size: 0x100000 - 0x9fc00, type: E820_RESERVED },
    { addr: 0x100000, size: 0xfff0000 - 0x100000, type: E820_RAM },
    { addr: 0xfff0000, size: 0x10000, type: E820_ACPI },
  ]);
  const ram = map.filter((e) => e.type === E820_RAM).reduce((n, e) => n + e.size, 0);
  assert.equal(ram, (256 << 20) - 0x10000 - (0x100000 - 0x9fc00));
});

test('RAM that would reach the MMIO hole, or reserved ranges outside RAM, are refused', () => {
  assert.throws(() => e820Map(0xc000_0000 + 4096), /overlap the MMIO hole/);
  assert.throws(() => e820Map(1 << 20), /too small/);
  assert.throws(() => e820Map(64 << 20, [{ addr: 70 << 20, size: 4096, type: E820_RESERVED }]), /outside RAM/);
});

test('the PVH start info points at the command line, memory map and initrd module', () => {
  const ram = new Uint8Array(1 << 20);
  const memmap = e820Map(64 << 20);
  writePvhStartInfo(ram, 0x6000, { cmdlineAddr: 0x7000, memmapAddr: 0x8000, memmap, initrd: { addr: 0x400000, size: 12345 }, modlistAddr: 0x9000 });
  const v = new DataView(ram.buffer);
  assert.equal(v.getUint32(0x6000, true), HVM_START_MAGIC);
  assert.equal(v.getUint32(0x6004, true), 1);
  assert.equal(v.getUint32(0x600c, true), 1, 'one module');
  assert.equal(v.getBigUint64(0x6010, true), 0x9000n);
  assert.equal(v.getBigUint64(0x9000, true), 0x400000n);
  assert.equal(v.getBigUint64(0x9008, true), 12345n);
  assert.equal(v.getBigUint64(0x6018, true), 0x7000n);
  assert.equal(v.getBigUint64(0x6028, true), 0x8000n);
  assert.equal(v.getUint32(0x6030, true), memmap.length);
  assert.equal(v.getBigUint64(0x8000 + 2 * 24 + 8, true), BigInt((64 << 20) - 0x100000), 'third entry: high RAM size');
  assert.equal(v.getUint32(0x8000 + 2 * 24 + 16, true), E820_RAM);
});
