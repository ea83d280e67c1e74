// The kernel as found in guest memory: where its image is, its symbols and
// its types, and the address space to read kernel data through. Built once
// per guest (all of it describes the kernel image, which does not change once
// booted); everything about processes and modules is read live from these.
import type { AddressSpace, HypappContext } from 'xmhf-ts/hypapp';
import { readKernelImage, type KernelImage } from './image.js';
import { readKallsyms, KallsymsError, type KernelSymbol } from './kallsyms.js';
import { findBtf, Btf } from './btf.js';

/** Bit 12 of CR3 selects the user copy of the page tables under page-table isolation (PTI_USER_PGTABLE_BIT). */
const PTI_USER_PGD = 1n << 12n;

export interface KernelInfo {
  /** Virtual address of _text. */
  base: bigint;
  /** KASLR's shift of the image from where it was linked (0xffffffff81000000). */
  kaslrOffset: bigint;
  physBase: bigint;
  symbols: KernelSymbol[];
  btf: Btf;
  /** The kernel's own page tables (init_top_pgt): every kernel mapping, whatever runs. */
  space: AddressSpace;
  /** Milliseconds each step took: reading the image, kallsyms, BTF. */
  timings: { image: number; kallsyms: number; btf: number };
}

/** Where Linux links x86-64 kernels' text (__START_KERNEL with the default CONFIG_PHYSICAL_START). */
export const LINKED_TEXT = 0xffff_ffff_8100_0000n;

export function findKernel(x: HypappContext): KernelInfo {
  const cpu = x.cpus[0];
  if (!cpu) throw new Error('the VM has no vCPU');
  if (cpu.paging !== '4-level') throw new Error(`the guest is not running a 64-bit kernel yet (paging: ${cpu.paging})`);
  const t0 = performance.now();
  let image: KernelImage | undefined, found: ReturnType<typeof readKallsyms> | undefined, t1 = t0;
  // In user mode under page-table isolation the current tables map little of the kernel: then use their kernel copy.
  const cr3 = cpu.get('cr3');
  for (const root of [cr3, cr3 ^ PTI_USER_PGD]) {
    image = readImage(x, root);
    t1 = performance.now();
    if (!image) continue;
    try { found = readKallsyms(image.bytes); break; } catch (e) { if (!(e instanceof KallsymsError)) throw e; }
  }
  if (!image || !found) throw new Error('no Linux kernel image with kallsyms is mapped at 0xffffffff80000000 (is the guest a 64-bit Linux, and booted?)');
  const { symbols, relativeBase } = found;
  if (relativeBase !== image.base) {
    throw new Error(`kallsyms says _text is 0x${relativeBase.toString(16)} but the image is mapped from 0x${image.base.toString(16)}`);
  }
  const t2 = performance.now();
  // A copy: the image buffer (tens of MB) is dropped once the symbols are decoded.
  const btf = new Btf(findBtf(image.bytes).slice());
  const t3 = performance.now();
  const top = symbols.find((s) => s.name === 'init_top_pgt');
  if (!top) throw new Error('kallsyms has no init_top_pgt (the kernel\'s page tables)');
  const space = cpu.addressSpace(image.physBase + (top.address - image.base));
  return {
    base: image.base, kaslrOffset: image.base - LINKED_TEXT, physBase: image.physBase, symbols, btf, space,
    timings: { image: t1 - t0, kallsyms: t2 - t1, btf: t3 - t2 },
  };
}

function readImage(x: HypappContext, cr3: bigint): KernelImage | undefined {
  try { return readKernelImage(x, x.cpus[0].addressSpace(cr3)); } catch { return undefined; }
}
