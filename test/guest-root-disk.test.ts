// The root-disk checks done before boot: the ext4 reader against images
// mke2fs writes, and the errors for a file that is not a disk image, an
// image without a Linux root, a partitioned disk and a damaged file system;
// and `--disk debian`'s resolution to the cached image (a snapshot, root=).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, writeSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ext4Image, Ext4FormatError } from '../src/guest/ext4-reader.js';
import { checkLinuxRoot, RootDiskError } from '../src/guest/root-disk.js';
import { resolveDiskNames, checkRootDisk } from '../src/cli/root-disk.js';
import { UsageError } from '../src/cli/usage-error.js';

const mke2fsMissing = spawnSync('mke2fs', ['-V']).error ? 'mke2fs is not installed (apt-get install e2fsprogs)' : false;
const scratch = mkdtempSync(join(tmpdir(), 'xmhf-root-disk-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/** An ext4 image of a tree made by `fill`, written by mke2fs -d. */
function ext4Image(name: string, fill: (root: string) => void, size = '8M'): string {
  const root = join(scratch, `${name}.d`);
  mkdirSync(root, { recursive: true });
  fill(root);
  const image = join(scratch, `${name}.img`);
  const r = spawnSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', root, image, size], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return image;
}

/** A merged-/usr root as Debian lays it out: /bin a symlink to usr/bin, /bin/sh one to dash. */
function linuxRoot(root: string, files = 300): void {
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  writeFileSync(join(root, 'usr/bin/dash'), '#!fake\n');
  chmodSync(join(root, 'usr/bin/dash'), 0o755);
  symlinkSync('dash', join(root, 'usr/bin/sh'));
  symlinkSync('usr/bin', join(root, 'bin'));
  for (const d of ['dev', 'proc', 'sys', 'run', 'etc']) mkdirSync(join(root, d));
  writeFileSync(join(root, 'etc/hostname'), 'xmhf\n');
  // Enough entries that the directory spans blocks (and, with dir_index, gets an htree).
  mkdirSync(join(root, 'etc/many'));
  for (let i = 0; i < files; i++) writeFileSync(join(root, `etc/many/file-with-a-long-name-${i}`), `${i}\n`);
}

test('the ext4 reader follows merged-/usr symlinks and reads directories mke2fs wrote', { skip: mke2fsMissing }, () => {
  const image = ext4Image('root', linuxRoot);
  const fs = new Ext4Image(image);
  try {
    const sh = fs.lookup('/bin/sh');
    assert.ok(sh && (sh.mode & 0o170000) === 0o100000 && (sh.mode & 0o777) === 0o755, 'bin/sh -> usr/bin/sh -> dash, a regular executable');
    assert.equal(new TextDecoder().decode(fs.data(fs.lookup('/etc/hostname')!)), 'xmhf\n');
    assert.equal(new TextDecoder().decode(fs.data(fs.lookup('/etc/many/file-with-a-long-name-299')!)), '299\n');
    assert.equal(fs.list(fs.lookup('/etc/many')!).size, 300 + 2);
    assert.equal(fs.lookup('/etc/nothing'), undefined);
    assert.equal(fs.lookup('/etc/hostname/x'), undefined, 'a file is not a directory');
    assert.equal(fs.lookup('/usr/../bin/../../etc/hostname')?.number, fs.lookup('/etc/hostname')?.number);
  } finally {
    fs.close();
  }
  checkLinuxRoot(image);
});

test('a root check names what is wrong: not a disk image, no Linux root, partitioned, damaged', { skip: mke2fsMissing }, () => {
  const zeros = join(scratch, 'zeros.img');
  writeFileSync(zeros, Buffer.alloc(1 << 20));
  assert.throws(() => checkLinuxRoot(zeros), /zeros\.img is not an ext4 disk image: no ext2\/3\/4 superblock/);
  const tiny = join(scratch, 'tiny.txt');
  writeFileSync(tiny, 'hello\n');
  assert.throws(() => checkLinuxRoot(tiny), /not an ext4 disk image: 6 bytes: too small/);
  const mbr = Buffer.alloc(1 << 20);
  mbr[510] = 0x55; mbr[511] = 0xaa;
  writeFileSync(join(scratch, 'mbr.img'), mbr);
  assert.throws(() => checkLinuxRoot(join(scratch, 'mbr.img')), /partition table or boot sector/);
  assert.throws(() => checkLinuxRoot(join(scratch, 'absent.img')), /absent\.img: cannot read it \(ENOENT/);

  const data = ext4Image('data', (root) => writeFileSync(join(root, 'notes.txt'), 'data only\n'));
  assert.throws(() => checkLinuxRoot(data), /has no Linux root: no executable \/bin\/sh/);
  const noDirs = ext4Image('nodirs', (root) => { mkdirSync(join(root, 'bin')); writeFileSync(join(root, 'bin/sh'), ''); chmodSync(join(root, 'bin/sh'), 0o755); });
  assert.throws(() => checkLinuxRoot(noDirs), /no \/dev, \/proc, \/sys, \/run directories/);
  const loop = ext4Image('loop', (root) => { symlinkSync('sh', join(root, 'sh-loop')); mkdirSync(join(root, 'bin')); symlinkSync('../sh-loop', join(root, 'bin/sh')); symlinkSync('bin/sh', join(root, 'sh')); });
  assert.throws(() => checkLinuxRoot(loop), /damaged \(\/bin\/sh: too many symlinks\)/);
});

test('a corrupted image is an error naming it, never a crash (2,000 random corruptions of its metadata)', { skip: mke2fsMissing }, () => {
  const image = ext4Image('fuzz', (root) => linuxRoot(root, 40), '2M');
  const good = readFileSync(image);
  // The image's non-zero bytes: its metadata (superblock, descriptors, bitmaps, inodes, directories) and the few file bytes.
  const used: number[] = [];
  good.forEach((b, i) => { if (b !== 0) used.push(i); });
  const fd = openSync(image, 'r+');
  let seed = 12345;
  const rand = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
  let rejected = 0;
  try {
    for (let i = 0; i < 2000; i++) {
      const changed = Array.from({ length: 1 + rand(4) }, () => used[rand(used.length)]);
      for (const at of changed) writeSync(fd, Buffer.of(rand(256)), 0, 1, at);
      try {
        checkLinuxRoot(image);
      } catch (e) {
        assert.ok(e instanceof RootDiskError, `corruption ${i}: ${(e as Error).stack}`);
        rejected++;
      }
      for (const at of changed) writeSync(fd, good, at, 1, at);
    }
  } finally {
    closeSync(fd);
  }
  assert.ok(rejected > 20, `${rejected} of 2000 corruptions were caught`);
});

test('the reader rejects a superblock with impossible geometry', { skip: mke2fsMissing }, () => {
  const copy = readFileSync(ext4Image('geometry', (root) => linuxRoot(root, 10), '2M'));
  copy.writeUInt32LE(40, 1024 + 0x18); // log block size
  writeFileSync(join(scratch, 'geometry-bad.img'), copy);
  assert.throws(() => new Ext4Image(join(scratch, 'geometry-bad.img')), Ext4FormatError);
});

test('--disk debian: the cached image as a snapshot, made the root; a clear error before it is built', () => {
  const saved = process.env.XMHF_CACHE;
  const cache = join(scratch, 'cache');
  process.env.XMHF_CACHE = cache;
  try {
    assert.throws(() => resolveDiskNames(['debian'], undefined), (e: Error) => e instanceof UsageError && /run "xmhf image debian" first/.test(e.message));
    mkdirSync(join(cache, 'images'), { recursive: true });
    const image = join(cache, 'images', 'debian-0123456789abcdef.img');
    writeFileSync(image, '');
    writeFileSync(join(cache, 'images', 'debian'), 'debian-0123456789abcdef.img\n');
    assert.deepEqual(resolveDiskNames(['debian'], undefined), { disks: [`${image},snapshot`], append: 'root=/dev/vda' });
    assert.deepEqual(resolveDiskNames(['data.img', 'debian,ro'], 'quiet'), { disks: ['data.img', `${image},ro`], append: 'root=/dev/vdb ro' });
    assert.deepEqual(resolveDiskNames(['debian'], 'root=/dev/vdb'), { disks: [`${image},snapshot`], append: undefined }, 'the user chose the root');
    assert.deepEqual(resolveDiskNames(['a.img'], undefined), { disks: ['a.img'], append: undefined });
    assert.throws(() => resolveDiskNames(['debian,rw'], undefined), /only ro or snapshot/);
  } finally {
    if (saved === undefined) delete process.env.XMHF_CACHE; else process.env.XMHF_CACHE = saved;
  }
});

test('root=/dev/vdX is checked against the disk it names before boot', { skip: mke2fsMissing }, () => {
  const root = ext4Image('cli-root', linuxRoot);
  const data = ext4Image('cli-data', (r) => writeFileSync(join(r, 'x'), 'x'));
  checkRootDisk([`${data},ro`, `${root},snapshot`], 'console=ttyS0 root=/dev/vdb');
  checkRootDisk([data], 'console=ttyS0', ); // no root: nothing to check
  assert.throws(() => checkRootDisk([`${data},snapshot`], 'root=/dev/vda'), (e: Error) => e instanceof UsageError && /cli-data\.img \(root=\/dev\/vda\) has no Linux root/.test(e.message));
  assert.throws(() => checkRootDisk([root], 'root=/dev/vdc'), /one --disk, so no \/dev\/vdc/);
});
