// The whole PC on the real CPU, with small 64-bit guests: device time moves
// while the guest runs (not only between slices), the TSC-deadline timer and
// the PIT (through the PIC and LINT0) wake a halted guest, ACPI S5 powers the
// machine off, and garbage from the guest does not hurt the host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PcMachine } from '../src/platform/pc.js';
import { createSoftwareMachine } from '../src/backend/software.js';
import { directDma, type DmaPort } from '../src/platform/platform.js';
import { loadLinux } from '../src/boot/linux.js';
import { Reg, PAGE_SIZE } from '../src/backend/abi.js';
import { assemble } from './support/asm.js';
import { enterLongMode } from './support/guest64.js';
import { installIdt } from './support/idt.js';
import { vmlinux } from './support/vmlinux.js';

const CODE = 0x100000, IDT = 0x80000, STACK = 0x300000;
/** Where each test's interrupt handler goes (.org inside the program). */
const HANDLER = 0x800;

/** Power off through PM1a_CNT: SLP_TYP 5 with SLP_EN. */
const POWER_OFF = 'mov dx, 0x604\nmov ax, 0x3400\nout dx, ax\n1: hlt\njmp 1b\n';
const putc = (c: string) => `mov dx, 0x3f8\nmov al, ${c.charCodeAt(0)}\nout dx, al\n`;

async function boot(source: string, vectors: number[] = []) {
  let serial = '';
  const pc = await PcMachine.create({ ramSize: 32 << 20, backend: createSoftwareMachine, serialOutput: (b) => { serial += new TextDecoder().decode(b); } });
  pc.machine.ram.set(assemble(source, { origin: CODE }), CODE);
  pc.machine.notifyRamWritten(CODE, 0x10000);
  enterLongMode(pc.machine, pc.vcpu, { cpl: 0, rip: BigInt(CODE), rsp: BigInt(STACK) });
  installIdt(pc.machine, pc.vcpu, IDT, new Map(vectors.map((v) => [v, CODE + HANDLER])));
  const stop = await pc.run(20_000);
  return { stop, serial: () => serial, pc };
}

test('the PIT counter moves within one run of guest instructions, as TSC calibration needs', async () => {
  // Latch and read channel 0 until the count changes, for far fewer instructions than one slice.
  const { stop, serial } = await boot(`cli
mov al, 0x34\nout 0x43, al\nmov al, 0xff\nout 0x40, al\nout 0x40, al
xor al, al\nout 0x43, al\nin al, 0x40\nmov bl, al\nin al, 0x40\nmov bh, al
mov ecx, 2000
2: xor al, al\nout 0x43, al\nin al, 0x40\nmov dl, al\nin al, 0x40\nmov dh, al
cmp dx, bx\njne 3f\ndec ecx\njnz 2b
${putc('N')}${POWER_OFF}
3: ${putc('Y')}${POWER_OFF}`);
  assert.deepEqual(stop, { kind: 'poweroff' });
  assert.equal(serial(), 'Y', 'the count changed during the loop');
});

test('the TSC-deadline timer wakes a halted guest at its deadline (KVM clock leaves and LAPIC in MMIO)', async () => {
  const { stop, serial } = await boot(`cli
mov eax, 0x40000000\ncpuid\ncmp ebx, 0x4b4d564b\njne 9f
mov esi, 0xfee00000
mov dword ptr [rsi + 0xf0], 0x1ff
mov dword ptr [rsi + 0x320], 0x40040
rdtsc\nshl rdx, 32\nor rax, rdx\nlea r12, [rax + 2000000]
mov rax, r12\nmov rdx, r12\nshr rdx, 32\nmov ecx, 0x6e0\nwrmsr
sti\nhlt\ncli
rdtsc\nshl rdx, 32\nor rax, rdx\ncmp rax, r12\njb 9f
${putc('D')}${POWER_OFF}
9: ${putc('E')}${POWER_OFF}
.org ${HANDLER}
${putc('T')}mov esi, 0xfee00000\nmov dword ptr [rsi + 0xb0], 0\niretq`, [0x40]);
  assert.deepEqual(stop, { kind: 'poweroff' });
  assert.equal(serial(), 'TD', 'the interrupt came, and no earlier than the deadline');
});

test('the PIT interrupt reaches a halted guest through the PIC and LINT0 (no APIC programming)', async () => {
  const { stop, serial } = await boot(`cli
mov al, 0x11\nout 0x20, al\nmov al, 0x20\nout 0x21, al\nmov al, 4\nout 0x21, al\nmov al, 1\nout 0x21, al
mov al, 0xfe\nout 0x21, al
mov al, 0x34\nout 0x43, al\nmov al, 0xa9\nout 0x40, al\nmov al, 0x04\nout 0x40, al
sti\nhlt\ncli
${putc('D')}${POWER_OFF}
.org ${HANDLER}
${putc('P')}mov al, 0x20\nout 0x20, al\niretq`, [0x20]);
  assert.deepEqual(stop, { kind: 'poweroff' });
  assert.match(serial(), /^P+D/, 'the interrupt came, then the guest went on past its HLT');
});

test('garbage MMIO and unknown MSRs from the guest: writes are ignored, reads float, #GP for the MSR', async () => {
  const { stop, serial, pc } = await boot(`cli
mov rdi, 0xfee00000\nmov ecx, 1024
1: mov dword ptr [rdi], 0xdeadbeef\nmov eax, [rdi]\nadd rdi, 4\ndec ecx\njnz 1b
mov esi, 0xfec00000\nmov dword ptr [rsi], 0xffffffff\nmov dword ptr [rsi + 0x10], 0xffffffff\nmov eax, [rsi + 0x10]
mov rax, 0xd0000000\nmov qword ptr [rax], 0x1234\nmov rbx, [rax]\ncmp rbx, -1\njne 9f
mov rax, 0xfffff000\nmov dword ptr [rax], 1
mov ecx, 0x4b564d01\nmov eax, 0xfffff001\nmov edx, 0xffff\nwrmsr
mov ecx, 0x12345678\nrdmsr
${putc('K')}${POWER_OFF}
9: ${putc('E')}${POWER_OFF}
.org ${HANDLER}
${putc('G')}add qword ptr [rsp + 8], 2\nadd rsp, 8\niretq`, [13]);
  assert.deepEqual(stop, { kind: 'poweroff' });
  assert.equal(serial(), 'GK', 'the unknown MSR raised #GP; the machine carried on');
  assert.equal(pc.machine.ram.length, 32 << 20);
});


test('the ACPI tables sit where the kernel scans for them, and the loader passes the RSDP in PVH start_info', async () => {
  const pc = await PcMachine.create({ ramSize: 32 << 20, backend: createSoftwareMachine, serialOutput: () => {} });
  assert.ok(pc.rsdpAddr >= 0xe0000 && pc.rsdpAddr < 0x100000 && pc.rsdpAddr % 16 === 0, 'in the BIOS area, 16-byte aligned');
  assert.equal(new TextDecoder().decode(pc.machine.ram.subarray(pc.rsdpAddr, pc.rsdpAddr + 8)), 'RSD PTR ');
  loadLinux(pc.machine, pc.vcpu, { kernel: vmlinux(), cmdline: 'console=ttyS0', rsdpAddr: pc.rsdpAddr });
  const startInfo = Number(pc.vcpu.getReg(Reg.RBX));
  const v = new DataView(pc.machine.ram.buffer, pc.machine.ram.byteOffset);
  assert.equal(v.getBigUint64(startInfo + 32, true), BigInt(pc.rsdpAddr), 'hvm_start_info.rsdp_paddr');
});

test('devices reach guest RAM only through the DMA port the hypervisor hands the platform (kvmclock aimed at a refused page writes nothing)', async () => {
  const PROTECTED = 0x400000, OPEN = 0x401000;
  const register = (gpa: number) => `mov ecx, 0x4b564d01\nmov eax, ${gpa | 1}\nxor edx, edx\nwrmsr\n`;
  const refused: number[] = [];
  let bare: DmaPort | undefined;
  const dma: DmaPort = {
    read: (device, gpa, length) => bare!.read(device, gpa, length),
    write: (device, gpa, bytes) => {
      if (gpa < PROTECTED + PAGE_SIZE && gpa + bytes.length > PROTECTED) { refused.push(gpa); return false; }
      return bare!.write(device, gpa, bytes);
    },
  };
  const pc = await PcMachine.create({ ramSize: 32 << 20, backend: createSoftwareMachine, serialOutput: () => {}, hooks: { dma } });
  bare = directDma(pc.machine);
  pc.machine.ram.set(assemble(`cli\n${register(PROTECTED)}${register(OPEN)}${POWER_OFF}`, { origin: CODE }), CODE);
  pc.machine.notifyRamWritten(CODE, 0x10000);
  enterLongMode(pc.machine, pc.vcpu, { cpl: 0, rip: BigInt(CODE), rsp: BigInt(STACK) });
  assert.deepEqual(await pc.run(20_000), { kind: 'poweroff' });
  assert.deepEqual(refused, [PROTECTED], 'the device asked for the refused page once');
  assert.ok(pc.machine.ram.subarray(PROTECTED, PROTECTED + 32).every((b) => b === 0), 'the refused page is untouched');
  const open = new DataView(pc.machine.ram.buffer, pc.machine.ram.byteOffset + OPEN, 32);
  assert.equal(open.getUint32(0, true), 2, 'the open page got pvclock_vcpu_time_info (version 2)');
  assert.equal(open.getUint32(24, true), 2 ** 31, 'with the 1 GHz scale');
});
