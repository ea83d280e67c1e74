// A static x86-64 Linux executable around a block of position-dependent code
// and data: one read+execute PT_LOAD segment holding the headers and the code,
// and a PT_GNU_STACK header asking for a non-executable stack. No sections,
// no libc: the code makes its own system calls.
import { PAGE_SIZE } from '../backend/abi.js';

const ELF_HEADER_SIZE = 64;
const PROGRAM_HEADER_SIZE = 56;
const PROGRAM_HEADERS = 2;
const PT_LOAD = 1, PT_GNU_STACK = 0x6474e551;
const PF_X = 1, PF_W = 2, PF_R = 4;
const ET_EXEC = 2, EM_X86_64 = 62, ELFCLASS64 = 2, ELFDATA2LSB = 1, EV_CURRENT = 1;

/** Where the file is mapped: the usual base of x86-64 static executables. */
export const STATIC_ELF_BASE = 0x400000;
/** Where the code starts in memory (right after the headers); the entry point. */
export const STATIC_ELF_CODE = STATIC_ELF_BASE + ELF_HEADER_SIZE + PROGRAM_HEADERS * PROGRAM_HEADER_SIZE;

/** The executable for `code`, assembled to run at STATIC_ELF_CODE, which is also its entry point. */
export function staticElf(code: Uint8Array): Uint8Array {
  const headers = STATIC_ELF_CODE - STATIC_ELF_BASE;
  const file = new Uint8Array(headers + code.length);
  const v = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, ELFCLASS64, ELFDATA2LSB, EV_CURRENT], 0); // ident; OS ABI 0 (System V)
  v.setUint16(16, ET_EXEC, true);
  v.setUint16(18, EM_X86_64, true);
  v.setUint32(20, EV_CURRENT, true);
  v.setBigUint64(24, BigInt(STATIC_ELF_CODE), true); // e_entry
  v.setBigUint64(32, BigInt(ELF_HEADER_SIZE), true); // e_phoff
  v.setBigUint64(40, 0n, true); // e_shoff: no sections
  v.setUint16(52, ELF_HEADER_SIZE, true); // e_ehsize
  v.setUint16(54, PROGRAM_HEADER_SIZE, true);
  v.setUint16(56, PROGRAM_HEADERS, true);
  v.setUint16(58, 64, true); // e_shentsize (the size a section header would have)
  const program = (i: number, type: number, flags: number, size: number, align: number) => {
    const o = ELF_HEADER_SIZE + i * PROGRAM_HEADER_SIZE;
    v.setUint32(o, type, true);
    v.setUint32(o + 4, flags, true);
    v.setBigUint64(o + 8, 0n, true); // p_offset
    v.setBigUint64(o + 16, BigInt(size ? STATIC_ELF_BASE : 0), true); // p_vaddr
    v.setBigUint64(o + 24, BigInt(size ? STATIC_ELF_BASE : 0), true); // p_paddr
    v.setBigUint64(o + 32, BigInt(size), true); // p_filesz
    v.setBigUint64(o + 40, BigInt(size), true); // p_memsz
    v.setBigUint64(o + 48, BigInt(align), true);
  };
  program(0, PT_LOAD, PF_R | PF_X, file.length, PAGE_SIZE);
  program(1, PT_GNU_STACK, PF_R | PF_W, 0, 16);
  file.set(code, headers);
  return file;
}
