// Exceptions and interrupts reach the guest through its IDT with the frame,
// error code, CR2 and stack switch the architecture defines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reg, Seg, Exit, ExitField, EventType } from '../src/backend/abi.js';
import { assemble } from './support/asm.js';
import { testMachine, view } from './support/machine.js';
import { enterLongMode, guest64Layout } from './support/guest64.js';
import { installIdt } from './support/idt.js';

const CODE = 0x100000, HANDLER = 0x180000, IDT = 0x1f0000, RESULT = 0x200000;

// The #PF handler stores the error code, CR2, the saved RIP, CS and RSP, and its own RSP, then halts.
const pfHandler = `
  pop rax
  mov [${RESULT}], rax
  mov rax, cr2
  mov [${RESULT + 8}], rax
  mov rax, [rsp]
  mov [${RESULT + 16}], rax
  mov rax, [rsp + 8]
  mov [${RESULT + 24}], rax
  mov rax, [rsp + 24]
  mov [${RESULT + 32}], rax
  mov [${RESULT + 40}], rsp
  hlt
`;

test('a user-mode page fault switches to the TSS stack and reports CR2 and the error code', async () => {
  const { machine, vcpu } = await testMachine();
  machine.ram.set(assemble('mov rbx, 0x100000000000\nmov rax, [rbx]\nud2', { origin: CODE }), CODE);
  machine.ram.set(assemble(pfHandler, { origin: HANDLER }), HANDLER);
  enterLongMode(machine, vcpu, { cpl: 3, rip: BigInt(CODE), rsp: 0x300000n });
  installIdt(machine, vcpu, IDT, new Map([[14, HANDLER]]));
  assert.equal(vcpu.run(1000), Exit.HALTED);
  const v = view(machine);
  assert.equal(v.getBigUint64(RESULT, true), 4n, 'error code: user read of a not-present page');
  assert.equal(v.getBigUint64(RESULT + 8, true), 0x100000000000n, 'CR2');
  assert.equal(v.getBigUint64(RESULT + 16, true), BigInt(CODE + 10), 'RIP of the faulting MOV');
  assert.equal(v.getBigUint64(RESULT + 24, true), 0x33n, 'user CS');
  assert.equal(v.getBigUint64(RESULT + 32, true), 0x300000n, 'user RSP');
  const top = guest64Layout(machine.ramSize).kernelStackTop;
  assert.equal(v.getBigUint64(RESULT + 40, true), BigInt(top - 40), 'handler runs on TSS.RSP0 with a 5-word frame');
  assert.equal(vcpu.getReg(Reg.CPL), 0n);
});

test('INT 0x80 from user mode reaches a CPL 0 handler and IRETQ returns to user mode', async () => {
  const { machine, vcpu } = await testMachine();
  // User code: INT 0x80 -> handler at CPL 0 sets RAX and returns with IRETQ; then user writes RAX out.
  machine.ram.set(assemble(`mov eax, 1\nint 0x80\nmov [${RESULT}], rax\nmov rax, cs\nmov [${RESULT + 8}], rax\nud2`, { origin: CODE }), CODE);
  machine.ram.set(assemble('add rax, 41\niretq', { origin: HANDLER }), HANDLER);
  enterLongMode(machine, vcpu, { cpl: 3, rip: BigInt(CODE), rsp: 0x300000n });
  installIdt(machine, vcpu, IDT, new Map([[0x80, HANDLER]]));
  vcpu.setExceptionBitmap(1 << 6);
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 6n);
  assert.equal(view(machine).getBigUint64(RESULT, true), 42n);
  assert.equal(view(machine).getBigUint64(RESULT + 8, true), 0x33n);
  assert.equal(vcpu.getReg(Reg.CPL), 3n);
});

test('division by zero raises #DE with RIP at the DIV, intercepted by the exception bitmap', async () => {
  const { machine, vcpu } = await testMachine();
  machine.ram.set(assemble('xor ecx, ecx\nmov eax, 5\ndiv ecx\nud2', { origin: CODE }), CODE);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(CODE), rsp: 0x300000n });
  vcpu.setExceptionBitmap(1 << 0);
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 0n);
  assert.equal(vcpu.getReg(Reg.RIP), BigInt(CODE + 7));
  assert.equal(vcpu.getReg(Reg.RAX), 5n, 'the faulting DIV changed nothing');
});

test('a fault with no usable IDT escalates to a double fault and then a triple fault', async () => {
  const { machine, vcpu } = await testMachine();
  machine.ram.set(assemble('ud2', { origin: CODE }), CODE);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(CODE), rsp: 0x300000n });
  assert.equal(vcpu.run(1000), Exit.TRIPLE_FAULT);
});

test('an external interrupt is taken only with IF set, after the STI shadow, and acknowledged once', async () => {
  const { machine, vcpu, bus } = await testMachine();
  // cli; set counter; sti; nop; the interrupt must arrive after the NOP following STI.
  machine.ram.set(assemble(`cli\nmov ebx, 1\nsti\nmov ebx, 2\nmov ebx, 3\nud2`, { origin: CODE }), CODE);
  machine.ram.set(assemble(`mov [${RESULT}], rbx\niretq`, { origin: HANDLER }), HANDLER);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(CODE), rsp: 0x300000n });
  installIdt(machine, vcpu, IDT, new Map([[0x30, HANDLER]]));
  vcpu.setExceptionBitmap(1 << 6);
  vcpu.setReg(Reg.RFLAGS, 2n); // start with interrupts disabled
  bus.pendingVector = 0x30;
  vcpu.setInterruptLine(true);
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(view(machine).getBigUint64(RESULT, true), 2n, 'taken after the instruction following STI');
  assert.equal(vcpu.getReg(Reg.RBX), 3n);
});

test('an injected exception is delivered at the next run', async () => {
  const { machine, vcpu } = await testMachine();
  machine.ram.set(assemble('mov eax, 1\nud2', { origin: CODE }), CODE);
  machine.ram.set(assemble(`pop rax\nmov [${RESULT}], rax\nhlt`, { origin: HANDLER }), HANDLER);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(CODE), rsp: 0x300000n });
  installIdt(machine, vcpu, IDT, new Map([[13, HANDLER]]));
  vcpu.inject(EventType.HARDWARE_EXCEPTION, 13, 0x1234);
  assert.equal(vcpu.run(1000), Exit.HALTED);
  assert.equal(view(machine).getBigUint64(RESULT, true), 0x1234n);
});

test('an IST gate switches to the TSS interrupt stack even without a privilege change', async () => {
  const { machine, vcpu } = await testMachine();
  machine.ram.set(assemble('int3\nud2', { origin: CODE }), CODE);
  machine.ram.set(assemble(`mov [${RESULT}], rsp\nhlt`, { origin: HANDLER }), HANDLER);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(CODE), rsp: 0x300000n });
  const tss = guest64Layout(machine.ramSize).tss;
  view(machine).setBigUint64(tss + 0x24, 0x280000n, true); // IST1
  installIdt(machine, vcpu, IDT, new Map([[3, HANDLER]]), 1);
  assert.equal(vcpu.run(1000), Exit.HALTED);
  assert.equal(view(machine).getBigUint64(RESULT, true), 0x280000n - 40n);
});

test('real mode: INT goes through the interrupt vector table and IRET returns', async () => {
  const { machine, vcpu } = await testMachine();
  const v = view(machine);
  v.setUint16(0x21 * 4, 0x0500, true); // IVT[0x21] = 0000:0500
  v.setUint16(0x21 * 4 + 2, 0, true);
  machine.ram.set(assemble('mov ax, 0x1234\nint 0x21\nmov [0x700], ax\nhlt', { origin: 0x7c00, bits: 16 }), 0x7c00);
  machine.ram.set(assemble('add ax, 1\niret', { origin: 0x500, bits: 16 }), 0x500);
  vcpu.setSeg(Seg.CS, { selector: 0, base: 0n, limit: 0xffff, attr: 0x9b });
  vcpu.setReg(Reg.RIP, 0x7c00n);
  vcpu.setReg(Reg.RSP, 0x7000n);
  assert.equal(vcpu.run(1000), Exit.HALTED);
  assert.equal(v.getUint16(0x700, true), 0x1235);
  assert.equal(vcpu.getReg(Reg.RSP), 0x7000n);
});

test('32-bit protected mode: INT from ring 3 switches to the ring-0 stack of a 32-bit TSS', async () => {
  const { machine, vcpu } = await testMachine();
  const v = view(machine);
  const GDT = 0x10000, TSS = 0x11000, IDT32 = 0x12000;
  const desc = (base: number, limit: number, access: number, flags: number) =>
    BigInt(limit & 0xffff) | (BigInt(base & 0xffffff) << 16n) | (BigInt(access) << 40n) |
    (BigInt(((limit >> 16) & 0xf) | (flags << 4)) << 48n) | (BigInt((base >>> 24) & 0xff) << 56n);
  v.setBigUint64(GDT + 0x08, desc(0, 0xfffff, 0x9a, 0xc), true); // ring-0 code
  v.setBigUint64(GDT + 0x10, desc(0, 0xfffff, 0x92, 0xc), true); // ring-0 data
  v.setBigUint64(GDT + 0x18, desc(0, 0xfffff, 0xfa, 0xc), true); // ring-3 code
  v.setBigUint64(GDT + 0x20, desc(0, 0xfffff, 0xf2, 0xc), true); // ring-3 data
  v.setBigUint64(GDT + 0x28, desc(TSS, 0x67, 0x89, 0), true);    // 32-bit TSS
  v.setUint32(TSS + 4, 0x90000, true);  // ESP0
  v.setUint32(TSS + 8, 0x10, true);     // SS0
  // IDT[0x40]: 32-bit interrupt gate, DPL 3, to 0x08:HANDLER
  v.setBigUint64(IDT32 + 0x40 * 8, BigInt(HANDLER & 0xffff) | (0x08n << 16n) | (0xeen << 40n) | (BigInt(HANDLER >>> 16) << 48n), true);
  machine.ram.set(assemble(`mov eax, 5\nint 0x40\nmov [${RESULT}], eax\nmov [${RESULT + 4}], esp\nud2`, { origin: CODE, bits: 32 }), CODE);
  // Handler: record its ESP and the saved SS, then double EAX and return.
  machine.ram.set(assemble(`mov [${RESULT + 8}], esp\nmov ebx, [esp + 16]\nmov [${RESULT + 12}], ebx\nadd eax, eax\niretd`, { origin: HANDLER, bits: 32 }), HANDLER);
  vcpu.setReg(Reg.GDTR_BASE, BigInt(GDT)); vcpu.setReg(Reg.GDTR_LIMIT, 0x2fn);
  vcpu.setReg(Reg.IDTR_BASE, BigInt(IDT32)); vcpu.setReg(Reg.IDTR_LIMIT, 0x7ffn);
  vcpu.setReg(Reg.CR0, 0x11n);
  vcpu.setSeg(Seg.TR, { selector: 0x28, base: BigInt(TSS), limit: 0x67, attr: 0x8b });
  vcpu.setSeg(Seg.CS, { selector: 0x1b, base: 0n, limit: 0xffffffff, attr: 0xcffb });
  for (const s of [Seg.SS, Seg.DS, Seg.ES]) vcpu.setSeg(s, { selector: 0x23, base: 0n, limit: 0xffffffff, attr: 0xcff3 });
  vcpu.setReg(Reg.RIP, BigInt(CODE));
  vcpu.setReg(Reg.RSP, 0x70000n);
  vcpu.setReg(Reg.RFLAGS, 0x202n);
  vcpu.setExceptionBitmap(1 << 6);
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 6n);
  assert.equal(v.getUint32(RESULT, true), 10, 'the handler ran and IRETD returned');
  assert.equal(v.getUint32(RESULT + 4, true), 0x70000, 'user ESP restored');
  assert.equal(v.getUint32(RESULT + 8, true), 0x90000 - 20, 'handler on ESP0 with a 5-dword frame');
  assert.equal(v.getUint32(RESULT + 12, true), 0x23, 'saved user SS');
  assert.equal(vcpu.getReg(Reg.CPL), 3n);
});

test('an NMI is taken with IF clear and further NMIs wait for the handler\'s IRET', async () => {
  const { machine, vcpu } = await testMachine();
  // Main code counts in RBX with interrupts disabled; the NMI handler counts in R12 and returns.
  machine.ram.set(assemble('cli\n1: inc rbx\ncmp rbx, 1000\njne 1b\nud2', { origin: CODE }), CODE);
  machine.ram.set(assemble('inc r12\n2: cmp r13, 0\nje 2b\niretq', { origin: HANDLER }), HANDLER);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(CODE), rsp: 0x300000n });
  installIdt(machine, vcpu, IDT, new Map([[2, HANDLER]]));
  vcpu.setExceptionBitmap(1 << 6);
  assert.equal(vcpu.run(50), Exit.BUDGET);
  vcpu.sendNmi();
  assert.equal(vcpu.run(50), Exit.BUDGET, 'the handler spins until R13 is set');
  assert.equal(vcpu.getReg(Reg.R12), 1n, 'taken despite CLI');
  assert.equal(vcpu.getReg(Reg.INTERRUPTIBILITY) & 4n, 4n, 'NMIs blocked inside the handler');
  vcpu.sendNmi();
  assert.equal(vcpu.run(50), Exit.BUDGET);
  assert.equal(vcpu.getReg(Reg.R12), 1n, 'the second NMI waits');
  vcpu.setReg(Reg.R13, 1n);
  assert.equal(vcpu.run(5000), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.R12), 2n, 'delivered after IRETQ');
  assert.equal(vcpu.getReg(Reg.RBX), 1000n);
});

test('IRETQ restores the interrupted code\'s arithmetic flags, whatever the handler computed', async () => {
  const { machine, vcpu, bus } = await testMachine();
  // The main code compares 1 with 2 (CF=1, ZF=0) right before the interrupt and branches on it afterwards.
  machine.ram.set(assemble(`mov eax, 1\ncmp eax, 2\nnop\nsetb bl\nsetz cl\nud2`, { origin: CODE }), CODE);
  // The handler leaves the opposite flags (CF=0, ZF=1) from its own compare.
  machine.ram.set(assemble('push rax\nxor eax, eax\ncmp eax, 0\npop rax\niretq', { origin: HANDLER }), HANDLER);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(CODE), rsp: 0x300000n });
  installIdt(machine, vcpu, IDT, new Map([[0x30, HANDLER]]));
  vcpu.setExceptionBitmap(1 << 6);
  assert.equal(vcpu.run(2), Exit.BUDGET, 'stop right after the CMP');
  bus.pendingVector = 0x30;
  vcpu.setInterruptLine(true);
  assert.equal(vcpu.run(1), Exit.BUDGET);
  vcpu.setInterruptLine(false);
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RBX) & 0xffn, 1n, 'CF from the interrupted CMP');
  assert.equal(vcpu.getReg(Reg.RCX) & 0xffn, 0n, 'ZF from the interrupted CMP');
});
