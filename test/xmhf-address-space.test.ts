// The core's memory views (src/xmhf/address-space.ts through GuestCpuImpl):
// sized little-endian reads and writes, guest-physical and guest-virtual, and
// access through another address space than the vCPU's current one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeMachine } from './support/fake-vcpu.js';
import { Reg } from '../src/backend/interface.js';
import { GuestMemory } from '../src/xmhf/guest-memory.js';
import { GuestCpuImpl } from '../src/xmhf/guest-cpu.js';
import { PhysicalView } from '../src/xmhf/address-space.js';
import { GuestPageFault } from '../src/hypapp/api.js';

const P = 1n, RW = 2n, US = 4n;

/** Two 4-level address spaces (tables at 0x10000 and 0x20000) mapping 0x400000 to different pages; the vCPU runs the first. */
function setup() {
  const machine = new FakeMachine(1 << 20);
  const ram = new DataView(machine.ram.buffer);
  const set = (at: number, v: bigint) => ram.setBigUint64(at, v, true);
  for (const [root, page] of [[0x10000, 0x80000], [0x20000, 0x90000]]) {
    // PML4[0] -> PDPT -> PD[2] (0x400000) -> PT[0] -> page
    set(root, BigInt(root + 0x1000) | P | RW | US);
    set(root + 0x1000, BigInt(root + 0x2000) | P | RW | US);
    set(root + 0x2000 + 2 * 8, BigInt(root + 0x3000) | P | RW | US);
    set(root + 0x3000, BigInt(page) | P | RW | US);
    set(root + 0x3000 + 8, BigInt(page + 0x1000) | P | RW | US);
  }
  const vcpu = machine.vcpu;
  vcpu.regs.set(Reg.CR0, 0x8000_0011n);
  vcpu.regs.set(Reg.CR4, 0x20n);
  vcpu.regs.set(Reg.EFER, 0x500n);
  vcpu.regs.set(Reg.CR3, 0x10000n);
  const mem = new GuestMemory(machine);
  return { machine, cpu: new GuestCpuImpl(vcpu, mem), physical: new PhysicalView(mem) };
}

test('sized reads and writes are little-endian, virtual and physical, and cross pages', () => {
  const { cpu, physical } = setup();
  cpu.writeU64(0x400ffcn, 0x1122_3344_5566_7788n); // straddles the two pages
  assert.equal(physical.readU32(0x80ffc), 0x5566_7788);
  assert.equal(physical.readU32(0x81000), 0x1122_3344, 'the upper half landed on the next page\'s frame');
  assert.equal(cpu.readU8(0x400ffcn), 0x88);
  assert.equal(cpu.readU16(0x400ffen), 0x5566);
  assert.equal(cpu.readU32(0x400ffen), 0x3344_5566);
  assert.equal(cpu.readU64(0x400ffcn), 0x1122_3344_5566_7788n);
  cpu.writeU8(0x400000n, 0x1ff); cpu.writeU16(0x400002n, 0xbeef); cpu.writeU32(0x400004n, -1);
  assert.deepEqual([...physical.read(0x80000, 8)], [0xff, 0, 0xef, 0xbe, 0xff, 0xff, 0xff, 0xff]);
  physical.writeU64(0x80008, -2n);
  assert.equal(cpu.readU64(0x400008n), 0xffff_ffff_ffff_fffen, 'negative values are stored as two\'s complement');
  physical.write(0x81010, new TextEncoder().encode('hi there\0'));
  assert.equal(cpu.readString(0x401010n), 'hi there');
});

test('another address space reads its own pages while the vCPU runs the first; unmapped addresses fault', () => {
  const { cpu, machine } = setup();
  machine.ram.set([1, 2, 3, 4], 0x80000);
  machine.ram.set([9, 8, 7, 6], 0x90000);
  const other = cpu.addressSpace(0x20000n);
  assert.equal(other.cr3, 0x20000n);
  assert.equal(other.translate(0x400000n).gpa, 0x90000n);
  assert.equal(other.readU32(0x400000n), 0x0607_0809);
  assert.equal(cpu.readU32(0x400000n), 0x0403_0201, 'the vCPU still reads its own');
  other.writeU16(0x400002n, 0xabcd);
  assert.deepEqual([...machine.ram.subarray(0x90000, 0x90004)], [9, 8, 0xcd, 0xab]);
  assert.deepEqual([...other.mappings()].map((m) => [m.gva, m.gpa]), [[0x400000n, 0x90000n], [0x401000n, 0x91000n]]);
  assert.throws(() => other.readU8(0x402000n), GuestPageFault);
  // The current view follows CR3.
  const current = cpu.addressSpace();
  machine.vcpu.regs.set(Reg.CR3, 0x20000n);
  assert.equal(current.readU8(0x400000n), 9);
});

test('physical access outside guest RAM is refused with the range named', () => {
  const { physical } = setup();
  assert.throws(() => physical.readU64(0xffffc), /outside guest RAM/);
  assert.throws(() => physical.writeU32(1 << 20, 1), /outside guest RAM/);
});
