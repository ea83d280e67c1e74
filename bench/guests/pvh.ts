// Builds a workload into a tiny PVH kernel (an ELF with the Xen PVH entry
// note) that QEMU boots with -kernel and that our CPU starts at the same
// entry: 32-bit protected mode, paging off. The stub enters long mode with
// identity-mapped 2 MiB pages over the first 1 GiB, runs the 64-bit workload
// and reports through port 0xf4 (QEMU's isa-debug-exit).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSoftwareMachine } from '../../src/backend/software.js';
import { Reg, Seg } from '../../src/backend/abi.js';
import type { PlatformBus, Vcpu } from '../../src/backend/interface.js';

export const LOAD_ADDRESS = 0x100000;
export const EXIT_PORT = 0xf4;

const stub = `
.section .note.pvh, "a"
  .align 4
  .long 4, 4, 18
  .asciz "Xen"
  .align 4
  .long pvh_entry
.text
.code32
.globl pvh_entry
pvh_entry:
  cli
  lgdt [gdtr]
  mov eax, 0x10
  mov ds, eax
  mov es, eax
  mov ss, eax
  mov esp, 0x90000
  /* PML4 at 0x1000, PDPT at 0x2000, PD at 0x3000: 1 GiB of 2 MiB pages */
  mov edi, 0x1000
  mov ecx, 3072
  xor eax, eax
  rep stosd
  mov dword ptr [0x1000], 0x2003
  mov dword ptr [0x2000], 0x3003
  mov edi, 0x3000
  mov eax, 0x83
  mov ecx, 512
1:
  mov [edi], eax
  add eax, 0x200000
  add edi, 8
  loop 1b
  mov eax, cr4
  or eax, 0x620          /* PAE, OSFXSR, OSXMMEXCPT */
  mov cr4, eax
  mov eax, 0x1000
  mov cr3, eax
  mov ecx, 0xc0000080
  rdmsr
  or eax, 0x100
  wrmsr
  mov eax, cr0
  or eax, 0x80000001
  mov cr0, eax
  ljmp 0x08, offset long_entry
.code64
long_entry:
  mov rsp, 0x800000
  call workload
  mov edx, ${EXIT_PORT}
  out dx, eax
  hlt
.align 8
gdt:
  .quad 0
  .quad 0x00af9a000000ffff
  .quad 0x00cf92000000ffff
gdtr:
  .word gdtr - gdt - 1
  .long gdt
`;

/** Assemble `workload` (64-bit Intel syntax defining label `workload`, returning a value in EAX) into a PVH ELF. */
export function buildPvhKernel(workload: string): { elf: Uint8Array; entry: number; image: Uint8Array } {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-pvh-'));
  try {
    writeFileSync(join(dir, 'k.s'), `.intel_syntax noprefix\n${stub}\n.code64\n${workload}\n`);
    writeFileSync(join(dir, 'k.ld'), `ENTRY(pvh_entry)\nSECTIONS { . = 0x${LOAD_ADDRESS.toString(16)}; .text : { *(.text) } .note : { *(.note.pvh) } .data : { *(.data) } .bss : { *(.bss) } }\n`);
    execFileSync('as', ['--64', '-o', join(dir, 'k.o'), join(dir, 'k.s')]);
    execFileSync('ld', ['-m', 'elf_x86_64', '-T', join(dir, 'k.ld'), '-o', join(dir, 'k.elf'), join(dir, 'k.o')]);
    execFileSync('objcopy', ['-O', 'binary', '-j', '.text', '-j', '.data', join(dir, 'k.elf'), join(dir, 'k.bin')]);
    const nm = execFileSync('nm', [join(dir, 'k.elf')]).toString();
    const entry = parseInt(/([0-9a-f]+) T pvh_entry/.exec(nm)![1], 16);
    return { elf: new Uint8Array(readFileSync(join(dir, 'k.elf'))), entry, image: new Uint8Array(readFileSync(join(dir, 'k.bin'))) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Our CPU with `kernel` loaded, at the PVH entry state (32-bit flat protected
 * mode, paging off); a write to EXIT_PORT stops the run and is kept as the
 * kernel's exit value.
 */
export async function pvhMachine(kernel: { image: Uint8Array; entry: number }, ramSize: number): Promise<{ vcpu: Vcpu; exitValue: () => number }> {
  let exitValue = -1;
  let vcpu!: Vcpu;
  const bus: PlatformBus = {
    ioIn: () => 0xffffffff,
    ioOut: (port, _size, value) => { if (port === EXIT_PORT) { exitValue = value; vcpu.requestStop(); } },
    mmioRead: () => 0xffffffff,
    mmioWrite: () => {},
    ackInterrupt: () => -1,
  };
  const machine = await createSoftwareMachine({ ramSize, bus });
  vcpu = machine.vcpus[0];
  machine.ram.set(kernel.image, LOAD_ADDRESS);
  machine.notifyRamWritten(LOAD_ADDRESS, kernel.image.length);
  vcpu.setReg(Reg.CR0, 0x11n);
  vcpu.setSeg(Seg.CS, { selector: 0x8, base: 0n, limit: 0xffffffff, attr: 0xcf9b });
  for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) vcpu.setSeg(s, { selector: 0x10, base: 0n, limit: 0xffffffff, attr: 0xcf93 });
  vcpu.setReg(Reg.RIP, BigInt(kernel.entry));
  return { vcpu, exitValue: () => exitValue };
}
