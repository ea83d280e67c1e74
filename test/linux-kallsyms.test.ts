// Finding kallsyms and BTF by structure (src/linux/kallsyms.ts, btf.ts): on
// Debian's kernel image as the loader places it, and on images where they
// are missing or damaged, which must fail with a message naming what is
// missing rather than decode garbage or hang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { readKallsyms, KallsymsError } from '../src/linux/kallsyms.js';
import { findBtf, Btf, BtfError } from '../src/linux/btf.js';
import { cacheDir, defaultGuest } from '../src/guest/debian.js';
import { linuxOf } from '../src/linux/index.js';
import { runGuest } from './support/guest-run.js';
import type { HypappContext } from '../src/hypapp/api.js';

/** The default guest's kernel image from _text on, as it lies in memory (ELF segments at their offsets from _text). */
function kernelImage(): Uint8Array | undefined {
  let version: string;
  try { version = defaultGuest().version; } catch { return undefined; }
  const path = join(cacheDir(), `vmlinux-${version}`);
  if (!existsSync(path)) return undefined;
  const elf = readFileSync(path);
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const phoff = Number(dv.getBigUint64(0x20, true)), phnum = dv.getUint16(0x38, true);
  const loads: Array<{ vaddr: bigint; offset: number; size: number }> = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * 56;
    if (dv.getUint32(at, true) !== 1) continue; // PT_LOAD
    const vaddr = dv.getBigUint64(at + 16, true);
    if (vaddr < 0xffff_ffff_8000_0000n) continue; // the per-CPU segment is linked at 0
    loads.push({ vaddr, offset: Number(dv.getBigUint64(at + 8, true)), size: Number(dv.getBigUint64(at + 32, true)) });
  }
  const base = loads[0].vaddr;
  const last = loads[loads.length - 1];
  const image = new Uint8Array(Number(last.vaddr - base) + last.size);
  for (const l of loads) image.set(elf.subarray(l.offset, l.offset + l.size), Number(l.vaddr - base));
  return image;
}

const image = kernelImage();
const why = image ? false : 'the default guest is not fetched (node bin/xmhf.js guest)';

test('Debian\'s kernel image: every kallsyms entry decoded, base-relative addresses and per-CPU absolutes; BTF found and indexed', { skip: why }, () => {
  const { symbols, relativeBase } = readKallsyms(image!);
  assert.equal(relativeBase, 0xffff_ffff_8100_0000n, 'kallsyms_relative_base is _text');
  assert.ok(symbols.length > 50_000, `${symbols.length} symbols`);
  assert.deepEqual(symbols[0], { name: 'fixed_percpu_data', type: 'A', address: 0n }, 'per-CPU symbols first, absolute');
  const byName = new Map(symbols.map((s) => [s.name, s]));
  assert.equal(byName.get('_text')?.address, relativeBase);
  assert.equal(byName.get('init_task')?.type, 'D');
  assert.equal(byName.get('do_sys_openat2')?.type, 't');
  assert.ok(symbols.every((s) => /^[A-Za-z]$/.test(s.type) && s.name.length > 0), 'every entry has a type letter and a name');
  const btf = new Btf(findBtf(image!));
  assert.ok(btf.types.length > 50_000);
  assert.ok(btf.member(btf.struct('task_struct'), 'comm'));
});

test('an image without kallsyms or BTF, or with them damaged, is refused by name; nothing hangs', { skip: why }, () => {
  const noise = new Uint8Array(4 << 20).map((_, i) => (i * 2654435761) >>> 24);
  assert.throws(() => readKallsyms(noise), KallsymsError);
  assert.throws(() => readKallsyms(new Uint8Array(1 << 20)), /no kallsyms tables found/);
  assert.throws(() => findBtf(noise), BtfError);
  assert.throws(() => findBtf(new Uint8Array(1 << 20)), /no BTF found/);
  // The digits of the token table found, but its index overwritten: not decoded from a wrong table.
  const damaged = image!.slice();
  const digits = Buffer.from(damaged.buffer).indexOf('0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00', 0, 'latin1');
  assert.ok(digits > 0);
  for (let at = digits; ; at = Buffer.from(damaged.buffer).indexOf('0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00', at + 1, 'latin1')) {
    if (at < 0) break;
    damaged.fill(0x41, at, at + 20); // every copy of the digit tokens
  }
  assert.throws(() => readKallsyms(damaged), KallsymsError);
});

test('attaching before the kernel runs (a hypapp\'s init) fails the start with a message saying why', { skip: why }, async () => {
  const app = { name: 'too-early', init: (x: HypappContext) => { linuxOf(x).attach(); } };
  await assert.rejects(runGuest({ hypapps: [app], command: 'true' }), /too-early.*not running a 64-bit kernel yet \(paging: none\)/);
});
