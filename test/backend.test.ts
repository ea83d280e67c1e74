// The software backend refuses bad configurations with errors that name the problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSoftwareMachine } from '../src/backend/software.js';
import { testBus } from './support/machine.js';

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
