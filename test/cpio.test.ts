// The initramfs writer produces archives GNU cpio reads back exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, statSync, rmSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpioArchive, initramfs, S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR } from '../src/guest/cpio.js';

// An optional cross-check: CI installs cpio (.ci/run); elsewhere the test says why it did not run.
const cpioMissing = spawnSync('cpio', ['--version']).status === 0 ? false : 'GNU cpio is not installed (apt-get install cpio)';

test('GNU cpio extracts files, directories, symlinks and permissions as written', { skip: cpioMissing }, () => {
  const big = new Uint8Array(70001).map((_, i) => (i * 7) & 0xff); // not a multiple of 4
  const archive = initramfs([
    { path: 'bin', mode: S_IFDIR | 0o755 },
    { path: 'bin/tool', mode: S_IFREG | 0o755, data: big },
    { path: 'init', mode: S_IFREG | 0o755, data: '#!/bin/sh\necho hi\n' },
    { path: 'sh', mode: S_IFLNK | 0o777, data: 'bin/tool' },
    { path: 'dev', mode: S_IFDIR | 0o755 },
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-cpio-'));
  try {
    execFileSync('cpio', ['-idm', '--quiet'], { cwd: dir, input: gunzipSync(archive), stdio: ['pipe', 'pipe', 'pipe'] });
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'bin/tool'))), big);
    assert.equal(readFileSync(join(dir, 'init'), 'utf8'), '#!/bin/sh\necho hi\n');
    assert.equal(statSync(join(dir, 'init')).mode & 0o777, 0o755);
    assert.equal(readlinkSync(join(dir, 'sh')), 'bin/tool');
    assert.ok(statSync(join(dir, 'dev')).isDirectory());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('device nodes carry their numbers and the archive ends with the trailer', () => {
  const a = cpioArchive([{ path: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 }]);
  const text = new TextDecoder().decode(a);
  assert.ok(text.startsWith('070701'));
  // rdevmajor and rdevminor are the 10th and 11th 8-digit fields after the magic.
  assert.equal(text.slice(6 + 8 * 9, 6 + 8 * 10), '00000005');
  assert.equal(text.slice(6 + 8 * 10, 6 + 8 * 11), '00000001');
  assert.ok(text.includes('TRAILER!!!'));
  assert.equal(a.length % 4, 0);
});

test('paths that would escape the root or repeat are refused', () => {
  assert.throws(() => cpioArchive([{ path: '/etc/passwd', mode: S_IFREG }]), /bad path/);
  assert.throws(() => cpioArchive([{ path: 'a/../../x', mode: S_IFREG }]), /bad path/);
  assert.throws(() => cpioArchive([{ path: 'x', mode: S_IFREG }, { path: 'x', mode: S_IFREG }]), /appears twice/);
});
