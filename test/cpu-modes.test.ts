// The CPU boots like a PC: from real mode through protected mode into long
// mode, as a boot loader does, and runs code in each mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reg, Seg, Exit, ExitField } from '../src/backend/abi.js';
import { assemble } from './support/asm.js';
import { testMachine, view } from './support/machine.js';

const BOOT = 0x7c00;

// Real mode at 0:7c00 -> 32-bit protected mode -> PAE paging + EFER.LME -> 64-bit mode.
// Each stage reports on port 0xe9; the 64-bit stage adds 64-bit numbers and halts.
const bootProgram = `
.code16
start:
  cli
  xor ax, ax
  mov ds, ax
  mov ss, ax
  mov sp, 0x7000
  mov al, 16
  out 0xe9, al
  lgdt [gdtr]
  mov eax, cr0
  or eax, 1
  mov cr0, eax
  ljmp 0x08, offset pm32
.code32
pm32:
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov esp, 0x90000
  mov al, 32
  out 0xe9, al
  /* page tables at 0x10000: PML4 -> PDPT -> PD with 2 MiB pages for the first 8 MiB */
  mov edi, 0x10000
  mov ecx, 3072
  xor eax, eax
  rep stosd
  mov dword ptr [0x10000], 0x11003
  mov dword ptr [0x11000], 0x12003
  mov dword ptr [0x12000], 0x000083
  mov dword ptr [0x12008], 0x200083
  mov dword ptr [0x12010], 0x400083
  mov dword ptr [0x12018], 0x600083
  mov eax, cr4
  or eax, 0x20
  mov cr4, eax
  mov eax, 0x10000
  mov cr3, eax
  mov ecx, 0xc0000080
  rdmsr
  or eax, 0x100
  wrmsr
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  ljmp 0x18, offset lm64
.code64
lm64:
  mov al, 64
  out 0xe9, al
  mov rax, 0x123456789
  mov rbx, 0x100000000
  add rax, rbx
  mov [0x500000], rax
  hlt
.align 8
gdt:
  .quad 0
  .quad 0x00cf9a000000ffff
  .quad 0x00cf92000000ffff
  .quad 0x00af9a000000ffff
gdtr:
  .word gdtr - gdt - 1
  .long gdt
`;

test('boots from real mode through protected mode into long mode', async () => {
  const { machine, vcpu, bus } = await testMachine();
  machine.ram.set(assemble(bootProgram, { origin: BOOT, bits: 16 }), BOOT);
  vcpu.setSeg(Seg.CS, { selector: 0, base: 0n, limit: 0xffff, attr: 0x9b });
  vcpu.setReg(Reg.RIP, BigInt(BOOT));
  const exit = vcpu.run(1_000_000);
  assert.equal(exit, Exit.HALTED, `expected the guest to halt, got ${Exit[exit]} at RIP ${vcpu.getReg(Reg.RIP).toString(16)}`);
  assert.deepEqual(bus.outs.map(([port, , v]) => [port, v]), [[0xe9, 16], [0xe9, 32], [0xe9, 64]]);
  assert.equal(view(machine).getBigUint64(0x500000, true), 0x223456789n);
  assert.equal(vcpu.getReg(Reg.EFER) & 0x500n, 0x500n, 'EFER.LME and LMA are set');
  assert.equal(vcpu.getSeg(Seg.CS).selector, 0x18);
});

test('HLT with HLT exiting exits with RIP on the HLT; skipping it continues', async () => {
  const { machine, vcpu } = await testMachine();
  machine.ram.set(assemble('hlt\nmov ax, 7\nhlt', { origin: BOOT, bits: 16 }), BOOT);
  vcpu.setSeg(Seg.CS, { selector: 0, base: 0n, limit: 0xffff, attr: 0x9b });
  vcpu.setReg(Reg.RIP, BigInt(BOOT));
  vcpu.setControls(2 /* HLT_EXITING */);
  assert.equal(vcpu.run(100), Exit.HLT);
  assert.equal(vcpu.getReg(Reg.RIP), BigInt(BOOT));
  vcpu.skipInstruction();
  assert.equal(vcpu.run(100), Exit.HLT);
  assert.equal(vcpu.getReg(Reg.RAX) & 0xffffn, 7n);
});

test('INIT resets the vCPU to wait for SIPI; SIPI starts it in real mode at the vector page', async () => {
  const { machine, vcpu, bus } = await testMachine();
  machine.ram.set(assemble('mov ax, cs\nout 0xe9, al\nhlt', { origin: 0, bits: 16 }), 0x9a000);
  machine.ram.set(assemble('jmp .', { origin: BOOT, bits: 16 }), BOOT);
  vcpu.setSeg(Seg.CS, { selector: 0, base: 0n, limit: 0xffff, attr: 0x9b });
  vcpu.setReg(Reg.RIP, BigInt(BOOT));
  assert.equal(vcpu.run(100), Exit.BUDGET);
  vcpu.sendInit();
  assert.equal(vcpu.run(100), Exit.INIT);
  assert.equal(vcpu.run(100), Exit.HALTED, 'waits for SIPI');
  vcpu.sendSipi(0x9a);
  assert.equal(vcpu.run(100), Exit.SIPI);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 0x9an);
  assert.equal(vcpu.run(100), Exit.HALTED);
  assert.deepEqual(bus.outs, [[0xe9, 1, 0x00]], 'CS = 0x9a00 at the SIPI vector');
});

test('two vCPUs share guest memory and keep their own registers', async () => {
  const { createSoftwareMachine } = await import('../src/backend/software.js');
  const { testBus } = await import('./support/machine.js');
  const machine = await createSoftwareMachine({ ramSize: 16 << 20, bus: testBus(), vcpus: 2 });
  const [bsp, ap] = machine.vcpus;
  // BSP: writes a flag, then spins until the AP answers.
  machine.ram.set(assemble('mov byte ptr [0x600], 1\n1: cmp byte ptr [0x601], 0\nje 1b\nmov bx, 0x55\nhlt', { origin: BOOT, bits: 16 }), BOOT);
  // AP (started at 0x9a000): waits for the flag, answers, halts.
  machine.ram.set(assemble('xor ax, ax\nmov ds, ax\n1: cmp byte ptr [0x600], 1\njne 1b\nmov byte ptr [0x601], 2\nmov bx, 0x77\nhlt', { origin: 0, bits: 16 }), 0x9a000);
  bsp.setSeg(Seg.CS, { selector: 0, base: 0n, limit: 0xffff, attr: 0x9b });
  bsp.setReg(Reg.RIP, BigInt(BOOT));
  assert.equal(ap.run(100), Exit.HALTED, 'an AP waits for SIPI');
  ap.sendSipi(0x9a);
  assert.equal(ap.run(100), Exit.SIPI);
  // Round-robin time slices, as the core will schedule them.
  const done = new Set<number>();
  for (let slice = 0; slice < 100 && done.size < 2; slice++) {
    for (const v of [bsp, ap]) if (!done.has(v.index) && v.run(50) === Exit.HALTED) done.add(v.index);
  }
  assert.equal(done.size, 2);
  assert.equal(bsp.getReg(Reg.RBX) & 0xffffn, 0x55n);
  assert.equal(ap.getReg(Reg.RBX) & 0xffffn, 0x77n);
  assert.equal(ap.getSeg(Seg.CS).selector, 0x9a00);
});
