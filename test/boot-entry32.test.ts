// 32-bit kernels: the loader enters a 32-bit bzImage at code32_start (the
// 32-bit boot protocol) and an ELF32 vmlinux at its PVH entry, and the
// kernel's first instructions, run on our CPU, find what the protocols
// promise: flat protected mode with paging and interrupts off, __BOOT_DS
// loadable from the GDT, boot_params in ESI (start_info in EBX).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exit, Reg } from '../src/backend/abi.js';
import { loadLinux } from '../src/boot/linux.js';
import { parseBzImage } from '../src/boot/bzimage.js';
import { parseVmlinux } from '../src/boot/elf.js';
import { HVM_START_MAGIC } from '../src/boot/pvh.js';
import { assemble } from './support/asm.js';
import { testMachine, view } from './support/machine.js';

const LOAD = 0x1000000;
const SETUP_SECTS = 4;

/**
 * What a kernel's first instructions check: reload the data segments with
 * __BOOT_DS (0x18; a missing GDT faults here), then gather CR0, EFLAGS and
 * the dword at [ESI + esiOffset] (or [EBX + ...]) into registers and halt.
 */
function probe(pointer: 'esi' | 'ebx', offset: number): Uint8Array {
  return assemble(`mov eax, 0x18
mov ds, eax
mov es, eax
mov ss, eax
mov ecx, cr0
pushfd
pop edx
mov eax, [${pointer} + ${offset}]
hlt`, { bits: 32, origin: LOAD });
}

/** A 32-bit-only bzImage (no XLF_KERNEL_64) whose protected-mode part is `code`. */
function bzImage32(code: Uint8Array): Uint8Array {
  const kernelOffset = (SETUP_SECTS + 1) * 512;
  const f = new Uint8Array(kernelOffset + 0x1000);
  const v = new DataView(f.buffer);
  f[0x1f1] = SETUP_SECTS;
  v.setUint16(0x1fe, 0xaa55, true);
  f[0x201] = 0x66;                                // jump displacement: header ends at 0x268
  v.setUint32(0x202, 0x53726448, true);
  v.setUint16(0x206, 0x20f, true);
  f[0x211] = 1;                                   // LOADED_HIGH
  v.setUint32(0x214, 0x100000, true);             // code32_start as built
  v.setUint32(0x22c, 0x7fffffff, true);
  v.setUint32(0x230, 0x1000000, true);            // kernel_alignment
  f[0x234] = 1;                                   // relocatable
  v.setUint16(0x236, 0x4, true);                  // XLF_EFI_HANDOVER_32 only, as Debian's 686 kernels
  v.setUint32(0x238, 2047, true);
  v.setUint32(0x248, 0x800, true);                // payload_offset
  v.setUint32(0x24c, 0x100, true);                // payload_length
  v.setBigUint64(0x258, BigInt(LOAD), true);      // pref_address
  v.setUint32(0x260, 0x400000, true);             // init_size
  f.set(code, kernelOffset);
  f.set([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], kernelOffset + 0x800);
  return f;
}

/** A minimal ELF32 i386 vmlinux: one PT_LOAD of `code` at 16 MiB and a Xen PVH entry note pointing at it. */
function vmlinux32(code: Uint8Array, machine = 3): Uint8Array {
  const f = new Uint8Array(0x200 + code.length);
  const v = new DataView(f.buffer);
  v.setUint32(0, 0x7f454c46, false);
  f[4] = 1; f[5] = 1; f[6] = 1;                   // ELFCLASS32, little-endian, version 1
  v.setUint16(16, 2, true);                       // ET_EXEC
  v.setUint16(18, machine, true);
  v.setUint32(24, 0xc1000000, true);              // e_entry: a virtual address
  v.setUint32(28, 52, true);                      // e_phoff
  v.setUint16(42, 32, true);                      // e_phentsize
  v.setUint16(44, 2, true);                       // e_phnum
  // PT_LOAD: file 0x200.. -> paddr 16 MiB, 0x1000 bytes in memory
  v.setUint32(52, 1, true); v.setUint32(56, 0x200, true); v.setUint32(60, 0xc1000000, true); v.setUint32(64, LOAD, true);
  v.setUint32(68, code.length, true); v.setUint32(72, 0x1000, true);
  // PT_NOTE at 0x100: "Xen" note, type 18 (XEN_ELFNOTE_PHYS32_ENTRY)
  v.setUint32(84, 4, true); v.setUint32(88, 0x100, true); v.setUint32(100, 20, true);
  v.setUint32(0x100, 4, true); v.setUint32(0x104, 4, true); v.setUint32(0x108, 18, true);
  f.set([0x58, 0x65, 0x6e, 0], 0x10c);
  v.setUint32(0x110, LOAD, true);
  f.set(code, 0x200);
  return f;
}

test('a 32-bit bzImage is entered at code32_start in flat protected mode, paging and interrupts off, boot_params in ESI', async () => {
  const kernel = bzImage32(probe('esi', 0x214));
  assert.equal(parseBzImage(kernel).entry64, false);
  const { machine, vcpu } = await testMachine(64 << 20);
  assert.equal(loadLinux(machine, vcpu, { kernel, cmdline: 'console=ttyS0 root=/dev/ram0' }), 'bzimage32');
  for (const r of [Reg.RBP, Reg.RDI, Reg.RBX]) assert.equal(vcpu.getReg(r), 0n, 'boot.rst: EBP, EDI and EBX are zero');
  const exit = vcpu.run(1000);
  assert.equal(exit, Exit.HALTED, `the kernel's first instructions ran to their HLT (exit ${Exit[exit]} at 0x${vcpu.getReg(Reg.RIP).toString(16)})`);
  assert.equal(vcpu.getReg(Reg.RAX), BigInt(LOAD), 'boot_params.hdr.code32_start says where the kernel was loaded');
  assert.equal(vcpu.getReg(Reg.RCX) & 0x80000001n, 1n, 'CR0: protected mode, paging off');
  assert.equal(vcpu.getReg(Reg.RDX) & 0x200n, 0n, 'interrupts off');
  const bootParams = Number(vcpu.getReg(Reg.RSI));
  const v = view(machine);
  assert.equal(v.getUint32(bootParams + 0x202, true), 0x53726448, 'ESI points at boot_params with the setup header');
  const cmdline = v.getUint32(bootParams + 0x228, true);
  assert.equal(new TextDecoder().decode(machine.ram.subarray(cmdline, cmdline + 28)), 'console=ttyS0 root=/dev/ram0');
  assert.equal(machine.ram[bootParams + 0x1e8] > 0, true, 'with an e820 map');
});

test('an ELF32 i386 vmlinux is entered at its PVH entry with hvm_start_info in EBX', async () => {
  const kernel = vmlinux32(probe('ebx', 0));
  const k = parseVmlinux(kernel);
  assert.equal(k.entry, 0xc1000000n);
  assert.equal(k.pvhEntry, LOAD);
  assert.deepEqual(k.segments.map((s) => [s.paddr, s.memsz]), [[LOAD, 0x1000]]);
  const { machine, vcpu } = await testMachine(64 << 20);
  assert.equal(loadLinux(machine, vcpu, { kernel, cmdline: 'console=ttyS0' }), 'pvh');
  const exit = vcpu.run(1000);
  assert.equal(exit, Exit.HALTED, `the kernel's first instructions ran to their HLT (exit ${Exit[exit]} at 0x${vcpu.getReg(Reg.RIP).toString(16)})`);
  assert.equal(vcpu.getReg(Reg.RAX), BigInt(HVM_START_MAGIC), 'EBX points at hvm_start_info');
  assert.equal(vcpu.getReg(Reg.RCX) & 0x80000001n, 1n, 'CR0: protected mode, paging off');
});

test('an ELF32 kernel for another machine, or a 32-bit bzImage too old to say where it decompresses, is refused with the reason', () => {
  assert.throws(() => parseVmlinux(vmlinux32(new Uint8Array(4), 40)), /machine 40 is not i386 \(3\)/);
  const old = bzImage32(new Uint8Array(4));
  new DataView(old.buffer).setUint16(0x206, 0x209, true);
  assert.throws(() => parseBzImage(old), /boot protocol 2\.9 is too old/);
});
