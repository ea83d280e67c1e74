// The host side of disks: raw images read and written in place and flushed,
// the snapshot overlay that leaves the image as it was, the checks a disk
// image passes before the guest boots, and the lock that keeps two VMs from
// writing one image (across processes, and freed when its holder is killed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, rmSync, mkdirSync, chmodSync, symlinkSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { openDisk } from '../src/platform/disk/open.js';
import { SnapshotImage, OVERLAY_BLOCK } from '../src/platform/disk/snapshot.js';
import { DiskError } from '../src/platform/disk/image.js';

const dir = mkdtempSync(join(tmpdir(), 'xmhf-disk-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
/** A new file in the test directory with `bytes`. */
function imageFile(bytes: Uint8Array): string {
  const path = join(dir, `image-${++files}.img`);
  writeFileSync(path, bytes);
  return path;
}
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('a raw image reads the file, writes it in place and flushes; a size is whole sectors', async () => {
  const bytes = randomBytes(64 * 1024 + 100);
  const path = imageFile(bytes);
  const disk = await openDisk({ path });
  assert.equal(disk.size, 64 * 1024, 'the 100 bytes past the last whole sector are not part of the disk');
  assert.equal(disk.readOnly, false);
  const got = new Uint8Array(1000);
  disk.read(5000, got);
  assert.deepEqual(got, new Uint8Array(bytes.subarray(5000, 6000)));
  disk.write(512, new Uint8Array(512).fill(0xab));
  disk.flush();
  disk.close();
  disk.close();
  const after = readFileSync(path);
  assert.ok(after.subarray(512, 1024).every((b) => b === 0xab));
  assert.deepEqual(after.subarray(0, 512), bytes.subarray(0, 512), 'bytes around the write are unchanged');
  assert.deepEqual(after.subarray(1024), bytes.subarray(1024));
});

test('ro: the image is read-only and writing it throws; the file is unchanged', async () => {
  const bytes = randomBytes(8192);
  const path = imageFile(bytes);
  const disk = await openDisk({ path, readOnly: true });
  assert.equal(disk.readOnly, true);
  assert.throws(() => disk.write(0, new Uint8Array(512)), /read-only/);
  disk.close();
  assert.equal(sha(readFileSync(path)), sha(bytes));
});

test('snapshot: reads see the guest\'s writes over the image, block edges included, and the image stays byte-identical', async () => {
  const size = 40 * OVERLAY_BLOCK + 512; // a last block the file fills only in part
  const bytes = randomBytes(size);
  const path = imageFile(bytes);
  const disk = await openDisk({ path, snapshot: true });
  assert.ok(disk instanceof SnapshotImage);
  assert.equal(disk.readOnly, false);
  // A model of what the guest should see, under random writes of random sizes and alignments.
  const model = new Uint8Array(bytes);
  let seed = 7;
  const rand = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
  for (let i = 0; i < 300; i++) {
    const at = rand(size);
    const length = Math.min(size - at, 1 + rand(3 * OVERLAY_BLOCK));
    if (rand(2) === 0) {
      const data = randomBytes(length);
      disk.write(at, data);
      model.set(data, at);
    } else {
      const got = new Uint8Array(length);
      disk.read(at, got);
      assert.deepEqual(got, model.subarray(at, at + length), `read of ${length} at ${at} after ${i} operations`);
    }
  }
  const whole = new Uint8Array(size);
  disk.read(0, whole);
  assert.deepEqual(whole, model);
  assert.ok(disk.bitmapBytes <= 4096, 'the overlay\'s bitmap is one 4 KiB piece for this small disk');
  disk.flush();
  disk.close();
  assert.equal(sha(readFileSync(path)), sha(bytes), 'the image is byte-identical');
});

test('snapshot leaves no file behind: the overlay is unlinked as it is created', async () => {
  const own = mkdtempSync(join(dir, 'tmp-'));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = own;
  try {
    const disk = await openDisk({ path: imageFile(new Uint8Array(4096)), snapshot: true });
    disk.write(0, new Uint8Array(4096).fill(1));
    assert.deepEqual(readdirSync(own), [], 'nothing named in $TMPDIR while the overlay is in use');
    disk.close();
  } finally {
    if (saved === undefined) delete process.env.TMPDIR; else process.env.TMPDIR = saved;
  }
});

test('a disk image that cannot be used is refused before boot, with a message naming the file and why', async () => {
  const missing = join(dir, 'missing.img');
  await assert.rejects(openDisk({ path: missing }), (e: Error) => e instanceof DiskError && e.message === `disk image ${missing}: no such file`);
  const sub = join(dir, 'a-directory');
  mkdirSync(sub);
  await assert.rejects(openDisk({ path: sub, readOnly: true }), new RegExp(`${sub}: a directory, not a regular file`));
  await assert.rejects(openDisk({ path: sub }), new RegExp(`${sub}: a directory, not a regular file`));
  await assert.rejects(openDisk({ path: '/dev/null', readOnly: true }), /\/dev\/null: a character device, not a regular file/);
  const tiny = imageFile(new Uint8Array(100));
  await assert.rejects(openDisk({ path: tiny }), new RegExp(`${tiny}: 100 bytes, smaller than one 512-byte sector`));
});

test('an image the user may not write is refused unless opened ro or snapshot', { skip: process.getuid?.() === 0 ? 'running as root, which may write any file' : false }, async () => {
  const path = imageFile(new Uint8Array(4096));
  chmodSync(path, 0o444);
  await assert.rejects(openDisk({ path }), new RegExp(`${path}: permission denied \\(add ,ro or ,snapshot`));
  (await openDisk({ path, readOnly: true })).close();
  (await openDisk({ path, snapshot: true })).close();
  chmodSync(path, 0o000);
  await assert.rejects(openDisk({ path, readOnly: true }), new RegExp(`${path}: permission denied`));
});

test('two writers of one image are refused, by any path to it; readers share it but not with a writer', async () => {
  const path = imageFile(new Uint8Array(4096));
  const link = join(dir, 'symlink.img');
  symlinkSync(path, link);
  const hard = join(dir, 'hardlink.img');
  linkSync(path, hard);
  const writer = await openDisk({ path });
  for (const other of [path, link, hard]) {
    await assert.rejects(openDisk({ path: other }), new RegExp(`${other}: in use for writing by another xmhf process \\(pid ${process.pid}\\)`));
    await assert.rejects(openDisk({ path: other, readOnly: true }), /in use for writing/);
    await assert.rejects(openDisk({ path: other, snapshot: true }), /in use for writing/);
  }
  writer.close();
  const reader1 = await openDisk({ path, readOnly: true });
  const reader2 = await openDisk({ path: link, snapshot: true });
  await assert.rejects(openDisk({ path: hard }), new RegExp(`${hard}: open read-only by another xmhf process \\(pid ${process.pid}\\)`));
  reader1.close();
  await assert.rejects(openDisk({ path }), /open read-only/);
  reader2.close();
  (await openDisk({ path })).close();
});

/** A child process that opens `path` for writing, says "locked", and waits. */
function lockingChild(path: string): Promise<{ pid: number; kill: () => Promise<void> }> {
  const src = new URL('../src/platform/disk/open.ts', import.meta.url).href;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
    `const { openDisk } = await import(${JSON.stringify(src)}); await openDisk({ path: ${JSON.stringify(path)} }); console.log('locked'); setInterval(() => {}, 1000);`],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      if (b.toString().includes('locked')) {
        resolve({ pid: child.pid!, kill: () => new Promise((done) => { child.once('exit', () => done()); child.kill('SIGKILL'); }) });
      }
    });
    child.once('exit', (code) => reject(new Error(`the locking child exited (${code}) before locking`)));
  });
}

test('another process writing the image keeps it from this one; killing that process (kill -9) frees it', async () => {
  const path = imageFile(new Uint8Array(4096));
  const child = await lockingChild(path);
  try {
    await assert.rejects(openDisk({ path }), new RegExp(`in use for writing by another xmhf process \\(pid ${child.pid}\\)`));
    await assert.rejects(openDisk({ path, readOnly: true }), new RegExp(`pid ${child.pid}`));
  } finally {
    await child.kill();
  }
  const disk = await openDisk({ path });
  disk.close();
});
