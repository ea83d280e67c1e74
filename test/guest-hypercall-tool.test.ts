// The guest's xmhf-hypercall tool, emitted from TypeScript: a well-formed
// static ELF, whose bytes GNU objdump disassembles to the listed assembly,
// and which behaves as documented on the host's CPU and in the guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembleHypercallTool, hypercallToolElf, HYPERCALL_USAGE } from '../src/guest/hypercall-tool.js';
import { STATIC_ELF_BASE, STATIC_ELF_CODE } from '../src/guest/static-elf.js';
import { parseVmlinux } from '../src/boot/elf.js';
import { toolCommand, toolUnavailable } from '../tools/toolchain.js';
import { runGuest } from './support/guest-run.js';
import hello from '../hypapps/hello.js';

const elf = hypercallToolElf();
const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);

test('the tool is a static x86-64 executable: one R+X segment holding the whole file, entry at the code, non-executable stack', () => {
  const { code } = assembleHypercallTool();
  const image = parseVmlinux(elf, 'xmhf-hypercall');
  assert.equal(v.getUint16(16, true), 2, 'ET_EXEC');
  assert.equal(image.entry, BigInt(STATIC_ELF_CODE));
  assert.equal(image.segments.length, 1);
  assert.equal(image.segments[0].paddr, STATIC_ELF_BASE);
  assert.equal(image.segments[0].data.length, elf.length);
  assert.equal(image.segments[0].memsz, elf.length);
  assert.equal(elf.length, STATIC_ELF_CODE - STATIC_ELF_BASE + code.length);
  assert.deepEqual(elf.subarray(STATIC_ELF_CODE - STATIC_ELF_BASE), code);
  assert.ok(elf.length < 2048, `${elf.length} bytes`);
  const phdr = (i: number) => 64 + 56 * i;
  assert.equal(v.getUint32(phdr(0) + 4, true), 5, 'PT_LOAD is R+X');
  assert.equal(v.getUint32(phdr(1), true), 0x6474e551, 'PT_GNU_STACK');
  assert.equal(v.getUint32(phdr(1) + 4, true), 6, 'the stack is R+W, not executable');
  assert.ok(new TextDecoder().decode(elf).includes(HYPERCALL_USAGE));
});

test('GNU objdump disassembles the bytes to the listed assembly', { skip: toolUnavailable('objdump') }, () => {
  const { code, listing } = assembleHypercallTool();
  const end = listing.at(-1)!.offset + listing.at(-1)!.bytes.length; // the strings follow the code
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-hypercall-'));
  try {
    writeFileSync(join(dir, 'code.bin'), code);
    const objdump = toolCommand('objdump');
    const out = execFileSync(objdump.file, [...objdump.args, '-D', '-b', 'binary', '-m', 'i386:x86-64', '-M', 'intel',
      `--adjust-vma=${STATIC_ELF_CODE}`, `--stop-address=${STATIC_ELF_CODE + end}`, join(dir, 'code.bin')], { env: objdump.env }).toString();
    // "  4000b0:\t48 89 e5             \tmov    rbp,rsp" -> address, bytes, text with single spaces
    const lines = out.split('\n').filter((l) => /^\s*[0-9a-f]+:\t/.test(l)).map((l) => {
      const [addr, bytes, text] = l.split('\t');
      return { addr: parseInt(addr, 16), bytes: bytes.trim(), text: text.replace(/\s+/g, ' ').trim() };
    });
    assert.deepEqual(lines, listing.map((i) => ({
      addr: STATIC_ELF_CODE + i.offset, bytes: Buffer.from(i.bytes).toString('hex').replace(/(..)(?!$)/g, '$1 '), text: i.text,
    })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('on the host, a bad command line gets the usage or the bad argument, status 2, before any VMCALL',
  { skip: process.arch === 'x64' && process.platform === 'linux' ? false : 'needs an x86-64 Linux host' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'xmhf-hypercall-'));
    try {
      const tool = join(dir, 'xmhf-hypercall');
      writeFileSync(tool, elf, { mode: 0o755 });
      const run = (...args: string[]) => spawnSync(tool, args, { encoding: 'utf8' });
      for (const args of [[], ['1', '2', '3', '4', '5', '6']]) {
        const r = run(...args);
        assert.deepEqual([r.status, r.stdout, r.stderr], [2, '', HYPERCALL_USAGE]);
      }
      for (const bad of ['zz', '0x', '-', '12a', '0x1g', '']) {
        const r = run('5', '1', bad);
        assert.deepEqual([r.status, r.stdout, r.stderr], [2, '', `xmhf-hypercall: not a number: ${bad}\n`]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

test('in the guest: names and numbers (decimal, 0x, negative) reach hello, RAX prints in signed decimal, errors exit 1 or 2', async () => {
  // What the C tool this replaces printed for each command (stderr folded in), then its status.
  const cases: Array<[args: string, lines: string[], status?: number]> = [
    ['ping 0x29', ['42']], ['ping 0X29', ['42']], ['ping -43', ['-42']], ['ping -0x2B', ['-42']],
    ['256 41', ['42']], ['0x100 0x7fffffffffffffff', ['-9223372036854775808']], ['ping 18446744073709551615', ['0']],
    ['7', ['-38']], ['ready', ['0']], ['ping 1 2 3 4', ['2']],
    ['ping zz', ['xmhf-hypercall: not a number: zz'], 2], ['ping 1 0x', ['xmhf-hypercall: not a number: 0x'], 2],
    ['', HYPERCALL_USAGE.trimEnd().split('\n'), 2], ['ping 1 2 3 4 5', HYPERCALL_USAGE.trimEnd().split('\n'), 2],
    ['nope 1', ['xmhf-hypercall: no hypapp answers "nope"'], 1], ['nope zz', ['xmhf-hypercall: no hypapp answers "nope"'], 1],
    ['-0x', ['xmhf-hypercall: no hypapp answers "-0x"'], 1],
  ];
  const expected = cases.map(([args, lines, status = 0]) => [args, [...lines, `status=${status}`]] as const);
  const r = await runGuest({
    hypapps: [hello],
    command: expected.map(([args]) => `xmhf-hypercall ${args} 2>&1; echo status=$?`).join('; '),
  });
  assert.deepEqual(r.output.trim().split('\n'), expected.flatMap(([, lines]) => lines), r.output);
});
