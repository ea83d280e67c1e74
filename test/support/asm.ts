// Assembles small guest programs with GNU as (binutils) for tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolCommand } from '../../tools/toolchain.js';

/** Assemble Intel-syntax source (default .code64) into flat binary bytes, as if linked at `origin`. */
export function assemble(source: string, opts: { origin?: number; bits?: 16 | 32 | 64 } = {}): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-asm-'));
  try {
    const bits = opts.bits ?? 64;
    writeFileSync(join(dir, 'a.s'), `.intel_syntax noprefix\n.code${bits}\n${source}\n`);
    const as = toolCommand('as'), ld = toolCommand('ld');
    execFileSync(as.file, [...as.args, '--64', '-o', join(dir, 'a.o'), join(dir, 'a.s')], { env: as.env });
    execFileSync(ld.file, [...ld.args, '-m', 'elf_x86_64', '-Ttext', `0x${(opts.origin ?? 0).toString(16)}`, '--oformat', 'binary', '-e', '0', '-o', join(dir, 'a.bin'), join(dir, 'a.o')], { env: ld.env });
    return new Uint8Array(readFileSync(join(dir, 'a.bin')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
