// End to end: Debian's kernel finds our virtio-pci entropy device with its
// own virtio_pci and virtio_rng drivers, uses MSI-X, and /dev/hwrng delivers
// bytes from the host's CSPRNG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');
const xmhf = (...args: string[]) => spawnSync(process.execPath, [XMHF, ...args], { encoding: 'utf8', timeout: 180_000 });

test('the guest reads 64 random bytes from /dev/hwrng through virtio-rng over virtio-pci with MSI-X', () => {
  const r = xmhf('run', '--timeout', '150', '--exec',
    'cat /sys/class/misc/hw_random/rng_current; head -c 64 /dev/hwrng | od -An -v -tx1; grep -c PCI-MSI /proc/interrupts');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^virtio_rng\.\d+$/, 'the kernel chose the virtio entropy source');
  const bytes = lines.slice(1, -1).join(' ').trim().split(/\s+/);
  assert.equal(bytes.length, 64, r.stdout);
  assert.ok(new Set(bytes).size > 16, `64 bytes that look random: ${bytes.join(' ')}`);
  assert.ok(Number(lines.at(-1)) >= 2, 'config and request-queue vectors are MSI-X messages');
});

