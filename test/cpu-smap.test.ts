// SMEP, SMAP and UMIP, from guest programs: the kernel turns them on with its
// own CR4 write, as Linux does when CPUID advertises them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reg, Seg, Exit, ExitField } from '../src/backend/abi.js';
import { longModeGuest, GUEST_CODE } from './support/long-mode-guest.js';
import { guest64Layout } from './support/guest64.js';
import { view } from './support/machine.js';
import { installIdt } from './support/idt.js';
import type { Machine } from '../src/backend/interface.js';

const UD = 6, GP = 13, PF = 14;
const TWO_MIB = 0x200000;
/** A user page (2 MiB page 1); the code (page 0) and the helper's tables (the last one) are made supervisor-only. */
const USER_PAGE = TWO_MIB;
const KERNEL_STACK = 0x1f0000n;
const PTE_US = 0x4n;

/** Clear the user bit of the 2 MiB pages holding the test's code and the helper's GDT, TSS and page tables. */
function supervisorOnly(machine: Machine): void {
  const pd = guest64Layout(machine.ramSize).pml4 + 0x2000;
  const v = view(machine);
  for (const page of [0, Math.floor((machine.ramSize - 1) / TWO_MIB)]) {
    v.setBigUint64(pd + 8 * page, v.getBigUint64(pd + 8 * page, true) & ~PTE_US, true);
  }
}

async function kernelGuest(source: string) {
  const t = await longModeGuest(source, { exits: [UD, GP, PF] });
  supervisorOnly(t.machine);
  t.vcpu.setReg(Reg.RSP, KERNEL_STACK);
  return t;
}

function exception(vcpu: { exitField(f: ExitField): bigint; getReg(r: Reg): bigint }, exit: Exit) {
  assert.equal(exit, Exit.EXCEPTION, `expected an exception exit, got ${Exit[exit]} at RIP ${vcpu.getReg(Reg.RIP).toString(16)}`);
  return {
    vector: Number(vcpu.exitField(ExitField.NUMBER)),
    error: Number(vcpu.exitField(ExitField.VALUE)),
    address: vcpu.exitField(ExitField.GPA),
    rip: vcpu.getReg(Reg.RIP),
  };
}

const SET_CR4 = (bits: number) => `mov rax, cr4\nor rax, ${bits}\nmov cr4, rax\n`;
const CR4_UMIP = 1 << 11, CR4_SMEP = 1 << 20, CR4_SMAP = 1 << 21;

test('CPUID leaf 7 subleaf 0 advertises SMEP, SMAP and UMIP; subleaf 1 is empty', async () => {
  const { vcpu } = await longModeGuest('hlt', { exits: [] });
  const l7 = vcpu.cpuid(7, 0);
  assert.equal((l7.ebx >>> 7) & 1, 1, 'SMEP');
  assert.equal((l7.ebx >>> 20) & 1, 1, 'SMAP');
  assert.equal((l7.ecx >>> 2) & 1, 1, 'UMIP');
  assert.deepEqual({ ...vcpu.cpuid(7, 1), leaf: 0, subleaf: 0 }, { leaf: 0, subleaf: 0, eax: 0, ebx: 0, ecx: 0, edx: 0 });
});

test('SMEP: the kernel sets CR4.SMEP, then fetching from a user page is #PF (P, I/D)', async () => {
  const { machine, vcpu } = await kernelGuest(`${SET_CR4(CR4_SMEP)}mov rbx, ${USER_PAGE}\njmp rbx`);
  machine.ram.set([0xf4], USER_PAGE); // HLT, which would run without SMEP
  const e = exception(vcpu, vcpu.run(100));
  assert.equal(e.vector, PF);
  assert.equal(e.error, 0x11);
  assert.equal(e.address, BigInt(USER_PAGE));
  assert.equal(vcpu.getReg(Reg.CR4) & BigInt(CR4_SMEP), BigInt(CR4_SMEP));
});

test('SMAP: supervisor data accesses to user pages fault unless STAC set EFLAGS.AC; CLAC restores the check', async () => {
  const program = `${SET_CR4(CR4_SMEP | CR4_SMAP)}
    mov rdx, ${USER_PAGE}
    stac
    mov rbx, [rdx]
    mov qword ptr [rdx + 8], 5
    clac
    mov rcx, [rdx]
    hlt`;
  const { machine, vcpu } = await kernelGuest(program);
  view(machine).setBigUint64(USER_PAGE, 0x1234n, true);
  const e = exception(vcpu, vcpu.run(100));
  assert.deepEqual([e.vector, e.error, e.address], [PF, 0x1, BigInt(USER_PAGE)], 'a read after CLAC: #PF, present, supervisor');
  assert.equal(vcpu.getReg(Reg.RBX), 0x1234n, 'the read with AC set worked');
  assert.equal(view(machine).getBigUint64(USER_PAGE + 8, true), 5n, 'the write with AC set worked');
  assert.equal(vcpu.getReg(Reg.RFLAGS) & 0x40000n, 0n, 'CLAC cleared AC');
  // The same write without STAC: #PF with W set.
  const w = await kernelGuest(`${SET_CR4(CR4_SMAP)}mov qword ptr [${USER_PAGE}], 5\nhlt`);
  const we = exception(w.vcpu, w.vcpu.run(100));
  assert.deepEqual([we.vector, we.error], [PF, 0x3]);
  assert.equal(view(w.machine).getBigUint64(USER_PAGE, true), 0n);
});

test('SMAP: implicit supervisor accesses (a GDT on a user page) fault even with EFLAGS.AC set', async () => {
  const program = `${SET_CR4(CR4_SMAP)}
    stac
    lgdt [rip + gdtr]
    mov ax, 0x18
    mov ds, ax
    hlt
  gdtr:
    .word 0x4f
    .quad ${USER_PAGE + 0x100}`;
  const { machine, vcpu } = await kernelGuest(program);
  const gdt = guest64Layout(machine.ramSize).gdt;
  machine.ram.copyWithin(USER_PAGE + 0x100, gdt, gdt + 0x50);
  const e = exception(vcpu, vcpu.run(100));
  assert.deepEqual([e.vector, e.error, e.address], [PF, 0x1, BigInt(USER_PAGE + 0x100 + 0x18)]);
});

test('STAC and CLAC are #UD at CPL 3', async () => {
  for (const insn of ['stac', 'clac']) {
    const { vcpu } = await longModeGuest(`${insn}\nhlt`, { cpl: 3, exits: [UD, GP] });
    const e = exception(vcpu, vcpu.run(10));
    assert.equal(e.vector, UD, insn);
    assert.equal(e.rip, BigInt(GUEST_CODE));
  }
});

test('UMIP: SGDT, SIDT, SLDT, SMSW and STR are #GP(0) at CPL 3 with CR4.UMIP, and work without it', async () => {
  for (const insn of ['sgdt [rsp - 16]', 'sidt [rsp - 16]', 'sldt ax', 'sldt [rsp - 16]', 'smsw eax', 'smsw [rsp - 16]', 'str eax']) {
    for (const umip of [true, false]) {
      const { vcpu } = await longModeGuest(`${insn}\nud2`, { cpl: 3, exits: [UD, GP, PF] });
      if (umip) vcpu.setReg(Reg.CR4, vcpu.getReg(Reg.CR4) | BigInt(CR4_UMIP));
      const e = exception(vcpu, vcpu.run(10));
      assert.deepEqual([e.vector, e.error, e.rip], umip ? [GP, 0, BigInt(GUEST_CODE)] : [UD, e.error, e.rip], `${insn} with UMIP ${umip}`);
      if (!umip) assert.notEqual(e.rip, BigInt(GUEST_CODE), `${insn} retired without UMIP`);
    }
  }
});

test('UMIP does not apply at CPL 0', async () => {
  const { vcpu } = await kernelGuest(`${SET_CR4(CR4_UMIP)}sgdt [rsp - 16]\nstr eax\nud2`);
  const e = exception(vcpu, vcpu.run(10));
  assert.equal(e.vector, UD);
  assert.equal(vcpu.getReg(Reg.RAX) & 0xffffn, BigInt(vcpu.getSeg(Seg.TR).selector));
});

test('an intercepted CR4 write the hypervisor completes with a reserved bit raises #GP in the guest', async () => {
  // The #GP handler at +0x100 pops the error code and the faulting RIP.
  const { machine, vcpu } = await kernelGuest(`mov rax, cr4\nbts rax, 15\nmov cr4, rax\nhlt\n.org 0x100\npop rbx\npop rcx\nhlt`);
  installIdt(machine, vcpu, 0x180000, new Map([[GP, GUEST_CODE + 0x100]]));
  vcpu.setControls(16 /* CR4_WRITE_EXITING */);
  assert.equal(vcpu.run(100), Exit.CR_WRITE);
  const at = vcpu.getReg(Reg.RIP);
  vcpu.completeCrWrite(4, vcpu.exitField(ExitField.VALUE));
  assert.equal(vcpu.run(100), Exit.HALTED);
  assert.equal(vcpu.getReg(Reg.RBX), 0n, 'error code 0');
  assert.equal(vcpu.getReg(Reg.RCX), at, 'the MOV to CR4 faulted, not retired');
  assert.equal(vcpu.getReg(Reg.CR4) & (1n << 15n), 0n);
});
