// An uncompressed kernel (vmlinux) as an ELF64 file: its loadable segments
// and the PVH entry point from its Xen ELF note (XEN_ELFNOTE_PHYS32_ENTRY),
// the 32-bit protected-mode entry used by PVH boot.

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

/** Parse `file` as an x86-64 ELF kernel, with checks that name what is wrong. */
export function parseVmlinux(file: Uint8Array, what = 'the kernel'): VmlinuxImage {
  const fail = (why: string): never => { throw new KernelFormatError(`${what} is not a usable x86-64 ELF kernel: ${why}`); };
  if (file.length < 64) fail(`only ${file.length} bytes`);
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (v.getUint32(0, false) !== 0x7f454c46) fail('no ELF magic');
  if (file[4] !== 2) fail('not a 64-bit ELF');
  if (file[5] !== 1) fail('not little-endian');
  if (v.getUint16(18, true) !== 62) fail(`machine ${v.getUint16(18, true)} is not x86-64 (62)`);
  const entry = v.getBigUint64(24, true);
  const phoff = Number(v.getBigUint64(32, true));
  const phentsize = v.getUint16(54, true);
  const phnum = v.getUint16(56, true);
  if (phentsize < 56 || phoff + phnum * phentsize > file.length) fail('program headers lie outside the file');

  const segments: ElfSegment[] = [];
  let pvhEntry: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const type = v.getUint32(o, true);
    const off = Number(v.getBigUint64(o + 8, true));
    const paddr = Number(v.getBigUint64(o + 24, true));
    const filesz = Number(v.getBigUint64(o + 32, true));
    const memsz = Number(v.getBigUint64(o + 40, true));
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
