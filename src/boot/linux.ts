// Load a Linux kernel into a PC and set the vCPU up at its entry point:
// an uncompressed vmlinux (ELF64 or ELF32) through its PVH entry (32-bit
// protected mode, hvm_start_info in EBX), a 64-bit bzImage through the 64-bit
// boot protocol (long mode, identity-mapped, boot_params in RSI), or a 32-bit
// bzImage through the 32-bit boot protocol (flat protected mode at
// code32_start, paging off, boot_params in ESI).
import { Reg, PAGE_SIZE } from '../backend/abi.js';
import type { Machine, Vcpu } from '../backend/interface.js';
import { parseVmlinux, KernelFormatError } from './elf.js';
import { parseBzImage } from './bzimage.js';
import { buildBootParams } from './bootparams.js';
import { e820Map } from './e820.js';
import { writePvhStartInfo } from './pvh.js';
import { enterLongMode, enterProtectedMode, type EntryLayout } from './entry.js';

export interface LinuxImage {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  /** Guest-physical address of the platform's ACPI RSDP, handed to the kernel (PVH start_info, boot_params). */
  rsdpAddr?: number;
}

/** How the kernel was entered. */
export type BootKind = 'pvh' | 'bzimage' | 'bzimage32';

// Guest-physical layout of what the loader writes below 1 MiB.
const PVH_MODLIST = 0x5000;
const PVH_START_INFO = 0x6000;
const BOOT_PARAMS = 0x7000;
const PVH_MEMMAP = 0x8000;
/** GDT at 0x500; PML4 at 0x9000, then PDPT at 0xa000 and four page directories at 0xb000-0xefff. */
const ENTRY: EntryLayout = { gdt: 0x500, pml4: 0x9000, stack: 0x1f000 };
const CMDLINE = 0x20000;
/** x86 Linux's COMMAND_LINE_SIZE less the NUL: the most a PVH kernel copies (a bzImage states its own cmdline_size). */
const PVH_CMDLINE_MAX = 2047;
/** Where a kernel that cannot relocate itself runs its 32-bit code (boot.rst: code32_start's default). */
const CODE32_DEFAULT = 0x100000;

export class LoaderError extends Error {}

export function loadLinux(machine: Machine, vcpu: Vcpu, image: LinuxImage): BootKind {
  const { ram, ramSize } = machine;
  const isElf = image.kernel.length >= 4 && image.kernel[0] === 0x7f && image.kernel[1] === 0x45 && image.kernel[2] === 0x4c && image.kernel[3] === 0x46;
  // The limit is in bytes: a longer line is cut by the kernel (mid-character, without its NUL), and the guest may hang.
  const cmdline = new TextEncoder().encode(image.cmdline + '\0');
  const cmdlineMax = isElf ? PVH_CMDLINE_MAX : parseBzImage(image.kernel).cmdlineSize;
  if (cmdline.length - 1 > cmdlineMax) throw new LoaderError(`the kernel command line is ${cmdline.length - 1} bytes (UTF-8); this kernel takes at most ${cmdlineMax}`);
  ram.set(cmdline, CMDLINE);
  const initrd = image.initrd ? placeInitrd(machine, image.initrd, isElf ? 0xffffffff : parseBzImage(image.kernel).initrdAddrMax) : undefined;
  const memmap = e820Map(ramSize);
  let kind: BootKind;
  if (isElf) {
    const k = parseVmlinux(image.kernel);
    if (k.pvhEntry === undefined) throw new KernelFormatError('the kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): boot its bzImage instead');
    for (const s of k.segments) {
      if (s.paddr + s.memsz > ramSize) throw new LoaderError(`the kernel needs memory up to 0x${(s.paddr + s.memsz).toString(16)}, beyond the ${ramSize >> 20} MiB of guest RAM`);
      ram.set(s.data, s.paddr);
      ram.fill(0, s.paddr + s.data.length, s.paddr + s.memsz);
    }
    writePvhStartInfo(ram, PVH_START_INFO, { cmdlineAddr: CMDLINE, memmapAddr: PVH_MEMMAP, memmap, initrd, modlistAddr: PVH_MODLIST, rsdpAddr: image.rsdpAddr });
    enterProtectedMode(machine, vcpu, ENTRY);
    vcpu.setReg(Reg.RIP, BigInt(k.pvhEntry));
    vcpu.setReg(Reg.RBX, BigInt(PVH_START_INFO));
    kind = 'pvh';
  } else {
    const h = parseBzImage(image.kernel);
    // A 32-bit kernel that cannot relocate itself must start at code32_start's default; it decompresses to pref_address either way.
    const load = h.entry64 || h.relocatable ? Number(h.prefAddress) : CODE32_DEFAULT;
    const needs = Math.max(Number(h.prefAddress) + h.initSize, load + image.kernel.length - h.kernelOffset);
    if (needs > ramSize) {
      throw new LoaderError(`the kernel needs ${Math.ceil(needs / 2 ** 20)} MiB of guest RAM to decompress itself; the machine has ${ramSize >> 20} MiB`);
    }
    ram.set(image.kernel.subarray(h.kernelOffset), load);
    ram.set(buildBootParams({
      kernel: image.kernel, cmdlineAddr: CMDLINE, cmdlineSize: cmdline.length, e820: memmap, initrd, rsdpAddr: image.rsdpAddr,
      code32Start: h.entry64 ? undefined : load,
    }), BOOT_PARAMS);
    if (h.entry64) {
      enterLongMode(machine, vcpu, ENTRY);
      vcpu.setReg(Reg.RIP, BigInt(load + 0x200));
      kind = 'bzimage';
    } else {
      enterProtectedMode(machine, vcpu, ENTRY);
      vcpu.setReg(Reg.RIP, BigInt(load));
      // boot.rst: EBP, EDI and EBX must be zero.
      for (const r of [Reg.RBP, Reg.RDI, Reg.RBX]) vcpu.setReg(r, 0n);
      kind = 'bzimage32';
    }
    vcpu.setReg(Reg.RSI, BigInt(BOOT_PARAMS));
  }
  machine.notifyRamWritten(0, ramSize);
  return kind;
}

/** The initrd goes at the top of RAM (below the kernel's limit), page aligned. */
function placeInitrd(machine: Machine, initrd: Uint8Array, addrMax: number): { addr: number; size: number } {
  const top = Math.min(machine.ramSize, addrMax + 1);
  const addr = Math.floor((top - initrd.length) / PAGE_SIZE) * PAGE_SIZE;
  if (addr < 0x4000000) throw new LoaderError(`the initrd (${initrd.length >> 20} MiB) does not fit in guest RAM above the kernel; give the machine more memory`);
  machine.ram.set(initrd, addr);
  return { addr, size: initrd.length };
}
