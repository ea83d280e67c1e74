// The CPU state a kernel's entry expects, set up by the loader: flat 32-bit
// protected mode with paging off (the PVH entry and the 32-bit boot
// protocol's code32_start), or 64-bit mode with the low 4 GiB identity-mapped
// (the 64-bit boot protocol). Both load a GDT holding the boot protocol's
// __BOOT_CS (0x10) and __BOOT_DS (0x18), which the kernels' first
// instructions reload before they switch to their own GDT.
import { Reg, Seg, PAGE_SIZE } from '../backend/abi.js';
import type { Machine, Vcpu } from '../backend/interface.js';

/** Guest-physical addresses of the GDT and of the page tables for 64-bit entry (PML4, PDPT, four page directories). */
export interface EntryLayout { gdt: number; pml4: number; stack: number }

const BOOT_CS = 0x10;
const BOOT_DS = 0x18;
const CODE32 = 0x00cf9a000000ffffn;
const CODE64 = 0x00af9a000000ffffn;
const DATA = 0x00cf92000000ffffn;

const flat = (selector: number, attr: number) => ({ selector, base: 0n, limit: 0xffffffff, attr });

function loadGdt(machine: Machine, vcpu: Vcpu, gdt: number, code: bigint): void {
  const v = new DataView(machine.ram.buffer, machine.ram.byteOffset, machine.ram.byteLength);
  machine.ram.fill(0, gdt, gdt + 0x20);
  v.setBigUint64(gdt + BOOT_CS, code, true);
  v.setBigUint64(gdt + BOOT_DS, DATA, true);
  vcpu.setReg(Reg.GDTR_BASE, BigInt(gdt));
  vcpu.setReg(Reg.GDTR_LIMIT, 0x1fn);
}

/** Flat 32-bit protected mode, paging and interrupts off. */
export function enterProtectedMode(machine: Machine, vcpu: Vcpu, at: EntryLayout): void {
  loadGdt(machine, vcpu, at.gdt, CODE32);
  vcpu.setReg(Reg.CR0, 0x11n);
  vcpu.setSeg(Seg.CS, flat(BOOT_CS, 0xcf9b));
  for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) vcpu.setSeg(s, flat(BOOT_DS, 0xcf93));
  vcpu.setSeg(Seg.TR, { selector: 0, base: 0n, limit: 0xffff, attr: 0x8b });
  vcpu.setReg(Reg.RSP, BigInt(at.stack));
}

/** Identity-map the first 4 GiB with 2 MiB pages and enter 64-bit mode. */
export function enterLongMode(machine: Machine, vcpu: Vcpu, at: EntryLayout): void {
  const { pml4 } = at;
  const v = new DataView(machine.ram.buffer, machine.ram.byteOffset, machine.ram.byteLength);
  machine.ram.fill(0, pml4, pml4 + 6 * PAGE_SIZE);
  v.setBigUint64(pml4, BigInt(pml4 + 0x1000) | 3n, true);
  for (let g = 0; g < 4; g++) {
    const pd = pml4 + 0x2000 + 0x1000 * g;
    v.setBigUint64(pml4 + 0x1000 + 8 * g, BigInt(pd) | 3n, true);
    for (let e = 0; e < 512; e++) v.setBigUint64(pd + 8 * e, BigInt(g * 2 ** 30 + e * 2 ** 21) | 0x83n, true);
  }
  loadGdt(machine, vcpu, at.gdt, CODE64);
  vcpu.setReg(Reg.CR3, BigInt(pml4));
  vcpu.setReg(Reg.CR4, 0x20n);
  vcpu.setReg(Reg.EFER, 0x500n);
  vcpu.setReg(Reg.CR0, 0x80000011n);
  vcpu.setSeg(Seg.CS, flat(BOOT_CS, 0xaf9b));
  for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) vcpu.setSeg(s, flat(BOOT_DS, 0xcf93));
  vcpu.setSeg(Seg.TR, { selector: 0, base: 0n, limit: 0xffff, attr: 0x8b });
  vcpu.setReg(Reg.RSP, BigInt(at.stack));
}
