// dmaprot: devices reach guest RAM with the rights the hypapps' policy gives
// the guest, on the real CPU's memory (a refused access changes nothing and
// is reported; an allowed write is seen by code the CPU already decoded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dmaprot, type DmaViolation } from '../src/xmhf/dmaprot.js';
import { Memprot } from '../src/xmhf/memprot.js';
import { Prot } from '../src/hypapp/api.js';
import { testMachine } from './support/machine.js';
import { PAGE_SIZE as PAGE } from '../src/backend/abi.js';


async function setup() {
  const { machine } = await testMachine(4 << 20);
  const memprot = new Memprot(machine);
  const violations: DmaViolation[] = [];
  return { machine, memprot, violations, dma: new Dmaprot(machine, memprot, (v) => violations.push(v)) };
}

test('a device writes a page the guest may write, and reads a read-only one, but cannot write it', async () => {
  const { machine, memprot, dma, violations } = await setup();
  memprot.setprot(0x10000, PAGE, Prot.READ | Prot.EXEC);
  assert.equal(dma.write('disk', 0x11000, new Uint8Array([1, 2, 3])), true);
  assert.deepEqual([...machine.ram.subarray(0x11000, 0x11003)], [1, 2, 3]);
  machine.ram[0x10000] = 0x5a;
  assert.deepEqual(dma.read('disk', 0x10000, 1), new Uint8Array([0x5a]), 'read-only is readable');
  assert.equal(dma.write('disk', 0x10000, new Uint8Array([9])), false);
  assert.equal(machine.ram[0x10000], 0x5a, 'the refused write left the page as it was');
  assert.deepEqual(violations, [{ device: 'disk', gpa: 0x10000, length: 1, direction: 'write' }]);
});

test('an access that reaches into a protected page is refused whole; not-present pages are unreadable', async () => {
  const { machine, memprot, dma, violations } = await setup();
  memprot.setprot(0x20000, PAGE, 0);
  assert.equal(dma.write('net', 0x1fff0, new Uint8Array(32).fill(7)), false);
  assert.ok(machine.ram.subarray(0x1fff0, 0x20010).every((b) => b === 0), 'not even the allowed half was written');
  assert.equal(dma.read('net', 0x1fff8, 16), undefined);
  assert.equal(violations.length, 2);
});

test('addresses outside RAM, negative or absurd lengths are refused, never wrapped', async () => {
  const { machine, dma } = await setup();
  for (const [gpa, length] of [[machine.ramSize - 4, 8], [-4096, 8], [0, -1], [2 ** 53, 1], [0, 2 ** 40]]) {
    assert.equal(dma.read('fuzz', gpa, length), undefined, `read ${gpa}+${length}`);
  }
  assert.equal(dma.write('fuzz', machine.ramSize - 2, new Uint8Array(4)), false);
});

test('a watchpoint\'s withheld rights do not fail a device (only the hypapps\' policy counts)', async () => {
  const { memprot, dma } = await setup();
  memprot.withhold(0x30000 / PAGE, Prot.WRITE);
  assert.equal(dma.write('disk', 0x30000, new Uint8Array([1])), true);
});
