// The guest cache's records (kernel-package, packages/*.d/.done): written
// atomically and only when they change, so a complete cache can be read-only;
// an empty or corrupt kernel-package record stops the run with a message
// (it no longer switches kernels silently) and `xmhf guest` repairs it.
// Each test works on a scratch cache of hard links to the shared cache's
// files (nothing here writes to those files: records are replaced by rename).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheDir } from '../src/guest/debian.js';
import { writeCacheRecord } from '../src/guest/cache-record.js';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');
const SHARED = cacheDir();
const RECORD = 'kernel-package';
const sharedRecord = existsSync(join(SHARED, RECORD)) ? readFileSync(join(SHARED, RECORD), 'utf8') : undefined;
const skip = sharedRecord === undefined ? `no default guest in ${SHARED} (xmhf guest makes it)` : false;
const scratchRoot = mkdtempSync(join(tmpdir(), 'xmhf-cache-records-'));
chmodSync(scratchRoot, 0o755); // the read-only test runs xmhf as another user
process.on('exit', () => rmSync(scratchRoot, { recursive: true, force: true }));

/** A complete guest cache of its own: directories new, files hard links to the shared cache's (copies across file systems), the record a copy. */
function scratchCache(name: string): string {
  const dir = join(scratchRoot, name);
  mkdirSync(join(dir, 'packages'), { recursive: true });
  for (const f of readdirSync(SHARED)) {
    // images/ (xmhf image debian's root disks, hundreds of MB) is not part of the default guest.
    if (f === RECORD || f === 'packages' || f === 'images' || f.endsWith('.tmp')) continue;
    linkOrCopy(join(SHARED, f), join(dir, f));
  }
  for (const d of readdirSync(join(SHARED, 'packages')).filter((f) => f.endsWith('.d'))) {
    execFileSync('cp', ['-al', join(SHARED, 'packages', d), join(dir, 'packages', d)]);
  }
  writeFileSync(join(dir, RECORD), sharedRecord!);
  return dir;
}

function linkOrCopy(from: string, to: string): void {
  try { linkSync(from, to); } catch { execFileSync('cp', ['-a', from, to]); }
}

function xmhf(args: string[], cache: string, asUser?: number) {
  return spawnSync(process.execPath, [XMHF, ...args], {
    encoding: 'utf8', timeout: 170_000, env: { ...process.env, XMHF_CACHE: cache },
    ...(asUser === undefined ? {} : { uid: asUser, gid: asUser }),
  });
}

test('a run leaves an unchanged record alone (it used to rewrite it every time)', { skip }, () => {
  const cache = scratchCache('unchanged');
  const record = join(cache, RECORD);
  const past = new Date('2020-01-01T00:00:00Z');
  utimesSync(record, past, past);
  const before = statSync(record);
  const r = xmhf(['run', '--timeout', '150', '--exec', 'echo ok'], cache);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'ok\n');
  const after = statSync(record);
  assert.equal(after.mtimeMs, before.mtimeMs, 'not written');
  assert.equal(after.ino, before.ino, 'not replaced');
});

test('an empty or corrupt kernel record stops the run with a message naming it; the record is left for xmhf guest', { skip }, () => {
  for (const [name, text, why] of [['empty', '', /is empty/], ['corrupt', 'linux-image-\u0000garbage\n', /does not name a kernel package/]] as const) {
    const cache = scratchCache(name);
    writeFileSync(join(cache, RECORD), text);
    const r = xmhf(['run', '--exec', 'echo ok'], cache);
    assert.equal(r.status, 2, `${name}: status ${r.status}; stderr: ${r.stderr}`);
    assert.match(r.stderr.split('\n')[0], /^xmhf: the cache record .*kernel-package /);
    assert.match(r.stderr, why);
    assert.match(r.stderr, /run "xmhf guest" to repair it/);
    assert.equal(r.stdout, '', 'nothing ran');
    assert.equal(readFileSync(join(cache, RECORD), 'utf8'), text, 'the record is not replaced behind the user\'s back');
  }
});

test('xmhf guest repairs an empty record and says so', { skip }, (t) => {
  // Only when apt still offers the cached kernel: otherwise the repair would download a new one.
  const apt = /Depends: (linux-image-[0-9]\S*-amd64)/.exec(spawnSync('apt-cache', ['depends', 'linux-image-amd64'], { encoding: 'utf8' }).stdout ?? '')?.[1];
  if (apt !== sharedRecord!.trim()) { t.skip(`apt offers ${apt ?? 'no kernel'}, the cache holds ${sharedRecord!.trim()}`); return; }
  const cache = scratchCache('repair');
  writeFileSync(join(cache, RECORD), '');
  const r = xmhf(['guest'], cache);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`kernel-package is empty; repaired: ${apt}`));
  assert.equal(readFileSync(join(cache, RECORD), 'utf8'), `${apt}\n`);
  assert.deepEqual(readdirSync(cache).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
});

test('a read-only cache holding a complete guest still runs', { skip }, () => {
  const cache = scratchCache('read-only');
  const dirs = [cache, join(cache, 'packages')];
  // Root writes anywhere: then run xmhf as nobody, for whom the root-owned cache is read-only.
  const asUser = process.getuid?.() === 0 ? 65534 : undefined;
  if (asUser === undefined) for (const d of dirs) chmodSync(d, 0o555);
  try {
    const r = xmhf(['run', '--timeout', '150', '--exec', 'echo ok'], cache, asUser);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'ok\n');
  } finally {
    for (const d of dirs) chmodSync(d, 0o755);
  }
});

test('writeCacheRecord replaces a record by rename, only when it changes, leaving no temporary file', () => {
  const dir = mkdtempSync(join(scratchRoot, 'unit-'));
  const path = join(dir, 'record');
  assert.equal(writeCacheRecord(path, 'one\n'), true);
  const first = statSync(path);
  assert.equal(writeCacheRecord(path, 'one\n'), false, 'unchanged: not written');
  assert.equal(statSync(path).ino, first.ino);
  assert.equal(writeCacheRecord(path, 'two\n'), true);
  assert.notEqual(statSync(path).ino, first.ino, 'a new file renamed over the old one');
  assert.equal(readFileSync(path, 'utf8'), 'two\n');
  assert.deepEqual(readdirSync(dir), ['record']);
});
