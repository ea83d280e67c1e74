// The device buses: a port or MMIO range that overlaps one already taken is
// refused with both devices named; lookups find the device that decodes an
// address; nobody's addresses read as the open bus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceBus, BusConflictError } from '../src/platform/bus.js';
import type { MmioDevice, PortDevice } from '../src/platform/device.js';

function portDevice(name: string, ...ports: Array<[number, number]>): PortDevice & { writes: number[][] } {
  const writes: number[][] = [];
  return { name, ports, writes, ioRead: (port) => port & 0xff, ioWrite: (port, size, value) => { writes.push([port, size, value]); } };
}

function mmioDevice(name: string, base: number, size: number): MmioDevice {
  return { name, base, size, mmioRead: (offset) => 0x1000 + offset, mmioWrite: () => {} };
}

test('a port range overlapping another device\'s is refused, naming both devices and the port; nothing of it is registered', () => {
  const bus = new DeviceBus();
  bus.addPortDevice(portDevice('uart', [0x3f8, 0x3ff]));
  assert.throws(() => bus.addPortDevice(portDevice('mouse', [0x60, 0x60], [0x3fc, 0x400])),
    (e: Error) => e instanceof BusConflictError && /^mouse: ports 0x3fc-0x400 overlap uart at port 0x3fc$/.test(e.message));
  assert.equal(bus.portDevice(0x60), undefined, 'the refused device decodes none of its ports');
  assert.equal(bus.portDevice(0x3fc)?.name, 'uart');
  bus.addPortDevice(portDevice('next-door', [0x3f0, 0x3f7], [0x400, 0x400]));
  assert.equal(bus.portDevice(0x3f7)?.name, 'next-door');
  assert.equal(bus.portDevice(0x3f8)?.name, 'uart');
});

test('an MMIO range overlapping another device\'s is refused, naming both ranges; adjacent ranges are fine', () => {
  const bus = new DeviceBus();
  bus.addMmioDevice(mmioDevice('ioapic', 0xfec0_0000, 0x1000));
  bus.addMmioDevice(mmioDevice('lapic', 0xfee0_0000, 0x1000));
  assert.throws(() => bus.addMmioDevice(mmioDevice('hpet', 0xfec0_0800, 0x1000)),
    { message: 'hpet: MMIO 0xfec00800-0xfec017ff overlaps ioapic at 0xfec00000-0xfec00fff' });
  assert.throws(() => bus.addMmioDevice(mmioDevice('big', 0xfe00_0000, 0x100_0000)), /big: .* overlaps ioapic/);
  bus.addMmioDevice(mmioDevice('below', 0xfebf_f000, 0x1000));
  bus.addMmioDevice(mmioDevice('above', 0xfec0_1000, 0x1000));
  assert.equal(bus.mmioDevice(0xfebf_ffff)?.name, 'below');
  assert.equal(bus.mmioDevice(0xfec0_0fff)?.name, 'ioapic');
  assert.equal(bus.mmioDevice(0xfec0_1000)?.name, 'above');
  assert.equal(bus.mmioDevice(0xfed0_0000), undefined);
});

test('ranges that are no ranges are refused', () => {
  const bus = new DeviceBus();
  assert.throws(() => bus.addPortDevice(portDevice('wide', [0xfff0, 0x10000])), /wide: port range 0xfff0-0x10000 is not within 0-0xffff/);
  assert.throws(() => bus.addPortDevice(portDevice('backwards', [0x20, 0x10])), /backwards: port range/);
  assert.throws(() => bus.addMmioDevice(mmioDevice('empty', 0xd000_0000, 0)), /empty: MMIO range/);
});

test('accesses reach the decoding device (MMIO at its offset); unclaimed ones read as the open bus and go nowhere', () => {
  const bus = new DeviceBus();
  const pic = portDevice('pic', [0x20, 0x21]);
  bus.addPortDevice(pic);
  bus.addMmioDevice(mmioDevice('lapic', 0xfee0_0000, 0x1000));
  assert.equal(bus.ioRead(0x21, 1), 0x21);
  bus.ioWrite(0x20, 1, 0x11);
  bus.ioWrite(0x22, 1, 0x11);
  assert.deepEqual(pic.writes, [[0x20, 1, 0x11]]);
  assert.equal(bus.ioRead(0x80, 1), 0xff);
  assert.equal(bus.ioRead(0x80, 2), 0xffff);
  assert.equal(bus.ioRead(0x80, 4), 0xffffffff);
  assert.equal(bus.mmioRead(0xfee0_0030, 4, 0), 0x1030);
  assert.equal(bus.mmioRead(0xfee0_1000, 2, 0), 0xffff);
});
