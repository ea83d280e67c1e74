// Paging in each mode: translations, large pages, access rights, accessed and
// dirty bits, NX, write protection and TLB invalidation, checked by small
// guest programs against page tables built here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reg, Seg, Exit, ExitField } from '../src/backend/abi.js';
import type { Vcpu } from '../src/backend/interface.js';
import { assemble } from './support/asm.js';
import { testMachine, view } from './support/machine.js';
import { enterLongMode, guest64Layout } from './support/guest64.js';

const CODE = 0x100000;
const P = 1, W = 2, U = 4, A = 0x20, D = 0x40, PS = 0x80;

function enter32(vcpu: Vcpu, cr3: number, cr4: bigint, efer = 0n): void {
  vcpu.setReg(Reg.CR3, BigInt(cr3));
  vcpu.setReg(Reg.CR4, cr4);
  vcpu.setReg(Reg.EFER, efer);
  vcpu.setReg(Reg.CR0, 0x80010011n); // PG WP ET PE
  vcpu.setSeg(Seg.CS, { selector: 8, base: 0n, limit: 0xffffffff, attr: 0xcf9b });
  for (const s of [Seg.DS, Seg.ES, Seg.SS]) vcpu.setSeg(s, { selector: 0x10, base: 0n, limit: 0xffffffff, attr: 0xcf93 });
  vcpu.setReg(Reg.RIP, BigInt(CODE));
  vcpu.setReg(Reg.RSP, 0x180000n);
  vcpu.setExceptionBitmap((1 << 6) | (1 << 14));
}

test('32-bit paging: 4 KiB and 4 MiB pages translate, and the walk sets accessed and dirty bits', async () => {
  const { machine, vcpu } = await testMachine();
  const v = view(machine);
  const pd = 0x10000, pt = 0x11000;
  v.setUint32(pd + 0 * 4, 0x000000 | P | W | PS, true);  // 0-4 MiB identity, 4 MiB page
  v.setUint32(pd + 2 * 4, pt | P | W, true);                   // 8 MiB: a page table
  v.setUint32(pt + 5 * 4, 0x300000 | P | W, true);             // 0x805000 -> 0x300000
  v.setUint32(0x300010, 0xcafe, true);
  machine.ram.set(assemble('mov eax, [0x805010]\nmov dword ptr [0x805020], 7\nud2', { origin: CODE, bits: 32 }), CODE);
  enter32(vcpu, pd, 0x10n /* PSE */);
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 6n);
  assert.equal(vcpu.getReg(Reg.RAX), 0xcafen);
  assert.equal(v.getUint32(0x300020, true), 7);
  assert.equal(v.getUint32(pt + 5 * 4, true) & (A | D), A | D, 'PTE accessed and dirty');
  assert.equal(v.getUint32(pd + 2 * 4, true) & A, A, 'PDE accessed');
  assert.equal(v.getUint32(pd, true) & A, A, 'the 4 MiB page used for code is accessed');
});

test('PAE paging: fetching from an NX page faults with the instruction-fetch error code', async () => {
  const { machine, vcpu } = await testMachine();
  const v = view(machine);
  const pdpt = 0x10000, pd = 0x11000;
  v.setBigUint64(pdpt, BigInt(pd | P), true);
  v.setBigUint64(pd, BigInt(0x000000 | P | W | PS), true);                   // 0-2 MiB executable
  v.setBigUint64(pd + 8, BigInt(0x200000 | P | W | PS) | (1n << 63n), true); // 2-4 MiB NX
  machine.ram.set(assemble('mov eax, 0x200000\njmp eax', { origin: CODE, bits: 32 }), CODE);
  enter32(vcpu, pdpt, 0x20n /* PAE */, 0x800n /* NXE */);
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 14n);
  assert.equal(vcpu.exitField(ExitField.VALUE), 0x11n, 'present + instruction fetch');
  assert.equal(vcpu.exitField(ExitField.GPA), 0x200000n, 'faulting address');
});

test('4-level paging: a 1 GiB page maps high linear addresses; CR0.WP decides supervisor writes to read-only pages', async () => {
  const { machine, vcpu } = await testMachine();
  const v = view(machine);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(CODE), rsp: 0x300000n });
  const pml4 = guest64Layout(machine.ramSize).pml4;
  const pdpt2 = 0x20000;
  // PML4[1] -> pdpt2; pdpt2[0] = 1 GiB read-only page at physical 0: linear 0x8000000000 aliases RAM.
  v.setBigUint64(pml4 + 8, BigInt(pdpt2 | P | W), true);
  v.setBigUint64(pdpt2, BigInt(0 | P | PS), true);
  v.setUint32(0x250000, 0x1234, true);
  machine.ram.set(assemble(`
    mov rbx, 0x8000250000
    mov eax, [rbx]
    mov dword ptr [rbx], 9
    ud2`, { origin: CODE }), CODE);
  vcpu.setExceptionBitmap((1 << 6) | (1 << 14));
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 14n, 'WP=1: supervisor write to a read-only page faults');
  assert.equal(vcpu.exitField(ExitField.VALUE), 3n, 'present + write');
  assert.equal(vcpu.getReg(Reg.RAX), 0x1234n, 'the read through the 1 GiB page worked');
  vcpu.setReg(Reg.CR0, vcpu.getReg(Reg.CR0) & ~0x10000n);
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 6n, 'WP=0: the write goes through');
  assert.equal(v.getUint32(0x250000, true), 9);
});

test('INVLPG and CR3 reloads make a changed page-table entry take effect', async () => {
  const { machine, vcpu } = await testMachine();
  const v = view(machine);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(CODE), rsp: 0x300000n });
  const pml4 = guest64Layout(machine.ramSize).pml4;
  const pdpt2 = 0x20000, pd2 = 0x21000, pt2 = 0x22000;
  v.setBigUint64(pml4 + 8, BigInt(pdpt2 | P | W), true);
  v.setBigUint64(pdpt2, BigInt(pd2 | P | W), true);
  v.setBigUint64(pd2, BigInt(pt2 | P | W), true);
  v.setBigUint64(pt2, BigInt(0x260000 | P | W), true);
  v.setUint32(0x260000, 1, true);
  v.setUint32(0x270000, 2, true);
  machine.ram.set(assemble(`
    mov rbx, 0x8000000000
    mov eax, [rbx]
    mov rcx, ${pt2}
    mov qword ptr [rcx], ${0x270000 | P | W}
    invlpg [rbx]
    mov edx, [rbx]
    mov qword ptr [rcx], ${0x260000 | P | W}
    mov rsi, cr3
    mov cr3, rsi
    mov esi, [rbx]
    ud2`, { origin: CODE }), CODE);
  vcpu.setExceptionBitmap(1 << 6);
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RAX), 1n);
  assert.equal(vcpu.getReg(Reg.RDX), 2n, 'after INVLPG');
  assert.equal(vcpu.getReg(Reg.RSI), 1n, 'after the CR3 reload');
});

test('user mode cannot read supervisor pages', async () => {
  const { machine, vcpu } = await testMachine();
  const v = view(machine);
  enterLongMode(machine, vcpu, { cpl: 3, rip: BigInt(CODE), rsp: 0x300000n });
  const pml4 = guest64Layout(machine.ramSize).pml4;
  v.setBigUint64(pml4 + 8, BigInt(0x20000 | P | W), true); // no U bit at the PML4 level
  v.setBigUint64(0x20000, BigInt(0 | P | W | U | PS), true);
  machine.ram.set(assemble('mov rbx, 0x8000000000\nmov eax, [rbx]\nud2', { origin: CODE }), CODE);
  vcpu.setExceptionBitmap((1 << 6) | (1 << 14));
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 14n);
  assert.equal(vcpu.exitField(ExitField.VALUE), 5n, 'present + user');
});

test('INVLPG anywhere in a 2 MiB or 1 GiB page drops the entries of the whole page', async () => {
  const { machine, vcpu } = await testMachine();
  const v = view(machine);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(CODE), rsp: 0x300000n });
  const pml4 = guest64Layout(machine.ramSize).pml4;
  const pdpt2 = 0x20000, pd2 = 0x21000;
  v.setBigUint64(pml4 + 8, BigInt(pdpt2 | P | W), true);
  v.setBigUint64(pdpt2, BigInt(pd2 | P | W), true);
  v.setBigUint64(pd2 + 8, BigInt(0x400000 | P | W | PS), true);       // 0x8000200000: 2 MiB page
  v.setBigUint64(pdpt2 + 8, BigInt(0 | P | W | PS), true);            // 0x8040000000: 1 GiB page
  v.setUint32(0x401000, 1, true);
  v.setUint32(0x601000, 2, true);
  machine.ram.set(assemble(`
    mov rbx, 0x8000200000
    mov eax, [rbx + 0x1000]
    mov qword ptr [${pd2 + 8}], ${0x600000 | P | W | PS}
    invlpg [rbx + 0x5000]
    mov edx, [rbx + 0x1000]
    mov rbx, 0x8040000000
    mov esi, [rbx + 0x401000]
    mov qword ptr [${pdpt2 + 8}], 0
    invlpg [rbx + 0x3000000]
    mov edi, [rbx + 0x401000]
    ud2`, { origin: CODE }), CODE);
  vcpu.setExceptionBitmap((1 << 6) | (1 << 14));
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RAX), 1n);
  assert.equal(vcpu.getReg(Reg.RDX), 2n, 'the 2 MiB page was re-read after INVLPG elsewhere in it');
  assert.equal(vcpu.getReg(Reg.RSI), 1n);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 14n, 'the 1 GiB page is gone after INVLPG elsewhere in it');
  assert.equal(vcpu.exitField(ExitField.GPA), 0x8040401000n);
});

test('CR3 reloads with CR4.PGE keep global entries only: a slot reused by a non-global page is flushed', async () => {
  const { machine, vcpu } = await testMachine();
  const v = view(machine);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(CODE), rsp: 0x300000n });
  vcpu.setReg(Reg.CR4, vcpu.getReg(Reg.CR4) | 0x80n); // PGE
  const G = 0x100;
  const pml4 = guest64Layout(machine.ramSize).pml4;
  const pdpt2 = 0x20000, pd2 = 0x21000, ptX = 0x22000, ptY = 0x23000;
  v.setBigUint64(pml4 + 8, BigInt(pdpt2 | P | W), true);
  v.setBigUint64(pdpt2, BigInt(pd2 | P | W), true);
  v.setBigUint64(pd2, BigInt(ptX | P | W), true);          // X = 0x8000000000
  v.setBigUint64(pd2 + 8 * 8, BigInt(ptY | P | W), true);  // Y = X + 16 MiB: the same TLB slot as X
  v.setBigUint64(ptX, BigInt(0x260000 | P | W | G), true);
  v.setBigUint64(ptY, BigInt(0x270000 | P | W), true);
  v.setUint32(0x260000, 1, true);
  v.setUint32(0x270000, 2, true);
  v.setUint32(0x280000, 3, true);
  machine.ram.set(assemble(`
    mov rbx, 0x8000000000
    mov rcx, 0x8001000000
    mov r8, cr3
    mov eax, [rbx]
    mov cr3, r8
    mov edx, [rcx]
    mov qword ptr [${ptY}], ${0x280000 | P | W}
    mov cr3, r8
    mov esi, [rcx]
    mov cr3, r8
    mov edi, [rbx]
    ud2`, { origin: CODE }), CODE);
  vcpu.setExceptionBitmap(1 << 6);
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RAX), 1n);
  assert.equal(vcpu.getReg(Reg.RDX), 2n);
  assert.equal(vcpu.getReg(Reg.RSI), 3n, 'the non-global entry was flushed');
  assert.equal(vcpu.getReg(Reg.RDI), 1n);
});
