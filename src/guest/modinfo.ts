// Reads a Linux kernel module's .modinfo section: NUL-separated "key=value"
// strings (name, depends, license, alias, ...) in an ELF64 relocatable file.
// Debian's kernel package ships no modules.dep, so load order comes from here.

export class ModuleFormatError extends Error {}

export interface ModInfo {
  /** The module's name (name=), as lsmod and depends= spell it. */
  name: string;
  /** Modules that must be loaded first (depends=, comma-separated, possibly empty). */
  depends: string[];
  /** Every key=value in order (keys such as alias repeat). */
  entries: Array<[key: string, value: string]>;
}

const ELF_MAGIC = 0x464c457f;
const ELFCLASS64 = 2, ELFDATA2LSB = 1, SHDR_SIZE = 64;

/** The bytes of section `wanted` of a little-endian ELF64 file, or undefined if it has none. */
function elfSection(file: Uint8Array, wanted: string): Uint8Array | undefined {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (file.length < 64 || v.getUint32(0, true) !== ELF_MAGIC) throw new ModuleFormatError('not an ELF file');
  if (file[4] !== ELFCLASS64 || file[5] !== ELFDATA2LSB) throw new ModuleFormatError('not a little-endian ELF64 file');
  const shoff = Number(v.getBigUint64(0x28, true));
  const shentsize = v.getUint16(0x3a, true);
  const shnum = v.getUint16(0x3c, true);
  const shstrndx = v.getUint16(0x3e, true);
  if (shentsize < SHDR_SIZE || shstrndx >= shnum || shoff + shnum * shentsize > file.length) {
    throw new ModuleFormatError('section header table out of bounds');
  }
  const section = (i: number) => {
    const h = shoff + i * shentsize;
    const offset = Number(v.getBigUint64(h + 0x18, true));
    const size = Number(v.getBigUint64(h + 0x20, true));
    const type = v.getUint32(h + 4, true);
    const bytes = type === 8 /* SHT_NOBITS */ ? new Uint8Array(0) : file.subarray(offset, offset + size);
    if (type !== 8 && (offset + size > file.length || bytes.length !== size)) throw new ModuleFormatError(`section ${i} out of bounds`);
    return { nameOffset: v.getUint32(h, true), bytes };
  };
  const names = section(shstrndx).bytes;
  const decoder = new TextDecoder();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const end = names.indexOf(0, s.nameOffset);
    if (s.nameOffset >= names.length || end < 0) continue;
    if (decoder.decode(names.subarray(s.nameOffset, end)) === wanted) return s.bytes;
  }
  return undefined;
}

/** Parse the .modinfo section of a module file (.ko). */
export function parseModInfo(file: Uint8Array): ModInfo {
  const section = elfSection(file, '.modinfo');
  if (!section) throw new ModuleFormatError('no .modinfo section: not a kernel module');
  const entries: Array<[string, string]> = [];
  for (const text of new TextDecoder().decode(section).split('\0')) {
    const eq = text.indexOf('=');
    if (eq > 0) entries.push([text.slice(0, eq), text.slice(eq + 1)]);
  }
  const value = (key: string) => entries.find(([k]) => k === key)?.[1];
  const name = value('name');
  if (!name) throw new ModuleFormatError('.modinfo has no name=');
  const depends = (value('depends') ?? '').split(',').filter(Boolean);
  return { name, depends, entries };
}
