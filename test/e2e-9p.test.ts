// Host folders in the real guest: Debian's kernel mounts `xmhf run --share`
// directories with its own 9p, 9pnet_virtio and virtio_pci drivers over our
// virtio-9p device. Files go both ways while the guest runs, a read-only
// share refuses writes, and a guest following symlinks and ".." does not
// reach the host's files outside the share.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitStatus } from '../src/cli/exit-status.js';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');

test('the guest reads a share\'s files (sha256sum matches the host), and files go both ways while it runs', async () => {
  const base = mkdtempSync(join(tmpdir(), 'xmhf-e2e-9p-'));
  const share = join(base, 'samples');
  const ro = join(base, 'docs');
  const outside = join(base, 'outside');
  for (const d of [share, ro, outside]) mkdirSync(d);
  const sums = new Map<string, string>();
  for (const [name, size] of [['small.txt', 13], ['page.bin', 4096], ['big.bin', 700_000], ['with space', 1]] as const) {
    const data = randomBytes(size);
    writeFileSync(join(share, name), data);
    sums.set(name, createHash('sha256').update(data).digest('hex'));
  }
  writeFileSync(join(ro, 'readme'), 'read only\n');
  writeFileSync(join(outside, 'secret'), 'host secret\n');
  symlinkSync(outside, join(share, 'abs'));
  symlinkSync('../outside', join(share, 'rel'));
  const script = [
    'cd /mnt/samples && sha256sum small.txt page.bin big.bin "with space"',
    'echo written-by-guest > /mnt/samples/from-guest && mkdir /mnt/samples/gdir && echo nested > /mnt/samples/gdir/n',
    // Tell the host, then wait for its file (the host writes it while the guest runs).
    'touch /mnt/samples/guest-ready',
    'i=0; until [ -f /mnt/samples/from-host ] || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done',
    'echo "host said: $(cat /mnt/samples/from-host)"',
    'cat /mnt/docs/readme',
    'echo x > /mnt/docs/new 2>/dev/null && echo ro-write-succeeded || echo ro-write-refused',
    'cat /mnt/samples/abs/secret /mnt/samples/rel/secret /mnt/samples/../outside/secret /mnt/samples/../../outside/secret 2>/dev/null; echo "escape status $?"',
    'ls -1 /mnt/samples/../',
  ].join('\n');
  const child = spawn(process.execPath, [XMHF, 'run', '--timeout', '400', '--share', `${share}`, '--share', `${ro}:docs,ro`, '--exec', script],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const watch = setInterval(() => {
    if (existsSync(join(share, 'guest-ready')) && !existsSync(join(share, 'from-host'))) writeFileSync(join(share, 'from-host'), 'hello from the host');
  }, 100);
  const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(watch);
  try {
    assert.equal(status, 0, `${stdout}\n${stderr}`);
    const lines = stdout.trim().split('\n');
    for (const [name, sum] of sums) assert.ok(lines.includes(`${sum}  ${name}`), `the guest's sha256sum of ${name} is the host's: ${stdout}`);
    assert.equal(readFileSync(join(share, 'from-guest'), 'utf8'), 'written-by-guest\n');
    assert.equal(readFileSync(join(share, 'gdir', 'n'), 'utf8'), 'nested\n');
    assert.ok(lines.includes('host said: hello from the host'), stdout);
    assert.ok(lines.includes('read only'), stdout);
    assert.ok(lines.includes('ro-write-refused'), stdout);
    assert.deepEqual(readdirSync(ro), ['readme']);
    assert.ok(!stdout.includes('host secret'), `the guest read the host's file outside the share: ${stdout}`);
    assert.ok(lines.includes('escape status 1'), stdout);
    // /mnt/samples/.. is the guest's /mnt, holding the two mount points.
    assert.deepEqual(lines.slice(-2), ['docs', 'samples']);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('bad --share values stop the run before boot with status 2 and a line naming the problem', () => {
  const base = mkdtempSync(join(tmpdir(), 'xmhf-e2e-9p-bad-'));
  writeFileSync(join(base, 'file'), 'x');
  mkdirSync(join(base, 'a', 'same'), { recursive: true });
  mkdirSync(join(base, 'b', 'same'), { recursive: true });
  const run = (...shares: string[]) =>
    spawnSync(process.execPath, [XMHF, 'run', ...shares.flatMap((s) => ['--share', s]), '--exec', 'true'], { encoding: 'utf8', timeout: 60_000 });
  try {
    for (const [shares, message] of [
      [[join(base, 'missing')], /--share .*missing: no such directory/],
      [[join(base, 'file')], /--share .*file: not a directory/],
      [[join(base, 'a', 'same'), join(base, 'b', 'same')], /the tag "same" is already used by --share/],
      [[`${base}:bad tag`], /the tag "bad tag" is not 1 to 64 letters/],
    ] as const) {
      const r = run(...shares);
      assert.equal(r.status, ExitStatus.USAGE, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('with cache=loose the guest creates, renames, links, chmods and truncates files in a share, and the host sees each change', () => {
  const share = mkdtempSync(join(tmpdir(), 'xmhf-e2e-9p-loose-'));
  mkdirSync(join(share, 'sub'));
  writeFileSync(join(share, 'sub', 'a'), 'hello\n');
  const script = [
    'umount /mnt/s && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose s /mnt/s && cd /mnt/s',
    'cat sub/a', 'echo 123 > b', 'mv b c', 'ln -s c d', 'readlink d', 'cat d', 'ln c hard', 'chmod 600 c',
    'mkdir -p e/f && touch e/f/g && rm -r e', 'dd if=/dev/zero of=big bs=64k count=16 2>/dev/null', 'truncate -s 1000 big',
    'sync', 'ls -1',
  ].join(' && ');
  try {
    const r = spawnSync(process.execPath, [XMHF, 'run', '--timeout', '300', '--share', `${share}:s`, '--exec', script], { encoding: 'utf8', timeout: 320_000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(r.stdout.trim().split('\n'), ['hello', 'c', '123', 'big', 'c', 'd', 'hard', 'sub']);
    assert.deepEqual(readdirSync(share).sort(), ['big', 'c', 'd', 'hard', 'sub']);
    assert.equal(readFileSync(join(share, 'c'), 'utf8'), '123\n');
    assert.equal(lstatSync(join(share, 'c')).mode & 0o777, 0o600);
    assert.equal(lstatSync(join(share, 'c')).nlink, 2);
    assert.equal(readlinkSync(join(share, 'd')), 'c');
    assert.equal(lstatSync(join(share, 'big')).size, 1000);
  } finally {
    rmSync(share, { recursive: true, force: true });
  }
});
