// An uncompressed kernel (vmlinux) as an ELF file (ELF64 for x86-64 kernels,
// ELF32 for i386 ones): its loadable segments and the PVH entry point from its
// Xen ELF note (XEN_ELFNOTE_PHYS32_ENTRY), the 32-bit protected-mode entry
// used by PVH boot.

export interface ElfSegment {
  /** Guest-physical load address (p_paddr). */
  paddr: number;
  /** Bytes taken from the file. */
  data: Uint8Array;
  /** Size in memory; bytes past data.length are zero (bss). */
  memsz: number;
}

export interface VmlinuxImage {
  segments: ElfSegment[];
  /** e_entry, the kernel's own entry (a virtual address for vmlinux). */
  entry: bigint;
  /** Physical PVH entry point, if the kernel has one. */
  pvhEntry?: number;
}

const PT_LOAD = 1;
const PT_NOTE = 4;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

export class KernelFormatError extends Error {}

const ELFCLASS32 = 1;
const ELFCLASS64 = 2;
const EM_386 = 3;
const EM_X86_64 = 62;

/** Where the fields this loader reads sit in the ELF header and a program header, by class. */
const LAYOUT = {
  [ELFCLASS32]: { bits: 32, machine: EM_386, machineName: 'i386', phoff: 28, phentsize: 42, phnum: 44, minPhentsize: 32, pOffset: 4, pPaddr: 12, pFilesz: 16, pMemsz: 20 },
  [ELFCLASS64]: { bits: 64, machine: EM_X86_64, machineName: 'x86-64', phoff: 32, phentsize: 54, phnum: 56, minPhentsize: 56, pOffset: 8, pPaddr: 24, pFilesz: 32, pMemsz: 40 },
} as const;

/**
 * Parse `file` as an x86 ELF kernel, with checks that name what is wrong:
 * ELF64 x86-64 (a 64-bit vmlinux) or ELF32 i386 (a 32-bit one).
 */
export function parseVmlinux(file: Uint8Array, what = 'the kernel'): VmlinuxImage {
  const fail = (why: string): never => { throw new KernelFormatError(`${what} is not a usable x86 ELF kernel: ${why}`); };
  if (file.length < 52) fail(`only ${file.length} bytes`);
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (v.getUint32(0, false) !== 0x7f454c46) fail('no ELF magic');
  const cls = file[4];
  if (cls !== ELFCLASS32 && cls !== ELFCLASS64) fail(`ELF class ${cls} is neither 32-bit nor 64-bit`);
  const l = LAYOUT[cls as 1 | 2];
  if (file.length < (l.bits === 64 ? 64 : 52)) fail(`only ${file.length} bytes`);
  if (file[5] !== 1) fail('not little-endian');
  if (v.getUint16(18, true) !== l.machine) fail(`machine ${v.getUint16(18, true)} is not ${l.machineName} (${l.machine}), as a ${l.bits}-bit ELF must be`);
  // Offsets and sizes fit in 32 bits in any image this loader can place below 4 GiB.
  const word = (o: number) => (l.bits === 64 ? Number(v.getBigUint64(o, true)) : v.getUint32(o, true));
  const entry = l.bits === 64 ? v.getBigUint64(24, true) : BigInt(v.getUint32(24, true));
  const phoff = word(l.phoff);
  const phentsize = v.getUint16(l.phentsize, true);
  const phnum = v.getUint16(l.phnum, true);
  if (phentsize < l.minPhentsize || phoff + phnum * phentsize > file.length) fail('program headers lie outside the file');

  const segments: ElfSegment[] = [];
  let pvhEntry: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const type = v.getUint32(o, true);
    const off = word(o + l.pOffset);
    const paddr = word(o + l.pPaddr);
    const filesz = word(o + l.pFilesz);
    const memsz = word(o + l.pMemsz);
    if (type !== PT_LOAD && type !== PT_NOTE) continue;
    if (off + filesz > file.length) fail(`segment ${i} runs past the end of the file`);
    if (type === PT_LOAD) {
      if (memsz < filesz) fail(`segment ${i} is smaller in memory than in the file`);
      segments.push({ paddr, data: file.subarray(off, off + filesz), memsz });
    } else {
      pvhEntry ??= findPvhEntry(v, off, filesz);
    }
  }
  if (segments.length === 0) fail('no loadable segments');
  return { segments, entry, pvhEntry };
}

function findPvhEntry(v: DataView, off: number, size: number): number | undefined {
  const align4 = (n: number) => (n + 3) & ~3;
  for (let p = off; p + 12 <= off + size;) {
    const namesz = v.getUint32(p, true), descsz = v.getUint32(p + 4, true), type = v.getUint32(p + 8, true);
    const name = new TextDecoder().decode(new Uint8Array(v.buffer, v.byteOffset + p + 12, Math.max(0, namesz - 1)));
    const desc = p + 12 + align4(namesz);
    if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY && descsz >= 4) return v.getUint32(desc, true);
    p = desc + align4(descsz);
  }
  return undefined;
}
