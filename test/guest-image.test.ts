// xmhf image debian: the Debian root disk is an ext4 image e2fsck accepts,
// with Python (ssl and sqlite3 included, the standard library byte-compiled),
// root's account and the merged /usr a booted system needs; asking again
// while apt offers the same versions reuses it without downloading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { debianImage, sbinTool, type DebianImage } from '../src/guest/debian-image.js';
import { cacheDir } from '../src/guest/debian.js';
import { Ext4Image, isExecutableFile } from '../src/guest/ext4-reader.js';
import { checkLinuxRoot } from '../src/guest/root-disk.js';

const missing = ['apt-get', 'dpkg-deb', sbinTool('mke2fs')].find((t) => spawnSync(t, ['--help'], { stdio: 'ignore' }).error);
const skip = missing ? `${missing} is not installed (the image is built from Debian packages with apt and mke2fs)` : false;
const e2fsck = sbinTool('e2fsck');

let image: DebianImage;

test('the Debian image: ext4 that e2fsck accepts, with python3 and what a booted root needs', { skip, timeout: 900_000 }, async () => {
  image = await debianImage({ log: (line) => process.stderr.write(`# ${line}\n`) });
  assert.ok(image.packages.some((p) => p.name === 'python3') && image.packages.some((p) => p.name === 'libsqlite3-0') && image.packages.some((p) => p.name === 'libssl3'));
  if (spawnSync(e2fsck, ['-V'], { stdio: 'ignore' }).error) {
    process.stderr.write('# e2fsck is not installed: the file-system check is skipped\n');
  } else {
    const r = spawnSync(e2fsck, ['-fn', image.path], { encoding: 'utf8' });
    assert.equal(r.status, 0, `e2fsck -fn: ${r.stdout}${r.stderr}`);
  }
  checkLinuxRoot(image.path);
  const fs = new Ext4Image(image.path);
  try {
    const exe = (path: string) => { const ino = fs.lookup(path); return ino !== undefined && isExecutableFile(ino); };
    for (const path of ['/usr/bin/python3', '/bin/sh', '/bin/bash', '/usr/bin/ls', '/usr/bin/ps']) assert.ok(exe(path), `${path} is an executable file`);
    const text = (path: string) => new TextDecoder().decode(fs.data(fs.lookup(path)!));
    assert.match(text('/etc/passwd'), /^root:x:0:0:root:\/root:\/bin\/bash$/m);
    assert.equal(fs.lookup('/lib64/ld-linux-x86-64.so.2') !== undefined, true, 'merged /usr: /lib64 -> usr/lib64');
    const stdlib = fs.list(fs.lookup('/usr/lib')!);
    const python = [...stdlib.keys()].find((n) => /^python3\.\d+$/.test(n))!;
    const dynload = [...fs.list(fs.lookup(`/usr/lib/${python}/lib-dynload`)!).keys()];
    assert.ok(dynload.some((n) => n.startsWith('_ssl.')) && dynload.some((n) => n.startsWith('_sqlite3.')), 'the ssl and sqlite3 extension modules');
    const pyc = [...fs.list(fs.lookup(`/usr/lib/${python}/__pycache__`)!).keys()];
    assert.ok(pyc.some((n) => /^ssl\.cpython-\d+\.pyc$/.test(n)), 'the standard library is byte-compiled');
  } finally {
    fs.close();
  }
});

test('the second time, the cached image is reused without downloading', { skip, timeout: 300_000 }, async () => {
  if (!image) { await debianImage(); }
  const archives = join(cacheDir(), 'images', 'apt', 'archives');
  const before = readdirSync(archives).map((f) => `${f} ${statSync(join(archives, f)).mtimeMs}`).sort();
  const built = statSync(image?.path ?? '').mtimeMs;
  const lines: string[] = [];
  const again = await debianImage({ log: (line) => lines.push(line) });
  assert.equal(again.built, false);
  assert.equal(again.path, image.path);
  assert.equal(statSync(again.path).mtimeMs, built, 'the image file is untouched');
  assert.deepEqual(readdirSync(archives).map((f) => `${f} ${statSync(join(archives, f)).mtimeMs}`).sort(), before, 'nothing downloaded');
  assert.ok(!lines.some((l) => /downloading/.test(l)) && lines.some((l) => /reused/.test(l)), lines.join('\n'));
});
