// REP MOVS/STOS: the CPU runs them a page at a time on guest RAM when it can;
// these check that the result is still that of one element at a time
// (overlapping copies, page crossings, faults midway, writes to code).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reg, Exit, ExitField } from '../src/backend/abi.js';
import { guest64Layout } from './support/guest64.js';
import { longModeGuest } from './support/long-mode-guest.js';

const DATA = 0x200000;

const guest = (source: string) => longModeGuest(source, { exits: [6, 14] });

/** Forward MOVS of `count` elements of `width` bytes, one element at a time, on a byte array. */
function movsReference(mem: Uint8Array, dst: number, src: number, count: number, width: number): void {
  for (let i = 0; i < count; i++) {
    const element = mem.slice(src + i * width, src + (i + 1) * width);
    mem.set(element, dst + i * width);
  }
}

for (const [width, suffix] of [[1, 'b'], [2, 'w'], [4, 'd'], [8, 'q']] as const) {
  for (const delta of [-5, 1, 3, 4, 8, 13, 4096, 6000]) {
    test(`REP MOVS${suffix.toUpperCase()} with the destination ${delta} bytes from the source, across pages`, async () => {
      const src = DATA + 0xff0, dst = src + delta, count = Math.ceil(9000 / width);
      const { machine, vcpu } = await guest(`mov rsi, ${src}\nmov rdi, ${dst}\nmov rcx, ${count}\nrep movs${suffix}\nud2`);
      const pattern = Uint8Array.from({ length: 24000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
      machine.ram.set(pattern, DATA);
      const expected = machine.ram.slice(DATA, DATA + pattern.length);
      movsReference(expected, dst - DATA, src - DATA, count, width);
      assert.equal(vcpu.run(100_000), Exit.EXCEPTION);
      assert.equal(vcpu.exitField(ExitField.NUMBER), 6n);
      assert.deepEqual(machine.ram.slice(DATA, DATA + pattern.length), expected);
      assert.equal(vcpu.getReg(Reg.RSI), BigInt(src + count * width));
      assert.equal(vcpu.getReg(Reg.RDI), BigInt(dst + count * width));
      assert.equal(vcpu.getReg(Reg.RCX), 0n);
    });
  }
}

test('REP STOSQ into a page that is not present faults there, with the elements before it stored', async () => {
  const { machine, vcpu } = await guest('mov rax, 0x1122334455667788\nmov rdi, 0x3ffff0\nmov rcx, 10\nrep stosq\nud2');
  // Unmap the 2 MiB page at 4 MiB (page directory entry 2 of the first GiB).
  const pd = guest64Layout(machine.ramSize).pml4 + 2 * 0x1000;
  new DataView(machine.ram.buffer, machine.ram.byteOffset).setBigUint64(pd + 16, 0n, true);
  machine.notifyRamWritten(pd + 16, 8);
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 14n);
  assert.equal(vcpu.exitField(ExitField.GPA), 0x400000n, 'faulting address');
  assert.equal(vcpu.getReg(Reg.RDI), 0x400000n);
  assert.equal(vcpu.getReg(Reg.RCX), 8n);
  const v = new DataView(machine.ram.buffer, machine.ram.byteOffset);
  assert.equal(v.getBigUint64(0x3ffff0, true), 0x1122334455667788n);
  assert.equal(v.getBigUint64(0x3ffff8, true), 0x1122334455667788n);
});

test('REP STOSB over 1 MiB with a small instruction budget resumes where it stopped', async () => {
  const { machine, vcpu } = await guest(`mov al, 0x5a\nmov rdi, ${DATA}\nmov rcx, 0x100000\nrep stosb\nud2`);
  let exit: Exit, runs = 0;
  do { exit = vcpu.run(3); runs++; } while (exit === Exit.BUDGET);
  assert.equal(exit, Exit.EXCEPTION);
  assert.ok(runs > 2, 'the string instruction yielded to the budget');
  assert.ok(machine.ram.slice(DATA, DATA + 0x100000).every((b) => b === 0x5a));
  assert.equal(machine.ram[DATA + 0x100000], 0);
  assert.equal(vcpu.getReg(Reg.RDI), BigInt(DATA + 0x100000));
});

test('REP MOVSB over the instructions that follow it: the new code runs', async () => {
  const { vcpu } = await guest(`
    lea rsi, [rip + patch]
    lea rdi, [rip + target]
    mov ecx, 5
    rep movsb
  target:
    mov eax, 1
    ud2
  patch:
    mov eax, 2`);
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RAX), 2n);
});
