// boot_params carries the kernel's own setup header, the loader's fields and the memory map.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBootParams } from '../src/boot/bootparams.js';
import { e820Map } from '../src/boot/e820.js';

function fakeKernel(): Uint8Array {
  const k = new Uint8Array(0x400);
  const v = new DataView(k.buffer);
  k[0x1f1] = 27;                                  // setup_sects
  v.setUint16(0x1fe, 0xaa55, true);
  k[0x201] = 0x6a;                                // jump displacement: header ends at 0x26c
  v.setUint32(0x202, 0x53726448, true);
  v.setUint16(0x206, 0x20f, true);
  k[0x211] = 0x01;                                // LOADED_HIGH
  v.setUint32(0x260, 0x3f9f000, true);            // init_size
  k[0x26c] = 0xaa;                                // beyond the header: must not be copied
  return k;
}

test('boot_params copies the setup header and records the command line, initrd, RSDP and e820 map', () => {
  const e820 = e820Map(512 << 20);
  const bp = buildBootParams({ kernel: fakeKernel(), cmdlineAddr: 0x20000, cmdlineSize: 100, e820, initrd: { addr: 0x1f000000, size: 0x123456 }, rsdpAddr: 0xe0000 });
  const v = new DataView(bp.buffer);
  assert.equal(bp.length, 4096);
  assert.equal(v.getUint32(0x202, true), 0x53726448, 'HdrS copied');
  assert.equal(v.getUint32(0x260, true), 0x3f9f000, 'init_size copied');
  assert.equal(bp[0x26c], 0, 'nothing past the header is copied');
  assert.equal(bp[0x210], 0xff, 'type_of_loader');
  assert.equal(bp[0x211], 0x81, 'LOADED_HIGH kept, CAN_USE_HEAP set');
  assert.equal(v.getUint32(0x228, true), 0x20000);
  assert.equal(v.getUint32(0x218, true), 0x1f000000);
  assert.equal(v.getUint32(0x21c, true), 0x123456);
  assert.equal(v.getBigUint64(0x070, true), 0xe0000n);
  assert.equal(bp[0x1e8], e820.length);
  const last = 0x2d0 + 20 * (e820.length - 1);
  assert.equal(v.getBigUint64(last, true) + v.getBigUint64(last + 8, true), BigInt(512 << 20), 'the map ends at the top of RAM');
});
