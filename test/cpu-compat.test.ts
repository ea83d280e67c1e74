// Compatibility mode: 32-bit user code under a 64-bit kernel, as Debian's
// i386 programs run under the amd64 kernel. System calls must reach the
// kernel's 64-bit entry points intact, and 32-bit addresses wrap at 4 GiB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reg, Seg, Exit, ExitField } from '../src/backend/abi.js';
import { assemble } from './support/asm.js';
import { testMachine, view } from './support/machine.js';
import { enterLongMode, guest64Layout, Selector } from './support/guest64.js';
import { installIdt } from './support/idt.js';

const USER_CODE = 0x100000;
/** Linear 4 GiB: above anything 32-bit code can name, as a kernel's addresses are. */
const HIGH = 0x1_0000_0000;
/** Where HIGH is mapped (2 MiB pages), so a truncated RIP (0) runs other code. */
const HIGH_PHYS = 0x1000000;
const IDT = 0x80000;
const PF = 14;

/** CS attributes (SegField.ATTR) of a 32-bit ring-3 code segment: compatibility mode under EFER.LMA. */
const USER32_CS_ATTR = 0xcffb;

/** A machine in compatibility mode at CPL 3 running `user` (32-bit), with 64-bit `kernel` code mapped at HIGH. */
async function compatGuest(user: string, kernel: string) {
  const t = await testMachine();
  const { machine, vcpu } = t;
  enterLongMode(machine, vcpu, { cpl: 3, rip: BigInt(USER_CODE), rsp: 0x300000n });
  // PDPT entry 4 (linear 4..5 GiB) -> a page directory mapping HIGH to HIGH_PHYS, supervisor only.
  const layout = guest64Layout(machine.ramSize);
  const v = view(machine);
  const pd = 0x90000;
  for (let i = 0; i < 512; i++) v.setBigUint64(pd + 8 * i, 0n, true);
  v.setBigUint64(pd, BigInt(HIGH_PHYS) | 0x83n /* P RW PS */, true);
  v.setBigUint64(layout.pml4 + 0x1000 + 4 * 8, BigInt(pd) | 0x7n, true);
  machine.ram.set(assemble(user, { origin: USER_CODE, bits: 32 }), USER_CODE);
  machine.ram.set(assemble(kernel, { origin: HIGH }), HIGH_PHYS);
  machine.notifyRamWritten(0, machine.ramSize);
  vcpu.setSeg(Seg.CS, { selector: Selector.USER32_CS, base: 0n, limit: 0xffffffff, attr: USER32_CS_ATTR });
  return t;
}

test('INT 0x80 from compatibility mode enters the 64-bit handler at its full address', async () => {
  const { machine, vcpu, bus } = await compatGuest('mov eax, 1\nint 0x80\nud2', 'mov al, 0x64\nout 0xe9, al\nhlt');
  installIdt(machine, vcpu, IDT, new Map([[0x80, HIGH]]));
  vcpu.setExceptionBitmap(1 << PF);
  const exit = vcpu.run(1000);
  assert.equal(exit, Exit.HALTED, `expected the handler to halt, got ${Exit[exit]} at RIP ${vcpu.getReg(Reg.RIP).toString(16)}`);
  assert.deepEqual(bus.outs, [[0xe9, 1, 0x64]]);
  assert.equal(vcpu.getReg(Reg.RIP), BigInt(HIGH) + 5n, 'after the handler\'s HLT, at its 64-bit address');
});

test('SYSCALL from compatibility mode takes the compatibility entry (CSTAR), not LSTAR', async () => {
  const kernel = `
    mov al, 0x64
    out 0xe9, al
    hlt
  compat_entry:
    mov al, 0x32
    out 0xe9, al
    hlt`;
  const { vcpu, bus } = await compatGuest('mov eax, 1\nsyscall\nud2', kernel);
  const compatEntry = HIGH + 5; // mov al (2) + out (2) + hlt (1)
  vcpu.setMsr(0xc0000081, BigInt(Selector.KERNEL_CS) << 32n | BigInt(Selector.USER32_CS & ~3) << 48n); // STAR
  vcpu.setMsr(0xc0000082, BigInt(HIGH)); // LSTAR
  vcpu.setMsr(0xc0000083, BigInt(compatEntry)); // CSTAR
  const exit = vcpu.run(1000);
  assert.equal(exit, Exit.HALTED, `got ${Exit[exit]} at RIP ${vcpu.getReg(Reg.RIP).toString(16)}`);
  assert.deepEqual(bus.outs, [[0xe9, 1, 0x32]], 'the compatibility entry ran');
  assert.equal(vcpu.getReg(Reg.RCX), BigInt(USER_CODE + 5 + 2), 'RCX holds the 32-bit return address');
});

test('32-bit addresses wrap at 4 GiB in compatibility mode (GS base + EDX)', async () => {
  // GS base 0x201000 and EDX 0xfffffff0: the linear address is 0x200ff0, not 0x1_00200ff0.
  const { machine, vcpu } = await compatGuest('mov edx, 0xfffffff0\nmov edx, gs:[edx]\nhlt', '');
  vcpu.setSeg(Seg.GS, { ...vcpu.getSeg(Seg.GS), base: 0x201000n });
  view(machine).setUint32(0x200ff0, 0xfeedf00d, true);
  vcpu.setExceptionBitmap(1 << PF | 1 << 13);
  const exit = vcpu.run(100);
  assert.equal(exit, Exit.EXCEPTION, 'HLT at CPL 3 faults (#GP) after the load');
  assert.equal(vcpu.exitField(ExitField.NUMBER), 13n, `expected #GP from HLT, got vector ${vcpu.exitField(ExitField.NUMBER)} (address ${vcpu.exitField(ExitField.GPA).toString(16)})`);
  assert.equal(vcpu.getReg(Reg.RDX), 0xfeedf00dn);
});

test('SYSRET and IRETQ return to compatibility mode at a 32-bit RIP', async () => {
  // The kernel returns to 32-bit user code with SYSRET (non-REX.W), which then makes a system call again
  // through INT 0x80, whose handler returns with IRETQ to the 32-bit code after it.
  const user = `
    syscall
    mov al, 0x11
    out 0xe9, al
    int 0x80
    mov al, 0x22
    out 0xe9, al
    syscall`;
  const kernel = `
    cmp rcx, ${USER_CODE + 2}
    jne 1f
    .byte 0x0f, 0x07 /* SYSRET to 32-bit code (no REX.W) */
  1:
    hlt
  int80:
    iretq`;
  const { machine, vcpu, bus } = await compatGuest(user, kernel);
  vcpu.setMsr(0xc0000081, BigInt(Selector.KERNEL_CS) << 32n | BigInt(Selector.USER32_CS & ~3) << 48n);
  vcpu.setMsr(0xc0000083, BigInt(HIGH));
  installIdt(machine, vcpu, IDT, new Map([[0x80, HIGH + 12]]));
  // Let the user code do port I/O (IOPL 3).
  vcpu.setReg(Reg.RFLAGS, 0x3202n);
  vcpu.setExceptionBitmap(1 << PF | 1 << 13);
  const exit = vcpu.run(1000);
  assert.equal(exit, Exit.HALTED, `got ${Exit[exit]} (vector ${vcpu.exitField(ExitField.NUMBER)}) at RIP ${vcpu.getReg(Reg.RIP).toString(16)}`);
  assert.deepEqual(bus.outs.map(([, , v]) => v), [0x11, 0x22]);
});
