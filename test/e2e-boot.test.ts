// End to end: the xmhf command boots Debian's kernel on our CPU with a busybox
// initramfs, runs a shell command in the guest and returns its output and status.
// Needs the default guest (`xmhf guest`, which .ci/run does first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');

function xmhf(...args: string[]) {
  return spawnSync(process.execPath, [XMHF, ...args], { encoding: 'utf8', timeout: 180_000 });
}

test('xmhf run --exec boots Debian\'s kernel, runs the command and exits with its status', () => {
  const r = xmhf('run', '--timeout', '150', '--exec', 'uname -r; date -u +%Y-%m-%d; ls /bin | grep -c . ; exit 7');
  assert.equal(r.status, 7, `status ${r.status}; stderr: ${r.stderr}`);
  const [release, date, commands] = r.stdout.trim().split('\n');
  assert.match(release, /^\d+\.\d+\.\d+-\d+-amd64$/, 'the guest kernel\'s release');
  assert.equal(date, new Date().toISOString().slice(0, 10), 'the guest clock follows the host\'s date (CMOS RTC)');
  assert.ok(Number(commands) > 200, `busybox installed its applets (${commands})`);
});

test('a corrupt kernel fails within seconds with a message naming the problem', () => {
  const bad = join(tmpdir(), `xmhf-bad-kernel-${process.pid}`);
  writeFileSync(bad, Buffer.alloc(4096, 0x5a));
  const started = Date.now();
  const r = xmhf('run', '--kernel', bad);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cannot be booted: no boot sector signature/);
  assert.ok(Date.now() - started < 10_000);
});
