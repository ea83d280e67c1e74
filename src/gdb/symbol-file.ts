// A symbol file gdb loads (`symbol-file` / `add-symbol-file`) for a kernel
// that ships without one: an ELF64 x86-64 file with no contents, only
// sections spanning the addresses of the kernel's own symbols (kallsyms) and
// a symbol table. Code symbols (kallsyms types T, t, W, w) become functions
// in executable sections, the rest objects in data sections; each symbol's
// size reaches to the next symbol. Runs of code and of data each get their
// own section, so sections never overlap (the kernel's init code lies after
// its data).

export interface SymbolInput {
  name: string;
  address: bigint;
  /** The kallsyms type letter (T t D d B b R r W w V v A a ...). */
  type: string;
}

const SHT_SYMTAB = 2, SHT_STRTAB = 3, SHT_NOBITS = 8;
const SHF_WRITE = 1, SHF_ALLOC = 2, SHF_EXECINSTR = 4;
const STT_OBJECT = 1, STT_FUNC = 2;
const STB_LOCAL = 0, STB_GLOBAL = 1;
const SYM_SIZE = 24, SHDR_SIZE = 64, EHDR_SIZE = 64;
/** A symbol's size stops here even if the next one is further (gaps in the kernel's layout). */
const MAX_SYMBOL_SIZE = 1n << 20n;

const isCode = (type: string) => 'TtWw'.includes(type);

class Strings {
  private readonly parts: Buffer[] = [Buffer.from([0])];
  private length = 1;
  add(s: string): number {
    const at = this.length;
    const b = Buffer.from(`${s}\0`, 'utf8');
    this.parts.push(b);
    this.length += b.length;
    return at;
  }
  bytes(): Buffer { return Buffer.concat(this.parts); }
}

interface Section { name: number; code: boolean; start: bigint; end: bigint }

/** The ELF file's bytes. */
export function symbolFile(input: readonly SymbolInput[]): Uint8Array {
  const symbols = input.filter((s) => s.address !== 0n && s.name !== '' && !'Uu'.includes(s.type))
    .map((s) => ({ ...s, address: BigInt.asUintN(64, s.address) }))
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const shstr = new Strings();
  const str = new Strings();
  // Sections: maximal runs of code or of data, in address order.
  const sections: Section[] = [];
  const sectionOf: number[] = [];
  for (const s of symbols) {
    const code = isCode(s.type);
    const last = sections.at(-1);
    if (!last || last.code !== code) {
      if (last) last.end = s.address;
      sections.push({ name: shstr.add(`${code ? '.text' : '.data'}.${sections.length}`), code, start: s.address, end: s.address + 1n });
    } else last.end = s.address + 1n;
    sectionOf.push(sections.length);   // section index: 1-based after the null section
  }
  const last = sections.at(-1);
  if (last) last.end = last.end + MAX_SYMBOL_SIZE - 1n;
  const symtabName = shstr.add('.symtab'), strtabName = shstr.add('.strtab'), shstrtabName = shstr.add('.shstrtab');

  // Local symbols first (the ELF rule), then global ones.
  const order = symbols.map((_, i) => i).sort((a, b) => Number(isGlobal(symbols[a].type)) - Number(isGlobal(symbols[b].type)));
  // The next higher address after each symbol's (its size's end).
  const nextAddress: Array<bigint | undefined> = new Array(symbols.length);
  for (let i = symbols.length - 2; i >= 0; i--) {
    nextAddress[i] = symbols[i + 1].address > symbols[i].address ? symbols[i + 1].address : nextAddress[i + 1];
  }
  const symtab = Buffer.alloc(SYM_SIZE * (symbols.length + 1));
  let firstGlobal = symbols.length + 1;
  order.forEach((i, k) => {
    const s = symbols[i];
    const sec = sections[sectionOf[i] - 1];
    let size = (nextAddress[i] ?? sec.end) - s.address;
    if (size > MAX_SYMBOL_SIZE) size = MAX_SYMBOL_SIZE;
    const at = SYM_SIZE * (k + 1);
    const bind = isGlobal(s.type) ? STB_GLOBAL : STB_LOCAL;
    if (bind === STB_GLOBAL && firstGlobal > k + 1) firstGlobal = k + 1;
    symtab.writeUInt32LE(str.add(s.name), at);
    symtab[at + 4] = (bind << 4) | (isCode(s.type) ? STT_FUNC : STT_OBJECT);
    symtab.writeUInt16LE(sectionOf[i], at + 6);
    symtab.writeBigUInt64LE(s.address, at + 8);
    symtab.writeBigUInt64LE(size, at + 16);
  });
  const strtab = str.bytes();
  const shstrtab = shstr.bytes();

  const symtabOff = EHDR_SIZE;
  const strtabOff = symtabOff + symtab.length;
  const shstrtabOff = strtabOff + strtab.length;
  const shOff = align8(shstrtabOff + shstrtab.length);
  const count = sections.length + 4;
  const out = Buffer.alloc(shOff + SHDR_SIZE * count);
  // ELF header: ELF64, little-endian, ET_EXEC, x86-64.
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  out.writeUInt16LE(2, 16);
  out.writeUInt16LE(62, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(shOff), 40);
  out.writeUInt16LE(EHDR_SIZE, 52);
  out.writeUInt16LE(SHDR_SIZE, 58);
  out.writeUInt16LE(count, 60);
  out.writeUInt16LE(count - 1, 62);
  symtab.copy(out, symtabOff);
  strtab.copy(out, strtabOff);
  shstrtab.copy(out, shstrtabOff);
  const header = (i: number, h: { name: number; type: number; flags: number; addr?: bigint; offset?: number; size: bigint; link?: number; info?: number; align?: number; entsize?: number }) => {
    const at = shOff + SHDR_SIZE * i;
    out.writeUInt32LE(h.name, at);
    out.writeUInt32LE(h.type, at + 4);
    out.writeBigUInt64LE(BigInt(h.flags), at + 8);
    out.writeBigUInt64LE(h.addr ?? 0n, at + 16);
    out.writeBigUInt64LE(BigInt(h.offset ?? 0), at + 24);
    out.writeBigUInt64LE(h.size, at + 32);
    out.writeUInt32LE(h.link ?? 0, at + 40);
    out.writeUInt32LE(h.info ?? 0, at + 44);
    out.writeBigUInt64LE(BigInt(h.align ?? 1), at + 48);
    out.writeBigUInt64LE(BigInt(h.entsize ?? 0), at + 56);
  };
  sections.forEach((s, i) => header(i + 1, {
    name: s.name, type: SHT_NOBITS, flags: SHF_ALLOC | (s.code ? SHF_EXECINSTR : SHF_WRITE), addr: s.start, offset: shOff, size: s.end - s.start,
  }));
  const symtabIndex = sections.length + 1;
  header(symtabIndex, { name: symtabName, type: SHT_SYMTAB, flags: 0, offset: symtabOff, size: BigInt(symtab.length), link: symtabIndex + 1, info: firstGlobal, align: 8, entsize: SYM_SIZE });
  header(symtabIndex + 1, { name: strtabName, type: SHT_STRTAB, flags: 0, offset: strtabOff, size: BigInt(strtab.length) });
  header(symtabIndex + 2, { name: shstrtabName, type: SHT_STRTAB, flags: 0, offset: shstrtabOff, size: BigInt(shstrtab.length) });
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

function isGlobal(type: string): boolean { return type >= 'A' && type <= 'Z'; }
function align8(n: number): number { return (n + 7) & ~7; }
