// The control block: each intercept exits with its qualification, and the
// hypervisor can complete, emulate or skip the guest's instruction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reg, Exit, ExitField, Control, Access } from '../src/backend/abi.js';
import { view } from './support/machine.js';
import { guest64Layout } from './support/guest64.js';
import { longModeGuest, GUEST_CODE } from './support/long-mode-guest.js';

const CODE = GUEST_CODE, DATA = 0x200000;

const guest = (source: string, cpl: 0 | 3 = 0) => longModeGuest(source, { cpl, exits: [6] }); // the programs end in UD2

test('port I/O goes to the platform bus unless intercepted; an intercepted IN completes with the given value', async () => {
  const { vcpu, bus } = await guest('mov al, 0x41\nout 0x3f8, al\nmov dx, 0x60\nin al, dx\nmov bl, al\nin al, 0x64\nud2'.replace('out 0x3f8, al', 'mov dx, 0x3f8\nout dx, al'));
  bus.inValues.set(0x64, 0x1c);
  vcpu.setControls(Control.USE_IO_BITMAP);
  vcpu.setIoIntercept(0x60, true);
  assert.equal(vcpu.run(100), Exit.IO);
  assert.deepEqual(bus.outs, [[0x3f8, 1, 0x41]]);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 0x60n);
  assert.equal(vcpu.exitField(ExitField.SIZE), 1n);
  assert.equal(vcpu.exitField(ExitField.DIRECTION), 1n);
  assert.equal(vcpu.getReg(Reg.RAX) & 0xffn, 0x41n, 'AL untouched until the hypervisor completes the IN');
  vcpu.completeIo(0x99);
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RBX) & 0xffn, 0x99n, 'the intercepted IN got the hypervisor value');
  assert.equal(vcpu.getReg(Reg.RAX) & 0xffn, 0x1cn, 'the next IN reached the bus');
});

test('REP OUTSB exits once per byte when intercepted and finishes the string', async () => {
  const { machine, vcpu } = await guest(`mov rsi, ${DATA}\nmov ecx, 3\nmov dx, 0xe9\nrep outsb\nud2`);
  machine.ram.set([7, 8, 9], DATA);
  vcpu.setControls(Control.USE_IO_BITMAP);
  vcpu.setIoIntercept(0xe9, true);
  const seen: bigint[] = [];
  let exit: Exit;
  while ((exit = vcpu.run(100)) === Exit.IO) {
    seen.push(vcpu.exitField(ExitField.VALUE));
    vcpu.completeIo(0);
  }
  assert.equal(exit, Exit.EXCEPTION);
  assert.deepEqual(seen, [7n, 8n, 9n]);
  assert.equal(vcpu.getReg(Reg.RCX), 0n);
});

test('REP INSB exits once per byte when intercepted; each completion lands in memory and the string goes on', async () => {
  const { machine, vcpu } = await guest(`mov rdi, ${DATA}\nmov ecx, 3\nmov dx, 0xe9\nmov al, 0x77\nrep insb\nud2`);
  vcpu.setControls(Control.USE_IO_BITMAP);
  vcpu.setIoIntercept(0xe9, true);
  let exit: Exit, n = 0;
  while ((exit = vcpu.run(100)) === Exit.IO) {
    assert.equal(vcpu.exitField(ExitField.DIRECTION), 1n, 'IN');
    assert.equal(vcpu.getReg(Reg.RCX), BigInt(3 - n), 'nothing of this iteration happened before the exit');
    vcpu.completeIo(0x10 + n++);
  }
  assert.equal(exit, Exit.EXCEPTION);
  assert.deepEqual([...machine.ram.subarray(DATA, DATA + 4)], [0x10, 0x11, 0x12, 0]);
  assert.equal(vcpu.getReg(Reg.RDI), BigInt(DATA + 3));
  assert.equal(vcpu.getReg(Reg.RAX) & 0xffn, 0x77n, 'AL untouched by INS');
});

test('CPUID answers from the configurable table, or exits with CPUID exiting', async () => {
  const { vcpu } = await guest('mov eax, 0x80000001\ncpuid\nmov r8, rdx\nmov eax, 1\ncpuid\nud2');
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.ok(vcpu.getReg(Reg.R8) & (1n << 29n), 'long mode advertised');
  assert.ok(vcpu.getReg(Reg.RDX) & (1n << 26n), 'SSE2 advertised');
  const t = await guest('mov eax, 0x4000\ncpuid\nud2');
  t.vcpu.setControls(Control.CPUID_EXITING);
  assert.equal(t.vcpu.run(100), Exit.CPUID);
  assert.equal(t.vcpu.exitField(ExitField.NUMBER), 0x4000n);
  t.vcpu.setReg(Reg.RAX, 0x1234n);
  t.vcpu.skipInstruction();
  assert.equal(t.vcpu.run(100), Exit.EXCEPTION);
  assert.equal(t.vcpu.getReg(Reg.RAX), 0x1234n);
});

test('MSR bitmaps select which RDMSR/WRMSR exit; unknown MSRs raise #GP', async () => {
  const { vcpu } = await guest('mov ecx, 0xc0000082\nmov eax, 0x1000\nxor edx, edx\nwrmsr\nmov ecx, 0x6e0\nwrmsr\nmov ecx, 0x12345\nrdmsr\nud2');
  vcpu.setControls(Control.USE_MSR_BITMAP);
  vcpu.setMsrIntercept(0x6e0, false, true);
  vcpu.setExceptionBitmap((1 << 6) | (1 << 13));
  assert.equal(vcpu.run(100), Exit.MSR_WRITE);
  assert.equal(vcpu.getMsr(0xc0000082), 0x1000n, 'LSTAR was not intercepted');
  assert.equal(vcpu.exitField(ExitField.NUMBER), 0x6e0n);
  assert.equal(vcpu.exitField(ExitField.VALUE), 0x1000n);
  vcpu.skipInstruction();
  assert.equal(vcpu.run(100), Exit.MSR_READ, 'MSRs outside the bitmap ranges always exit');
  vcpu.setControls(0);
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 13n);
});

test('CR3 write exiting stops before the write; the hypervisor can allow it', async () => {
  const { vcpu } = await guest('mov rax, cr3\nmov cr3, rax\nmov ebx, 5\nud2');
  const cr3 = vcpu.getReg(Reg.CR3);
  vcpu.setControls(Control.CR3_WRITE_EXITING);
  assert.equal(vcpu.run(100), Exit.CR_WRITE);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 3n);
  assert.equal(vcpu.exitField(ExitField.VALUE), cr3);
  vcpu.completeCrWrite(3, vcpu.exitField(ExitField.VALUE));
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RBX), 5n);
});

test('VMCALL exits with its length; monitor trap exits after each instruction', async () => {
  const { vcpu } = await guest('mov eax, 7\nvmcall\nnop\nnop\nud2');
  assert.equal(vcpu.run(100), Exit.VMCALL);
  assert.equal(vcpu.exitField(ExitField.INSTR_LEN), 3n);
  vcpu.skipInstruction();
  vcpu.setControls(Control.MONITOR_TRAP_FLAG);
  const rip = vcpu.getReg(Reg.RIP);
  assert.equal(vcpu.run(100), Exit.MONITOR_TRAP);
  assert.equal(vcpu.getReg(Reg.RIP), rip + 1n);
});

test('nested page permissions: a write to a read-only page exits with its addresses and can be allowed', async () => {
  const { machine, vcpu } = await guest(`mov rax, 0x55\nmov [${DATA + 0x10}], rax\nmov rbx, [${DATA + 0x10}]\nud2`);
  vcpu.setControls(Control.NESTED_PAGING);
  machine.setNestedPerm(DATA, 1, Access.READ | Access.EXEC_SUPER | Access.EXEC_USER);
  assert.equal(vcpu.run(100), Exit.NPF);
  assert.equal(vcpu.exitField(ExitField.GPA), BigInt(DATA + 0x10));
  assert.equal(vcpu.exitField(ExitField.GVA), BigInt(DATA + 0x10));
  assert.equal(vcpu.exitField(ExitField.DIRECTION) & BigInt(Access.WRITE), BigInt(Access.WRITE));
  assert.equal(view(machine).getBigUint64(DATA + 0x10, true), 0n, 'the write did not happen');
  machine.setNestedPerm(DATA, 1, Access.ALL);
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RBX), 0x55n);
});

test('changing a page\'s nested permissions takes effect at once, even for translations the TLB holds', async () => {
  // Two writes through the same translation, with the page made read-only in between.
  const { machine, vcpu } = await guest(`mov qword ptr [${DATA}], 1\nmov eax, 0x4000\ncpuid\nmov qword ptr [${DATA + 8}], 2\nud2`);
  vcpu.setControls(Control.NESTED_PAGING | Control.CPUID_EXITING);
  assert.equal(vcpu.run(100), Exit.CPUID, 'the first write went through (and its translation is cached)');
  vcpu.skipInstruction();
  machine.setNestedPerm(DATA, 1, Access.READ | Access.EXEC_SUPER | Access.EXEC_USER);
  assert.equal(vcpu.run(100), Exit.NPF);
  assert.equal(vcpu.exitField(ExitField.GPA), BigInt(DATA + 8));
  assert.equal(view(machine).getBigUint64(DATA + 8, true), 0n, 'the second write did not happen');
});

test('taking a right away from a page-table page takes effect for translations walked through it before', async () => {
  const { machine, vcpu } = await guest(`mov qword ptr [${DATA}], 1\nmov eax, 0x4000\ncpuid\nmov qword ptr [${DATA + 8}], 2\nud2`);
  vcpu.setControls(Control.NESTED_PAGING | Control.CPUID_EXITING);
  assert.equal(vcpu.run(100), Exit.CPUID);
  vcpu.skipInstruction();
  const pml4 = guest64Layout(machine.ramSize).pml4;
  machine.setNestedPerm(pml4, 1, Access.WRITE | Access.EXEC_SUPER | Access.EXEC_USER); // no read: walks fault
  assert.equal(vcpu.run(100), Exit.NPF);
  assert.equal(vcpu.exitField(ExitField.GPA) & ~0xfffn, BigInt(pml4), 'the walk read the PML4 again');
  assert.ok(vcpu.exitField(ExitField.DIRECTION) & BigInt(Access.PAGE_WALK));
});

test('nested permissions split supervisor and user execute', async () => {
  const { machine, vcpu } = await guest('nop\nud2', 3);
  vcpu.setControls(Control.NESTED_PAGING);
  machine.setNestedPerm(CODE, 1, Access.READ | Access.WRITE | Access.EXEC_SUPER);
  assert.equal(vcpu.run(100), Exit.NPF);
  assert.equal(vcpu.exitField(ExitField.DIRECTION) & 0xfn, BigInt(Access.EXEC_USER));
  machine.setNestedPerm(CODE, 1, Access.READ | Access.WRITE | Access.EXEC_USER);
  assert.equal(vcpu.run(100), Exit.EXCEPTION, 'user-mode execution allowed once EXEC_USER is granted');
});

test('self-modifying code: a write to already-executed code takes effect', async () => {
  // The loop body's immediate is patched after the first pass.
  const { vcpu } = await guest(`
    xor ebx, ebx
    mov ecx, 2
  1:
    add ebx, 1
    lea rax, [rip + 1b]
    mov byte ptr [rax + 2], 100
    dec ecx
    jnz 1b
    ud2`);
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RBX), 101n);
});

test('a hypervisor breakpoint exits before its instruction each time it is reached, invisibly to the guest; removed, the code runs straight through', async () => {
  const program = 'xor eax, eax\nmov ecx, 5\n1: inc rax\ndec ecx\njnz 1b\nud2';
  const { machine, vcpu } = await guest(program);
  const at = CODE + 7; // the INC, after the 2-byte XOR and the 5-byte MOV
  const bytes = machine.ram.slice(CODE, CODE + 16);
  assert.equal(vcpu.run(1000), Exit.EXCEPTION, 'runs once without breakpoints (its blocks are now cached)');
  assert.equal(vcpu.getReg(Reg.RAX), 5n);

  machine.addExecBreakpoint(at);
  vcpu.setReg(Reg.RIP, BigInt(CODE));
  const seen: bigint[] = [];
  let exit: Exit;
  while ((exit = vcpu.run(1000)) === Exit.BREAKPOINT) {
    assert.equal(vcpu.getReg(Reg.RIP), BigInt(at), 'stopped at the instruction');
    assert.equal(vcpu.exitField(ExitField.GPA), BigInt(at));
    assert.equal(vcpu.exitField(ExitField.GVA), BigInt(at));
    assert.equal(vcpu.exitField(ExitField.INSTR_LEN), 3n);
    seen.push(vcpu.getReg(Reg.RAX));
  }
  assert.equal(exit, Exit.EXCEPTION);
  assert.deepEqual(seen, [0n, 1n, 2n, 3n, 4n], 'one exit per execution, before it');
  assert.equal(vcpu.getReg(Reg.RAX), 5n);
  assert.deepEqual(machine.ram.slice(CODE, CODE + 16), bytes, 'guest memory is untouched');

  machine.removeExecBreakpoint(at);
  vcpu.setReg(Reg.RIP, BigInt(CODE));
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RAX), 5n);
  assert.throws(() => machine.addExecBreakpoint(machine.ramSize), /not in guest RAM/);
});

test('a hypervisor that moves RIP away from the breakpoint it stopped at (skipping a call) stops there again on the next visit', async () => {
  // A loop calling a function five times; the hypervisor "returns" from the function at its breakpoint.
  const program = 'xor ebx, ebx\nmov ecx, 5\n1: call 2f\ndec ecx\njnz 1b\nud2\n2: inc rbx\nret';
  const { machine, vcpu } = await guest(program);
  const fn = CODE + 2 + 5 + 5 + 2 + 2 + 2; // xor, mov, call, dec, jnz, ud2
  machine.addExecBreakpoint(fn);
  let stops = 0;
  let exit: Exit;
  while ((exit = vcpu.run(1000)) === Exit.BREAKPOINT) {
    assert.equal(vcpu.getReg(Reg.RIP), BigInt(fn));
    stops++;
    const rsp = vcpu.getReg(Reg.RSP);
    const back = new DataView(machine.ram.buffer, machine.ram.byteOffset).getBigUint64(Number(rsp), true); // identity-mapped stack
    vcpu.setReg(Reg.RSP, rsp + 8n);
    vcpu.setReg(Reg.RIP, back);
  }
  assert.equal(exit, Exit.EXCEPTION);
  assert.equal(stops, 5, 'every call stopped at the breakpoint');
  assert.equal(vcpu.getReg(Reg.RBX), 0n, 'the function never ran');
});
