// End to end: `xmhf run --disk debian` boots Debian's kernel with the default
// initramfs, which mounts the Debian root disk (virtio-blk) and switch_roots
// into it; Python from that disk runs with ssl and sqlite3, the command's
// output and status come back, the cached image is left unchanged, and a
// disk that is not a Linux root is refused before boot.
// Needs `xmhf image debian` (which .ci/run does first); skips, saying so, without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentDebianImage } from '../src/guest/debian-image.js';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');
const xmhf = (...args: string[]) => spawnSync(process.execPath, [XMHF, ...args], { encoding: 'utf8', timeout: 280_000 });
const image = currentDebianImage();
const skip = image ? false : 'no Debian image in the cache (run `node bin/xmhf.js image debian` first)';
const digest = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('Python with ssl and sqlite3 runs from the Debian disk; its output and exit status come back; the image is unchanged', { skip, timeout: 300_000 }, () => {
  const before = digest(image!);
  const mtime = statSync(image!).mtimeMs;
  const r = xmhf('run', '--timeout', '250', '--disk', 'debian', '--exec',
    'python3 -c "import ssl, sqlite3; print(1)"; . /etc/os-release; echo "$VERSION_CODENAME $(id -un) $(readlink -f /bin/sh)"; ' +
    'mount | grep " / "; command -v xmhf-hypercall; echo written > /root/scratch; sync; exit 7');
  assert.equal(r.status, 7, `status ${r.status}; stderr: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], '1', 'python3 imported ssl and sqlite3 and printed 1');
  assert.equal(lines[1], 'bookworm root /usr/bin/dash', 'the command ran on the Debian root, as root, under its /bin/sh');
  assert.match(lines[2], /^\/dev\/vda on \/ type ext4 \(rw/, 'the root is the virtio disk, mounted read-write');
  assert.equal(lines[3], '/run/xmhf/bin/xmhf-hypercall', 'xmhf-hypercall is on the PATH of the Debian root');
  assert.equal(statSync(image!).mtimeMs, mtime);
  assert.equal(digest(image!), before, 'the guest\'s write went to the snapshot, not the cached image');
});

test('without --exec, a root bash on the Debian disk reads the console, no login; exit powers off with status 0', { skip, timeout: 300_000 }, () => {
  const r = spawnSync(process.execPath, [XMHF, 'run', '--timeout', '250', '--disk', 'debian'], {
    encoding: 'utf8', timeout: 280_000, input: 'echo "shell=$0 user=$(id -un) host=$(uname -n) $((6*7))"\nexit\n',
  });
  assert.equal(r.status, 0, `status ${r.status}; stderr: ${r.stderr}`);
  assert.match(r.stdout, /^shell=\/bin\/bash user=root host=xmhf 42\r?$/m);
});

test('--share with the Debian disk: the share is mounted at /mnt/TAG on the Debian root, both ways', { skip, timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-e2e-debian-share-'));
  try {
    writeFileSync(join(dir, 'from-host.txt'), 'host says hi\n');
    const r = xmhf('run', '--timeout', '250', '--disk', 'debian', '--share', `${dir}:s`, '--exec',
      'cat /mnt/s/from-host.txt; python3 -c "open(\'/mnt/s/from-guest.txt\', \'w\').write(\'guest says hi\')"; grep -c " /mnt/s 9p " /proc/mounts');
    assert.equal(r.status, 0, `status ${r.status}; stderr: ${r.stderr}`);
    assert.deepEqual(r.stdout.trim().split('\n'), ['host says hi', '1']);
    assert.equal(readFileSync(join(dir, 'from-guest.txt'), 'utf8'), 'guest says hi');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a disk that is not a Linux root is refused before boot, with one line naming it', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-e2e-root-'));
  try {
    const file = join(dir, 'not-a-disk.img');
    writeFileSync(file, Buffer.alloc(1 << 20, 0x41));
    const r = xmhf('run', '--disk', file, '--append', 'root=/dev/vda', '--exec', 'true');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /not-a-disk\.img \(root=\/dev\/vda\) is not an ext4 disk image/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
