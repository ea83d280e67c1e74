// Load a Linux kernel into a PC and set the vCPU up at its entry point:
// an uncompressed vmlinux through its PVH entry (32-bit protected mode,
// hvm_start_info in EBX), or a bzImage through the 64-bit boot protocol
// (long mode, identity-mapped, boot_params in RSI).
import { Reg, Seg } from '../backend/abi.js';
import type { Machine, Vcpu } from '../backend/interface.js';
import { parseVmlinux, KernelFormatError } from './elf.js';
import { parseBzImage } from './bzimage.js';
import { buildBootParams } from './bootparams.js';
import { e820Map } from './e820.js';
import { writePvhStartInfo } from './pvh.js';

export interface LinuxImage {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  /** Guest-physical address of the platform's ACPI RSDP, handed to the kernel (PVH start_info, boot_params). */
  rsdpAddr?: number;
}

// Guest-physical layout of what the loader writes below 1 MiB.
const GDT = 0x500;
const PVH_MODLIST = 0x5000;
const PVH_START_INFO = 0x6000;
const BOOT_PARAMS = 0x7000;
const PVH_MEMMAP = 0x8000;
const PML4 = 0x9000;        // then PDPT at 0xa000 and four page directories at 0xb000-0xefff
const CMDLINE = 0x20000;
/** x86 Linux's COMMAND_LINE_SIZE less the NUL: the most a PVH kernel copies (a bzImage states its own cmdline_size). */
const PVH_CMDLINE_MAX = 2047;
const BOOT_STACK = 0x1f000;

export class LoaderError extends Error {}

export function loadLinux(machine: Machine, vcpu: Vcpu, image: LinuxImage): 'pvh' | 'bzimage' {
  const { ram, ramSize } = machine;
  const isElf = image.kernel.length >= 4 && image.kernel[0] === 0x7f && image.kernel[1] === 0x45 && image.kernel[2] === 0x4c && image.kernel[3] === 0x46;
  // The limit is in bytes: a longer line is cut by the kernel (mid-character, without its NUL), and the guest may hang.
  const cmdline = new TextEncoder().encode(image.cmdline + '\0');
  const cmdlineMax = isElf ? PVH_CMDLINE_MAX : parseBzImage(image.kernel).cmdlineSize;
  if (cmdline.length - 1 > cmdlineMax) throw new LoaderError(`the kernel command line is ${cmdline.length - 1} bytes (UTF-8); this kernel takes at most ${cmdlineMax}`);
  ram.set(cmdline, CMDLINE);
  const initrd = image.initrd ? placeInitrd(machine, image.initrd, isElf ? 0xffffffff : parseBzImage(image.kernel).initrdAddrMax) : undefined;
  const memmap = e820Map(ramSize);
  let kind: 'pvh' | 'bzimage';
  if (isElf) {
    const k = parseVmlinux(image.kernel);
    if (k.pvhEntry === undefined) throw new KernelFormatError('the kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): boot its bzImage instead');
    for (const s of k.segments) {
      if (s.paddr + s.memsz > ramSize) throw new LoaderError(`the kernel needs memory up to 0x${(s.paddr + s.memsz).toString(16)}, beyond the ${ramSize >> 20} MiB of guest RAM`);
      ram.set(s.data, s.paddr);
      ram.fill(0, s.paddr + s.data.length, s.paddr + s.memsz);
    }
    writePvhStartInfo(ram, PVH_START_INFO, { cmdlineAddr: CMDLINE, memmapAddr: PVH_MEMMAP, memmap, initrd, modlistAddr: PVH_MODLIST, rsdpAddr: image.rsdpAddr });
    enterProtectedMode(vcpu);
    vcpu.setReg(Reg.RIP, BigInt(k.pvhEntry));
    vcpu.setReg(Reg.RBX, BigInt(PVH_START_INFO));
    kind = 'pvh';
  } else {
    const h = parseBzImage(image.kernel);
    const load = Number(h.prefAddress);
    if (load + Math.max(h.initSize, image.kernel.length - h.kernelOffset) > ramSize) {
      throw new LoaderError(`the kernel needs ${(load + h.initSize) >> 20} MiB of guest RAM to decompress itself; the machine has ${ramSize >> 20} MiB`);
    }
    ram.set(image.kernel.subarray(h.kernelOffset), load);
    ram.set(buildBootParams({ kernel: image.kernel, cmdlineAddr: CMDLINE, cmdlineSize: cmdline.length, e820: memmap, initrd, rsdpAddr: image.rsdpAddr }), BOOT_PARAMS);
    enterLongMode(machine, vcpu);
    vcpu.setReg(Reg.RIP, BigInt(load + 0x200));
    vcpu.setReg(Reg.RSI, BigInt(BOOT_PARAMS));
    kind = 'bzimage';
  }
  machine.notifyRamWritten(0, ramSize);
  return kind;
}

/** The initrd goes at the top of RAM (below the kernel's limit), page aligned. */
function placeInitrd(machine: Machine, initrd: Uint8Array, addrMax: number): { addr: number; size: number } {
  const top = Math.min(machine.ramSize, addrMax + 1);
  const addr = Math.floor((top - initrd.length) / 4096) * 4096;
  if (addr < 0x4000000) throw new LoaderError(`the initrd (${initrd.length >> 20} MiB) does not fit in guest RAM above the kernel; give the machine more memory`);
  machine.ram.set(initrd, addr);
  return { addr, size: initrd.length };
}

const flat = (selector: number, attr: number) => ({ selector, base: 0n, limit: 0xffffffff, attr });

function enterProtectedMode(vcpu: Vcpu): void {
  vcpu.setReg(Reg.CR0, 0x11n);
  vcpu.setSeg(Seg.CS, flat(0x10, 0xcf9b));
  for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) vcpu.setSeg(s, flat(0x18, 0xcf93));
  vcpu.setSeg(Seg.TR, { selector: 0, base: 0n, limit: 0xffff, attr: 0x8b });
}

/** Identity-map the first 4 GiB with 2 MiB pages, load a GDT with __BOOT_CS/__BOOT_DS, and enter 64-bit mode. */
function enterLongMode(machine: Machine, vcpu: Vcpu): void {
  const v = new DataView(machine.ram.buffer, machine.ram.byteOffset, machine.ram.byteLength);
  machine.ram.fill(0, PML4, PML4 + 6 * 4096);
  v.setBigUint64(PML4, BigInt(PML4 + 0x1000) | 3n, true);
  for (let g = 0; g < 4; g++) {
    const pd = PML4 + 0x2000 + 0x1000 * g;
    v.setBigUint64(PML4 + 0x1000 + 8 * g, BigInt(pd) | 3n, true);
    for (let e = 0; e < 512; e++) v.setBigUint64(pd + 8 * e, BigInt(g * 2 ** 30 + e * 2 ** 21) | 0x83n, true);
  }
  v.setBigUint64(GDT + 0x10, 0x00af9a000000ffffn, true);
  v.setBigUint64(GDT + 0x18, 0x00cf92000000ffffn, true);
  vcpu.setReg(Reg.GDTR_BASE, BigInt(GDT));
  vcpu.setReg(Reg.GDTR_LIMIT, 0x1fn);
  vcpu.setReg(Reg.CR3, BigInt(PML4));
  vcpu.setReg(Reg.CR4, 0x20n);
  vcpu.setReg(Reg.EFER, 0x500n);
  vcpu.setReg(Reg.CR0, 0x80000011n);
  vcpu.setSeg(Seg.CS, flat(0x10, 0xaf9b));
  for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) vcpu.setSeg(s, flat(0x18, 0xcf93));
  vcpu.setSeg(Seg.TR, { selector: 0, base: 0n, limit: 0xffff, attr: 0x8b });
  vcpu.setReg(Reg.RSP, BigInt(BOOT_STACK));
}
