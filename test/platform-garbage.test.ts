// A guest poking every device with garbage: random port reads and writes of
// every size, random LAPIC and IOAPIC register traffic, accesses to the empty
// MMIO hole. The platform must
// take all of it without a host exception, and still work afterwards: the
// UART prints and ACPI powers the machine off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PcMachine } from '../src/platform/pc.js';
import { createSoftwareMachine } from '../src/backend/software.js';
import { Reg } from '../src/backend/abi.js';
import { assemble } from './support/asm.js';
import { enterLongMode } from './support/guest64.js';
import { installIdt } from './support/idt.js';

const CODE = 0x100000, IDT = 0x80000, STACK = 0x300000, NMI_HANDLER = 0x90000;
const LAPIC = 0xfee00000, IOAPIC = 0xfec00000;
/** Ports of the platform's devices, poked more often than the rest of the 64 Ki. */
const DEVICE_PORTS = [0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x60, 0x70, 0x71,
  0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0xcf8, 0xcfc, 0xcfd, 0xcfe, 0xcff, 0x600, 0x602, 0x608];
/**
 * Writes that may legitimately end the run, left out so the whole program runs: the i8042's
 * reset pulse, and PM1a_CNT (S5), which a word or dword write from up to 3 ports below reaches.
 */
const ENDS_RUN_PORTS = new Set([0x64, 0x601, 0x602, 0x603, 0x604, 0x605]);
/** The LAPIC's ICR: an INIT to itself would reset the CPU. */
const LAPIC_ICR = new Set([0x300, 0x310]);

function randomProgram(seed: number, operations: number): string {
  let s = seed >>> 0;
  const rand = (n: number) => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s % n; };
  const lines = ['cli'];
  for (let i = 0; i < operations; i++) {
    const value = `0x${(rand(0x10000) * 0x10000 + rand(0x10000)).toString(16)}`;
    const reg = ['al', 'ax', 'eax'][rand(3)];
    const kind = rand(4);
    if (kind < 2) {
      let port = rand(4) === 0 ? rand(0x10000) : DEVICE_PORTS[rand(DEVICE_PORTS.length)];
      if (kind === 0 && ENDS_RUN_PORTS.has(port)) port = 0x80;
      lines.push(`mov dx, ${port}`, kind === 0 ? `mov eax, ${value}\nout dx, ${reg}` : `in ${reg}, dx`);
    } else {
      const where = rand(3);
      let target = where === 0 ? LAPIC + rand(0x100) * 0x10 : where === 1 ? IOAPIC + rand(2) * 0x10
        : 0xc0000000 + rand(0x3e000) * 0x100; // the MMIO hole, where nothing answers
      if (LAPIC_ICR.has(target - LAPIC)) target = LAPIC + 0x80; // the TPR instead
      lines.push(`mov esi, ${target}`, kind === 2 ? `mov dword ptr [rsi], ${value}` : 'mov eax, dword ptr [rsi]');
    }
  }
  // Afterwards: the UART back to 8N1 without loopback, a character, then S5.
  lines.push('mov dx, 0x3fb\nmov al, 3\nout dx, al\nmov dx, 0x3fc\nmov al, 0\nout dx, al',
    'mov dx, 0x3f8\nmov al, 0x5a\nout dx, al', 'mov dx, 0x604\nmov ax, 0x3400\nout dx, ax', '1: hlt\njmp 1b');
  return lines.join('\n');
}

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
  test(`garbage from the guest at every device (seed ${seed}) leaves the host running and the devices working`, async () => {
    let serial = '';
    const pc = await PcMachine.create({ ramSize: 32 << 20, backend: createSoftwareMachine, serialOutput: (b) => { serial += Buffer.from(b).toString('latin1'); } });
    pc.machine.ram.set(assemble(randomProgram(seed, 5000), { origin: CODE }), CODE);
    pc.machine.ram.set(assemble('iretq', { origin: NMI_HANDLER }), NMI_HANDLER);
    pc.machine.notifyRamWritten(0, 0x400000);
    enterLongMode(pc.machine, pc.vcpu, { cpl: 0, rip: BigInt(CODE), rsp: BigInt(STACK) });
    installIdt(pc.machine, pc.vcpu, IDT, new Map([[2, NMI_HANDLER]])); // an LVT aimed at NMI may fire
    const stop = await pc.run(20_000);
    assert.deepEqual(stop, { kind: 'poweroff' }, `stopped at RIP 0x${pc.vcpu.getReg(Reg.RIP).toString(16)}`);
    assert.ok(pc.vcpu.getReg(Reg.INSTRET) > 5000n * 2n, 'the whole program ran');
    assert.ok(serial.endsWith('Z'), 'the UART still prints');
  });
}
