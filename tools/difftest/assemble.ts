// Assembles many cases in one GNU `as` run. Each case starts at a label and
// is position-independent except for RIP-relative data operands, which are
// written relative to the case's start label so that they reach the data
// region once the case is copied to CODE_BASE. A table section records where
// every case and every instruction ends, and is read back from the ELF object.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CODE_BASE, DATA_BASE } from './layout.js';
import { toolCommand } from '../toolchain.js';

/** One line of a case: an instruction, or a label that jumps may target. */
export type AsmItem = { insn: string } | { label: string };

/**
 * Placeholders in instruction text:
 *  - `{L}name` is a label local to the case (also in label items);
 *  - `{D:offset}` is the address of data byte `offset`, for `[rip + {D:offset}]`.
 */
export interface AsmCase {
  items: AsmItem[];
}

export interface Assembled {
  code: Uint8Array;
  /** End offset of each instruction item, in order. */
  insnEnds: number[];
}

export interface AssemblyResult {
  /** One per input case; undefined where `as` rejected the case. */
  cases: (Assembled | undefined)[];
  /** Messages for rejected cases, by case index. */
  errors: Map<number, string>;
}

const DATA_FROM_CODE = DATA_BASE - CODE_BASE;

function expand(text: string, caseIndex: number): string {
  return text
    .replace(/\{L\}/g, `c${caseIndex}_l_`)
    .replace(/\{D:(\d+)\}/g, (_, off: string) => `(c${caseIndex}_s + ${DATA_FROM_CODE + Number(off)})`);
}

/** Instruction text for reports, with placeholders made readable. */
export function displayText(text: string): string {
  return text
    .replace(/\{L\}/g, '.')
    .replace(/\{D:(\d+)\}/g, (_, off: string) => `0x${(DATA_BASE + Number(off)).toString(16)} (abs)`);
}

function source(cases: AsmCase[], indices: number[]): { text: string; lineToCase: number[] } {
  const lines = ['.intel_syntax noprefix', '.text', 'dt_base:'];
  const lineToCase: number[] = [-1, -1, -1];
  const table: string[] = [];
  for (const i of indices) {
    const emit = (line: string) => { lines.push(line); lineToCase.push(i); };
    emit(`c${i}_s:`);
    const ends = [`c${i}_s`];
    let n = 0;
    for (const item of cases[i].items) {
      if ('label' in item) { emit(`${expand(item.label, i)}:`); continue; }
      emit(` ${expand(item.insn, i)}`);
      emit(`c${i}_e${n}:`);
      ends.push(`c${i}_e${n++}`);
    }
    emit(' ud2');
    emit(`c${i}_z:`);
    ends.push(`c${i}_z`);
    table.push(` .long ${ends.map((e) => `${e} - dt_base`).join(', ')}`);
  }
  lines.push('.section .dt_table,"a"', ...table, '');
  return { text: lines.join('\n'), lineToCase };
}

interface Section { offset: number; size: number }

function elfSections(obj: Buffer): Map<string, Section> {
  const shoff = Number(obj.readBigUInt64LE(0x28));
  const shentsize = obj.readUInt16LE(0x3a);
  const shnum = obj.readUInt16LE(0x3c);
  const shstrndx = obj.readUInt16LE(0x3e);
  const header = (i: number) => {
    const at = shoff + i * shentsize;
    return { name: obj.readUInt32LE(at), offset: Number(obj.readBigUInt64LE(at + 24)), size: Number(obj.readBigUInt64LE(at + 32)) };
  };
  const strtab = header(shstrndx);
  const out = new Map<string, Section>();
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    const start = strtab.offset + h.name;
    const name = obj.toString('latin1', start, obj.indexOf(0, start));
    out.set(name, { offset: h.offset, size: h.size });
  }
  return out;
}

function runAs(text: string): { obj?: Buffer; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'difftest-as-'));
  try {
    writeFileSync(join(dir, 'cases.s'), text);
    try {
      const as = toolCommand('as');
      execFileSync(as.file, [...as.args, '--64', '--fatal-warnings', '-o', join(dir, 'cases.o'), join(dir, 'cases.s')], { stdio: ['ignore', 'ignore', 'pipe'], env: as.env });
      return { obj: readFileSync(join(dir, 'cases.o')), stderr: '' };
    } catch (e) {
      return { stderr: String((e as { stderr?: Buffer }).stderr ?? e) };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Assembles all cases; a case `as` rejects is reported and left out, the rest still assemble. */
export function assembleCases(cases: AsmCase[]): AssemblyResult {
  const errors = new Map<number, string>();
  let indices = cases.map((_, i) => i);
  for (;;) {
    const { text, lineToCase } = source(cases, indices);
    const { obj, stderr } = runAs(text);
    if (obj) return { cases: extract(obj, cases, indices), errors };
    let blamed = 0;
    for (const m of stderr.matchAll(/cases\.s:(\d+): (?:Error|Warning): (.*)/g)) {
      const i = lineToCase[Number(m[1]) - 1];
      if (i === undefined || i < 0) continue;
      const line = text.split('\n')[Number(m[1]) - 1].trim();
      errors.set(i, `${(errors.get(i) ?? '')}${m[2]} (in \`${line}\`)\n`);
      blamed++;
    }
    if (blamed === 0) throw new Error(`as failed:\n${stderr}`);
    indices = indices.filter((i) => !errors.has(i));
  }
}

function extract(obj: Buffer, cases: AsmCase[], indices: number[]): (Assembled | undefined)[] {
  const sections = elfSections(obj);
  const text = sections.get('.text');
  const table = sections.get('.dt_table');
  if (!text || !table) throw new Error('assembler output lacks .text or .dt_table');
  const out: (Assembled | undefined)[] = new Array(cases.length).fill(undefined);
  let t = table.offset;
  for (const i of indices) {
    const nInsns = cases[i].items.filter((it) => 'insn' in it).length;
    const offsets: number[] = [];
    for (let k = 0; k < nInsns + 2; k++, t += 4) offsets.push(obj.readUInt32LE(t));
    const start = offsets[0];
    const end = offsets[nInsns + 1];
    out[i] = {
      code: new Uint8Array(obj.subarray(text.offset + start, text.offset + end)),
      insnEnds: offsets.slice(1, nInsns + 1).map((o) => o - start),
    };
  }
  return out;
}
