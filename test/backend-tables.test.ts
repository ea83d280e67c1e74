// The CPU's fixed tables (hypervisor breakpoints, CPUID entries) are sized in
// src/cpu; the backend learns their sizes from the wasm and names them when full.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testMachine } from './support/machine.js';

test('the 65th hypervisor breakpoint is refused, naming the CPU\'s 64-entry table; removing one makes room', async () => {
  const { machine } = await testMachine();
  for (let i = 0; i < 64; i++) machine.addExecBreakpoint(0x10000 + i * 16);
  assert.throws(() => machine.addExecBreakpoint(0x20000), /no room for another execution breakpoint \(64 at most\)/);
  machine.removeExecBreakpoint(0x10000);
  machine.addExecBreakpoint(0x20000);
});

test('a CPUID table of more than 64 entries is refused, naming the size', async () => {
  const { vcpu } = await testMachine();
  const entry = (leaf: number) => ({ leaf: 0x4000_0100 + leaf, subleaf: 0, eax: leaf, ebx: 0, ecx: 0, edx: 0 });
  vcpu.setCpuid(Array.from({ length: 64 }, (_, i) => entry(i)));
  assert.equal(vcpu.cpuid(0x4000_0100 + 63, 0).eax, 63);
  assert.throws(() => vcpu.updateCpuid([entry(64)]), /CPUID table full \(64 entries\)/);
});
