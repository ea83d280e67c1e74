// Finds the running kernel's image with no help from the guest: on x86-64
// the kernel text mapping starts at __START_KERNEL_map and Linux removes every
// mapping of it below _text and past the image (cleanup_highmap), so the
// first mapped address there is _text, wherever KASLR put it.
import type { AddressSpace, HypappContext } from 'xmhf-ts/hypapp';

/** __START_KERNEL_map .. the module area: where x86-64 maps the kernel image (KERNEL_IMAGE_SIZE is 1 GiB with KASLR). */
export const KERNEL_MAP_START = 0xffff_ffff_8000_0000n;
export const KERNEL_MAP_END = 0xffff_ffff_c000_0000n;

/** A copy of the kernel image as mapped at attach time (holes, such as freed init sections, read as zeros). */
export interface KernelImage {
  /** Virtual address of _text. */
  base: bigint;
  /** Guest-physical address of _text. */
  physBase: bigint;
  bytes: Uint8Array;
}

/** Copy the mapped kernel image out of guest memory through `space` (the kernel half is the same in every address space). */
export function readKernelImage(x: HypappContext, space: AddressSpace): KernelImage {
  const pieces: Array<{ gva: bigint; gpa: bigint; size: number }> = [];
  for (const m of space.mappings(KERNEL_MAP_START, KERNEL_MAP_END)) {
    // Runs contiguous in both address spaces are copied at once (the image is mostly one run).
    const last = pieces[pieces.length - 1];
    if (last && last.gva + BigInt(last.size) === m.gva && last.gpa + BigInt(last.size) === m.gpa) last.size += m.pageSize;
    else pieces.push({ gva: m.gva, gpa: m.gpa, size: m.pageSize });
  }
  if (pieces.length === 0) throw new Error('no kernel is mapped at 0xffffffff80000000..0xffffffffc0000000 (is the guest a 64-bit Linux, and booted?)');
  const base = pieces[0].gva;
  const last = pieces[pieces.length - 1];
  const length = Number(last.gva + BigInt(last.size) - base);
  const bytes = new Uint8Array(length);
  for (const p of pieces) {
    const from = p.gva < base ? base : p.gva;
    const skip = Number(from - p.gva);
    const n = Math.min(p.size - skip, x.ramSize - Number(p.gpa) - skip);
    if (n > 0) bytes.set(x.readPhysical(p.gpa + BigInt(skip), n), Number(from - base));
  }
  return { base, physBase: pieces[0].gpa, bytes };
}
