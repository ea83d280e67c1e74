// Puts a vCPU straight into 64-bit long mode, as Linux runs user or kernel
// code: identity-mapped guest-physical memory (2 MiB pages, user-accessible,
// writable, executable), a Linux-like GDT with a 64-bit TSS, and segment
// registers, control registers and EFER loaded directly.
//
// Everything the helper needs lives in the top pages of guest RAM:
//   PML4, PDPT, one page directory per GiB mapped, then a page with the GDT
//   (at +0) and the TSS (at +0x800). The kernel stack (TSS.RSP0) ends just
//   below these pages. No IDT is set up: tests intercept exceptions through
//   the exception bitmap (or install their own IDT).
import { Reg, Seg, type Machine, type SegmentState, type Vcpu } from '../../src/backend/interface.js';
import { PAGE_SIZE as PAGE } from '../../src/backend/abi.js';

const GIB = 1 << 30;
const TWO_MIB = 1 << 21;

const PTE_P = 0x1n, PTE_RW = 0x2n, PTE_US = 0x4n, PTE_A = 0x20n, PTE_D = 0x40n, PTE_PS = 0x80n;

const CR0_PE = 0x1n, CR0_MP = 0x2n, CR0_ET = 0x10n, CR0_NE = 0x20n, CR0_WP = 0x10000n, CR0_AM = 0x40000n, CR0_PG = 0x80000000n;
const CR4_PAE = 0x20n, CR4_OSFXSR = 0x200n, CR4_OSXMMEXCPT = 0x400n;
const EFER_SCE = 0x1n, EFER_LME = 0x100n, EFER_LMA = 0x400n, EFER_NXE = 0x800n;

/** Linux's GDT selectors. */
export const Selector = {
  KERNEL_CS: 0x10, KERNEL_DS: 0x18, USER32_CS: 0x23, USER_DS: 0x2b, USER_CS: 0x33, TSS: 0x40,
} as const;

/** Hidden-part attributes (SegField.ATTR layout: type, S, DPL, P, limit 19:16, AVL, L, D/B, G). */
const ATTR_S = 0x10, ATTR_P = 0x80, ATTR_LIMIT_HIGH = 0xf00, ATTR_L = 0x2000, ATTR_DB = 0x4000, ATTR_G = 0x8000;
const dpl = (n: number) => n << 5;
const codeAttr = (cpl: number) => 0xb | ATTR_S | dpl(cpl) | ATTR_P | ATTR_LIMIT_HIGH | ATTR_L | ATTR_G;
const dataAttr = (cpl: number) => 0x3 | ATTR_S | dpl(cpl) | ATTR_P | ATTR_LIMIT_HIGH | ATTR_DB | ATTR_G;
const code32Attr = (cpl: number) => 0xb | ATTR_S | dpl(cpl) | ATTR_P | ATTR_LIMIT_HIGH | ATTR_DB | ATTR_G;
/** 64-bit TSS, busy. */
const TSS_ATTR = 0xb | ATTR_P;
const TSS_LIMIT = 0x67;

export interface Guest64Layout {
  pml4: number;
  /** GDT base (guest-physical = linear). */
  gdt: number;
  tss: number;
  /** TSS.RSP0: top of the kernel stack, just below the helper's pages. */
  kernelStackTop: number;
}

/** Where the helper puts its tables for a given RAM size. */
export function guest64Layout(ramSize: number): Guest64Layout {
  const gibs = Math.max(4, Math.ceil(ramSize / GIB));
  const pages = gibs + 3;
  const base = Math.floor(ramSize / PAGE) * PAGE - pages * PAGE;
  const gdt = base + (pages - 1) * PAGE;
  return { pml4: base, gdt, tss: gdt + 0x800, kernelStackTop: base };
}

/** Descriptor bits 40..55 (our ATTR layout) with base and limit, as the 8-byte GDT entry. */
function descriptor(base: number, limit: number, attr: number): bigint {
  const b = BigInt(base), l = BigInt(limit);
  return (l & 0xffffn) | ((b & 0xffffffn) << 16n) | (BigInt(attr & 0xf0ff) << 40n) | (((l >> 16n) & 0xfn) << 48n) | (((b >> 24n) & 0xffn) << 56n);
}

function writeTables(machine: Machine, layout: Guest64Layout): void {
  const view = new DataView(machine.ram.buffer, machine.ram.byteOffset, machine.ram.byteLength);
  const q = (addr: number, v: bigint) => view.setBigUint64(addr, v, true);
  const gibs = (layout.gdt - layout.pml4) / PAGE - 2;
  const pdpt = layout.pml4 + PAGE;
  new Uint8Array(machine.ram.buffer, machine.ram.byteOffset + layout.pml4, (gibs + 3) * PAGE).fill(0);
  const table = PTE_P | PTE_RW | PTE_US | PTE_A;
  q(layout.pml4, BigInt(pdpt) | table);
  for (let g = 0; g < gibs; g++) {
    const pd = pdpt + PAGE * (1 + g);
    q(pdpt + 8 * g, BigInt(pd) | table);
    for (let e = 0; e < 512; e++) {
      q(pd + 8 * e, (BigInt(g) * BigInt(GIB) + BigInt(e * TWO_MIB)) | table | PTE_D | PTE_PS);
    }
  }
  // GDT in Linux's order; the TSS descriptor takes two slots.
  q(layout.gdt + Selector.KERNEL_CS, descriptor(0, 0xfffff, codeAttr(0)));
  q(layout.gdt + Selector.KERNEL_DS, descriptor(0, 0xfffff, dataAttr(0)));
  q(layout.gdt + (Selector.USER32_CS & ~3), descriptor(0, 0xfffff, code32Attr(3)));
  q(layout.gdt + (Selector.USER_DS & ~3), descriptor(0, 0xfffff, dataAttr(3)));
  q(layout.gdt + (Selector.USER_CS & ~3), descriptor(0, 0xfffff, codeAttr(3)));
  q(layout.gdt + Selector.TSS, descriptor(layout.tss, TSS_LIMIT, TSS_ATTR));
  q(layout.gdt + Selector.TSS + 8, BigInt(layout.tss) >> 32n);
  // TSS: RSP0 at +4; the I/O map base beyond the limit means "no I/O bitmap".
  q(layout.tss + 4, BigInt(layout.kernelStackTop));
  view.setUint16(layout.tss + 0x66, TSS_LIMIT + 1, true);
  machine.notifyRamWritten(layout.pml4, (gibs + 3) * PAGE);
}

function flat(selector: number, attr: number): SegmentState {
  return { selector, base: 0n, limit: 0xffffffff, attr };
}

/**
 * Enter 64-bit mode at `rip` with stack `rsp`, at CPL 3 (Linux user
 * selectors) or CPL 0 (kernel selectors). RFLAGS becomes 0x202 (IF set).
 */
export function enterLongMode(machine: Machine, vcpu: Vcpu, opts: { cpl: 0 | 3; rip: bigint; rsp: bigint }): void {
  const layout = guest64Layout(machine.ramSize);
  writeTables(machine, layout);

  vcpu.setReg(Reg.CR3, BigInt(layout.pml4));
  vcpu.setReg(Reg.CR4, CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT);
  vcpu.setReg(Reg.EFER, EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE);
  vcpu.setReg(Reg.CR0, CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG);
  vcpu.setReg(Reg.GDTR_BASE, BigInt(layout.gdt));
  vcpu.setReg(Reg.GDTR_LIMIT, BigInt(Selector.TSS + 15));
  vcpu.setReg(Reg.IDTR_BASE, 0n);
  vcpu.setReg(Reg.IDTR_LIMIT, 0n);

  const user = opts.cpl === 3;
  const cs = user ? Selector.USER_CS : Selector.KERNEL_CS;
  const ds = user ? Selector.USER_DS : Selector.KERNEL_DS;
  vcpu.setSeg(Seg.CS, flat(cs, codeAttr(opts.cpl)));
  for (const s of [Seg.SS, Seg.DS, Seg.ES, Seg.FS, Seg.GS]) vcpu.setSeg(s, flat(ds, dataAttr(opts.cpl)));
  vcpu.setSeg(Seg.TR, { selector: Selector.TSS, base: BigInt(layout.tss), limit: TSS_LIMIT, attr: TSS_ATTR });
  vcpu.setSeg(Seg.LDTR, { selector: 0, base: 0n, limit: 0, attr: 0 });

  vcpu.setReg(Reg.RIP, opts.rip);
  vcpu.setReg(Reg.RSP, opts.rsp);
  vcpu.setReg(Reg.RFLAGS, 0x202n);
}
