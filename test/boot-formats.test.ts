// Kernel file formats: the bzImage setup header and vmlinux ELF images are
// read correctly, and anything else is refused with a reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBzImage, bzImagePayload } from '../src/boot/bzimage.js';
import { parseVmlinux } from '../src/boot/elf.js';
import { vmlinux } from './support/vmlinux.js';

/** A minimal bzImage: 2 setup sectors, protocol `version`, a gzip-looking payload. */
function bzImage(opts: { version?: number; xloadflags?: number; hdrs?: boolean; size?: number } = {}): Uint8Array {
  const f = new Uint8Array(opts.size ?? 4096);
  const v = new DataView(f.buffer);
  f[0x1f1] = 2;
  v.setUint16(0x1fe, 0xaa55, true);
  if (opts.hdrs ?? true) v.setUint32(0x202, 0x53726448, true);
  v.setUint16(0x206, opts.version ?? 0x20f, true);
  f[0x211] = 1;                                   // LOADED_HIGH
  v.setUint32(0x22c, 0x7fffffff, true);           // initrd_addr_max
  v.setUint32(0x230, 0x200000, true);             // kernel_alignment
  f[0x234] = 1;                                   // relocatable
  v.setUint16(0x236, opts.xloadflags ?? 1, true); // XLF_KERNEL_64
  v.setUint32(0x238, 2047, true);
  v.setUint32(0x248, 0x10, true);                 // payload_offset
  v.setUint32(0x24c, 0x20, true);                 // payload_length
  v.setBigUint64(0x258, 0x1000000n, true);
  v.setUint32(0x260, 0x800000, true);
  f.set([0x1f, 0x8b], 3 * 512 + 0x10);
  return f;
}

test('a bzImage setup header is read and its compressed payload found', () => {
  const f = bzImage();
  const h = parseBzImage(f);
  assert.equal(h.version, 0x20f);
  assert.equal(h.kernelOffset, 3 * 512);
  assert.equal(h.relocatable, true);
  assert.equal(h.initSize, 0x800000);
  assert.equal(h.prefAddress, 0x1000000n);
  const p = bzImagePayload(f, h);
  assert.equal(p.format, 'gzip');
  assert.equal(p.data.length, 0x20);
});

test('a bzImage without a 64-bit entry (XLF_KERNEL_64 clear) is a 32-bit kernel, not a refusal', () => {
  assert.equal(parseBzImage(bzImage()).entry64, true);
  assert.equal(parseBzImage(bzImage({ xloadflags: 0 })).entry64, false);
  assert.equal(parseBzImage(bzImage({ version: 0x20a })).entry64, false, 'protocol 2.10 has no xloadflags: 32-bit entry');
});

test('files that are not bootable bzImages are refused with the reason', () => {
  assert.throws(() => parseBzImage(new Uint8Array(100)), /too short for a setup header/);
  assert.throws(() => parseBzImage(bzImage({ hdrs: false })), /no "HdrS" setup header/);
  assert.throws(() => parseBzImage(bzImage({ version: 0x209 })), /boot protocol 2\.9 is too old/);
  const truncated = bzImage().subarray(0, 3 * 512 + 0x18);
  assert.throws(() => parseBzImage(truncated), /runs past the end of the file: truncated/);
});


test('a vmlinux ELF gives its load segments and PVH entry', () => {
  const k = parseVmlinux(vmlinux());
  assert.equal(k.segments.length, 1);
  assert.equal(k.segments[0].paddr, 0x1000000);
  assert.equal(k.segments[0].data.length, 0x40);
  assert.equal(k.segments[0].memsz, 0x100);
  assert.equal(k.pvhEntry, 0x1000850);
  assert.equal(parseVmlinux(vmlinux({ pvh: false })).pvhEntry, undefined);
});

test('files that are not x86 ELF kernels are refused with the reason', () => {
  assert.throws(() => parseVmlinux(new TextEncoder().encode('#!/bin/sh\necho not a kernel\n'.repeat(4))), /no ELF magic/);
  assert.throws(() => parseVmlinux(vmlinux({ machine: 183 })), /machine 183 is not x86-64/);
  assert.throws(() => parseVmlinux(vmlinux().subarray(0, 0x220)), /runs past the end of the file/);
});
