// The software backend: bad configurations are refused with errors that name
// the problem; the largest guest RAM works end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSoftwareMachine } from '../src/backend/software.js';
import { Exit, Reg } from '../src/backend/abi.js';
import { testBus, testMachine, view } from './support/machine.js';
import { assemble } from './support/asm.js';
import { enterLongMode } from './support/guest64.js';

test('guest RAM sizes that are not whole pages, too small or too large are refused', async () => {
  await assert.rejects(createSoftwareMachine({ ramSize: (1 << 20) + 1, bus: testBus() }), /whole number of 4 KiB pages/);
  await assert.rejects(createSoftwareMachine({ ramSize: 4096, bus: testBus() }), /at least 1 MiB/);
  await assert.rejects(createSoftwareMachine({ ramSize: 4 * 1024 ** 3, bus: testBus() }), /exceeds the 3 GiB/);
});

test('the vCPU count must be 1 to 64', async () => {
  await assert.rejects(createSoftwareMachine({ ramSize: 1 << 20, bus: testBus(), vcpus: 0 }), /vCPU count must be 1 to 64/);
  await assert.rejects(createSoftwareMachine({ ramSize: 1 << 20, bus: testBus(), vcpus: 65 }), /vCPU count must be 1 to 64/);
});

test('a new machine has the guest RAM it asked for, all zero', async () => {
  const m = await createSoftwareMachine({ ramSize: 2 << 20, bus: testBus() });
  assert.equal(m.ram.length, 2 << 20);
  assert.ok(m.ram.every((b) => b === 0));
});

test('3 GiB of guest RAM: the guest reads and writes its last bytes; an access past the end reads as no memory', async () => {
  const ramSize = 3 * 1024 ** 3;
  const { machine, vcpu } = await testMachine(ramSize);
  const last = ramSize - 8 - 0x10000; // below the tables enterLongMode puts at the top of RAM
  const code = 0x100000;
  machine.ram.set(assemble(`mov rax, ${last}\nmov qword ptr [rax], 0x1234\nmov rbx, qword ptr [rax]\nmov rcx, ${ramSize + 0x1000}\nmov edx, dword ptr [rcx]\nud2`, { origin: code }), code);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(code), rsp: 0x300000n });
  vcpu.setExceptionBitmap(1 << 6);
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RBX), 0x1234n);
  assert.equal(view(machine).getBigUint64(last, true), 0x1234n, 'the host sees the guest\'s write at the end of RAM');
  assert.equal(vcpu.getReg(Reg.RDX), 0xffffffffn, 'past RAM is MMIO, which nothing here answers');
});
