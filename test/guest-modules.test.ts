// Kernel modules for the initramfs: the .modinfo parser on synthetic ELF
// files and on Debian's own modules, the dependency order, and the /init
// lines that load them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseModInfo, ModuleFormatError } from '../src/guest/modinfo.js';
import { loadOrder, resolveModules, moduleNameOf, stripModuleSignature, ModuleResolveError, VIRTIO_MODULES, OPTIONAL_VIRTIO_MODULES } from '../src/guest/modules.js';
import { cacheDir, initScript, commandScript } from '../src/guest/debian.js';

/** A minimal ELF64 relocatable file with a section-name table and the given sections. */
function elf(sections: Record<string, Uint8Array>): Uint8Array {
  const names = ['', '.shstrtab', ...Object.keys(sections)];
  const shstrtab = new TextEncoder().encode(names.join('\0') + '\0');
  const nameOffsets = names.map((_, i) => names.slice(0, i).reduce((n, s) => n + s.length + 1, 0));
  const bodies = [new Uint8Array(0), shstrtab, ...Object.values(sections)];
  let offset = 64;
  const placed = bodies.map((b) => { const at = offset; offset += b.length; return at; });
  const shoff = Math.ceil(offset / 8) * 8;
  const file = new Uint8Array(shoff + 64 * bodies.length);
  const v = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  v.setUint16(0x10, 1, true); // ET_REL
  v.setUint16(0x12, 62, true); // x86-64
  v.setBigUint64(0x28, BigInt(shoff), true);
  v.setUint16(0x3a, 64, true);
  v.setUint16(0x3c, bodies.length, true);
  v.setUint16(0x3e, 1, true);
  bodies.forEach((b, i) => {
    file.set(b, placed[i]!);
    const h = shoff + 64 * i;
    v.setUint32(h, nameOffsets[i]!, true);
    v.setUint32(h + 4, i === 0 ? 0 : i === 1 ? 3 : 1, true); // NULL, STRTAB, PROGBITS
    v.setBigUint64(h + 0x18, BigInt(placed[i]!), true);
    v.setBigUint64(h + 0x20, BigInt(b.length), true);
  });
  return file;
}
const modinfo = (...kv: string[]) => new TextEncoder().encode(kv.join('\0') + '\0\0\0');

test('.modinfo: name and depends from the NUL-separated strings, every entry kept in order', () => {
  const info = parseModInfo(elf({ '.text': new Uint8Array(16), '.modinfo': modinfo('license=GPL', 'alias=virtio:d00000001v*', 'depends=virtio_ring,virtio', 'name=virtio_net', 'alias=x') }));
  assert.equal(info.name, 'virtio_net');
  assert.deepEqual(info.depends, ['virtio_ring', 'virtio']);
  assert.deepEqual(info.entries.map(([k]) => k), ['license', 'alias', 'depends', 'name', 'alias']);
  assert.deepEqual(parseModInfo(elf({ '.modinfo': modinfo('depends=', 'name=virtio_ring') })).depends, []);
});

test('.modinfo: files that are not modules are refused with a reason', () => {
  assert.throws(() => parseModInfo(new TextEncoder().encode('#!/bin/sh\n'.repeat(10))), ModuleFormatError);
  assert.throws(() => parseModInfo(elf({ '.text': new Uint8Array(4) })), /no \.modinfo/);
  assert.throws(() => parseModInfo(elf({ '.modinfo': modinfo('license=GPL') })), /no name=/);
  const truncated = elf({ '.modinfo': modinfo('name=x') });
  assert.throws(() => parseModInfo(truncated.subarray(0, truncated.length - 10)), /out of bounds/);
});

/** `body` with a PKCS#7 module signature of `sigLen` bytes appended, as sign-file writes it. */
function signed(body: Uint8Array, sigLen: number): Uint8Array {
  const marker = new TextEncoder().encode('~Module signature appended~\n');
  const out = new Uint8Array(body.length + sigLen + 12 + marker.length);
  out.set(body);
  out.fill(0x30, body.length, body.length + sigLen);
  const ms = new DataView(out.buffer, body.length + sigLen, 12);
  ms.setUint8(2, 2); // PKEY_ID_PKCS7
  ms.setUint32(8, sigLen, false);
  out.set(marker, body.length + sigLen + 12);
  return out;
}

test('module signatures are stripped to the ELF file the kernel would have hashed; unsigned modules pass unchanged', () => {
  const body = elf({ '.modinfo': modinfo('name=virtio') });
  assert.deepEqual(stripModuleSignature(signed(body, 681)), body);
  assert.equal(stripModuleSignature(body), body);
  const bad = signed(body, 681);
  bad[bad.length - 28 - 12 + 2] = 1; // not PKCS#7
  assert.throws(() => stripModuleSignature(bad), /malformed module signature/);
  assert.throws(() => stripModuleSignature(signed(new Uint8Array(0), 0).subarray(0)), /malformed/);
});

test('load order: dependencies first, in a stable order; cycles and unknown modules are errors', () => {
  const deps: Record<string, string[]> = { net: ['ring', 'virtio', 'nf'], nf: ['fo'], fo: [], virtio: ['ring'], ring: [], blk: ['virtio', 'ring'] };
  assert.deepEqual(loadOrder(['blk', 'net'], (n) => deps[n]), ['ring', 'virtio', 'blk', 'fo', 'nf', 'net']);
  assert.throws(() => loadOrder(['a'], (n) => ({ a: ['b'], b: ['a'] } as Record<string, string[]>)[n]), /cycle: a -> b -> a/);
  assert.throws(() => loadOrder(['net'], (n) => (n === 'net' ? ['nope'] : undefined)), ModuleResolveError);
  assert.equal(moduleNameOf('kernel/drivers/char/hw_random/virtio-rng.ko'), 'virtio_rng');
});

test('/init loads the modules, in the order given, then runs the command script, which announces readiness and powers off', () => {
  const script = initScript(['lib/modules/a.ko', 'lib/modules/b.ko']);
  const a = script.indexOf('insmod /lib/modules/a.ko'), b = script.indexOf('insmod /lib/modules/b.ko');
  assert.ok(a > 0 && b > a && script.indexOf('exec /bin/sh /command') > b);
  assert.doesNotMatch(script, /switch_root/, 'no root disk support without its modules');
  const command = commandScript('echo hi');
  assert.ok(command.indexOf('XMHF-READY') < command.indexOf(`sh -c 'echo hi'`));
  assert.match(command, /poweroff -f\n$/);
});

test('/init with root modules: root=/dev/vdX loads them, mounts the disk and switch_roots into it', () => {
  const script = initScript(['lib/modules/virtio.ko'], [], ['lib/modules/ext4.ko']);
  const root = script.indexOf('root=/dev/*'), ext4 = script.indexOf('insmod /lib/modules/ext4.ko');
  assert.ok(root > script.indexOf('insmod /lib/modules/virtio.ko') && ext4 > root);
  assert.ok(script.indexOf('mount -t ext4') > ext4 && script.indexOf('exec switch_root /newroot /bin/sh /run/xmhf/command') > ext4);
});

/** lib/modules/<version> of the cached Debian kernel package, if `xmhf guest` has fetched it. */
function packageModulesDir(): string | undefined {
  const packages = join(cacheDir(), 'packages');
  if (!existsSync(packages)) return undefined;
  const pkg = readdirSync(packages).find((d) => /^linux-image-.*-amd64\.d$/.test(d));
  if (!pkg) return undefined;
  const base = join(packages, pkg, 'lib', 'modules');
  const version = existsSync(base) ? readdirSync(base)[0] : undefined;
  return version ? join(base, version) : undefined;
}
const modulesDir = packageModulesDir();

test('Debian\'s virtio modules: each one\'s .modinfo parses, and every module comes after what it depends on',
  { skip: modulesDir ? false : 'no Debian kernel package in the cache (run `xmhf guest` first)' }, () => {
    const mods = resolveModules(modulesDir!, VIRTIO_MODULES, OPTIONAL_VIRTIO_MODULES);
    const names = mods.map((m) => m.name);
    for (const wanted of VIRTIO_MODULES) assert.ok(names.includes(wanted), `${wanted} is loaded`);
    assert.ok(names.includes('net_failover') && names.includes('failover'), 'virtio_net\'s dependencies are pulled in');
    for (const [i, m] of mods.entries()) {
      assert.equal(parseModInfo(m.data).name, m.name);
      assert.equal(moduleNameOf(m.path), m.name);
      for (const d of m.depends) assert.ok(names.indexOf(d) >= 0 && names.indexOf(d) < i, `${d} before ${m.name}`);
    }
    assert.ok(names.indexOf('virtio_ring') < names.indexOf('virtio'), 'virtio_ring before virtio (virtio uses virtio_break_device)');
    assert.equal(new Set(names).size, names.length, 'no module twice');
    for (const m of mods) {
      const v = new DataView(m.data.buffer, m.data.byteOffset, m.data.byteLength);
      const sectionTableEnd = Number(v.getBigUint64(0x28, true)) + v.getUint16(0x3a, true) * v.getUint16(0x3c, true);
      assert.equal(m.data.length, sectionTableEnd, `${m.name}: the signature is gone and the ELF file is whole`);
    }
  });
