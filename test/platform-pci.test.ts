// PCI configuration mechanism 1: the host bridge is found, empty slots read
// all ones, and BARs are sized and moved the way firmware and Linux do it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PciHost, PciFunction } from '../src/platform/pci.js';

const addr = (dev: number, fn: number, reg: number) => (0x80000000 | (dev << 11) | (fn << 8) | reg) >>> 0;
function cfgRead(host: PciHost, dev: number, fn: number, reg: number, size = 4): number {
  host.ioWrite(0xcf8, 4, addr(dev, fn, reg & 0xfc));
  return host.ioRead(0xcfc + (reg & 3), size);
}
function cfgWrite(host: PciHost, dev: number, fn: number, reg: number, value: number): void {
  host.ioWrite(0xcf8, 4, addr(dev, fn, reg));
  host.ioWrite(0xcfc, 4, value);
}

test('the host bridge answers at 00:00.0 and empty slots read all ones', () => {
  const host = new PciHost();
  assert.equal(cfgRead(host, 0, 0, 0), 0x12378086);
  assert.equal(cfgRead(host, 0, 0, 0x08) >>> 8, 0x060000, 'class: host bridge');
  assert.equal(cfgRead(host, 5, 0, 0), 0xffffffff);
  assert.equal(cfgRead(host, 0, 0, 0x0a, 2), 0x0600, 'word access at an offset');
  host.ioWrite(0xcf8, 4, 0x12345678);
  assert.equal(host.ioRead(0xcf8, 4), 0x12345678, 'the address register reads back');
});

test('BARs report their size to an all-ones write and tell the owner where they moved', () => {
  const host = new PciHost();
  const moves: Array<[number, number]> = [];
  const f = new PciFunction({ vendor: 0x1af4, device: 0x1041, classCode: 0x020000 },
    [{ size: 0x4000, kind: 'mem32' }, { size: 0x40, kind: 'io' }], (i, a) => moves.push([i, a]));
  host.add(3, 0, f);
  cfgWrite(host, 3, 0, 0x10, 0xffffffff);
  assert.equal(cfgRead(host, 3, 0, 0x10), 0xffffc000, 'a 16 KiB memory BAR');
  cfgWrite(host, 3, 0, 0x14, 0xffffffff);
  assert.equal(cfgRead(host, 3, 0, 0x14), 0xffffffc1, 'a 64-byte I/O BAR');
  cfgWrite(host, 3, 0, 0x10, 0xfe000000);
  cfgWrite(host, 3, 0, 0x14, 0xc040);
  assert.equal(f.barAddress(0), 0xfe000000);
  assert.equal(f.barAddress(1), 0xc040);
  assert.deepEqual(moves.at(-2), [0, 0xfe000000]);
  assert.deepEqual(moves.at(-1), [1, 0xc040]);
  cfgWrite(host, 3, 0, 0x00, 0);
  assert.equal(cfgRead(host, 3, 0, 0), 0x10411af4, 'IDs are read-only');
  assert.throws(() => host.add(3, 0, f), /taken/);
});
