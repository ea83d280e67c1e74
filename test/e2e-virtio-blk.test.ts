// End to end: Debian's kernel drives our virtio-blk over the real virtio-pci
// transport and queue. The guest reads a raw image byte for byte, writes it
// and syncs (the host file has the data), sees snapshot writes that leave the
// image byte-identical and an ro disk it cannot write; data it synced
// survives kill -9 of the VMM and a second writer of the image is refused;
// and a disk read into a page a hypapp forbids to devices fails with the
// page unchanged while the hypapp hears of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { runGuest, buildGuestProgram } from './support/guest-run.js';
import { S_IFREG } from '../src/guest/cpio.js';
import { defineHypapp, type DmaViolationEvent } from '../src/hypapp/api.js';
import { toolUnavailable } from '../tools/toolchain.js';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');
const xmhf = (...args: string[]) => spawnSync(process.execPath, [XMHF, ...args], { encoding: 'utf8', timeout: 240_000 });
const dir = mkdtempSync(join(tmpdir(), 'xmhf-e2e-blk-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let files = 0;
function image(bytes: Uint8Array): string {
  const path = join(dir, `disk-${++files}.img`);
  writeFileSync(path, bytes);
  return path;
}
/** 16 bytes of text, repeated over `sectors` sectors: what the guest writes. */
const PATTERN = 'xmhf-blk-test-ok';

test('the guest reads the image byte for byte, and what it writes and syncs is in the host file', () => {
  const bytes = randomBytes(8 << 20);
  const path = image(bytes);
  const r = xmhf('run', '--timeout', '200', '--disk', path, '--exec', [
    'cat /sys/block/vda/size',
    'dd if=/dev/vda bs=1M 2>/dev/null | sha256sum',
    `yes ${PATTERN.slice(0, -1)} | head -c 4096 | dd of=/dev/vda bs=4096 seek=100 2>/dev/null`,
    'sync',
    'cat /sys/block/vda/serial; echo',
  ].join('; '));
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const [sectors, sum, serial] = r.stdout.trim().split('\n');
  assert.equal(sectors, String(bytes.length / 512));
  assert.equal(sum.split(' ')[0], sha(bytes), 'the guest read the image as the host has it');
  assert.match(serial, /^xmhf[0-9a-f]{16}$/, 'GET_ID gave the serial');
  const after = readFileSync(path);
  assert.equal(after.subarray(100 * 4096, 101 * 4096).toString('latin1'), `${PATTERN.slice(0, -1)}\n`.repeat(256));
  after.fill(0, 100 * 4096, 101 * 4096);
  const expect = Buffer.from(bytes);
  expect.fill(0, 100 * 4096, 101 * 4096);
  assert.ok(after.equals(expect), 'nothing else in the file changed');
});

test('snapshot: the guest reads back its writes, ro: the guest cannot write; both images stay byte-identical', () => {
  const a = randomBytes(1 << 20), b = randomBytes(1 << 20);
  const snap = image(a), ro = image(b);
  const r = xmhf('run', '--timeout', '200', '--disk', `${snap},snapshot`, '--disk', `${ro},ro`, '--exec', [
    `yes ${PATTERN.slice(0, -1)} | head -c 8192 | dd of=/dev/vda bs=4096 seek=3 2>/dev/null; sync; echo 3 > /proc/sys/vm/drop_caches`,
    'dd if=/dev/vda bs=4096 skip=3 count=2 2>/dev/null | sha256sum',
    'dd if=/dev/vda bs=1M 2>/dev/null | sha256sum',
    'blockdev --getro /dev/vdb',
    `echo x | dd of=/dev/vdb bs=512 seek=0 conv=sync,fsync 2>&1; echo "write status $?"`,
    'dd if=/dev/vdb bs=1M 2>/dev/null | sha256sum',
  ].join('; '));
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const lines = r.stdout.trim().split('\n');
  const written = Buffer.from(`${PATTERN.slice(0, -1)}\n`.repeat(512));
  assert.equal(lines[0].split(' ')[0], sha(written), 'the guest read back what it wrote to the snapshot');
  const seen = Buffer.from(a);
  written.copy(seen, 3 * 4096);
  assert.equal(lines[1].split(' ')[0], sha(seen), 'the rest of the snapshot is the image');
  assert.equal(lines[2], '1', 'the ro disk is read-only in the guest');
  assert.match(lines.slice(3, -2).join('\n'), /Operation not permitted|Read-only file system|Permission denied/);
  assert.match(lines.at(-2)!, /^write status [1-9]/);
  assert.equal(lines.at(-1)!.split(' ')[0], sha(b));
  assert.equal(sha(readFileSync(snap)), sha(a), 'the snapshot image is byte-identical');
  assert.equal(sha(readFileSync(ro)), sha(b), 'the ro image is byte-identical');
});

test('data the guest synced survives kill -9 of the VMM; while it runs, a second VM cannot open the image', async () => {
  const path = image(new Uint8Array(1 << 20));
  const child = spawn(process.execPath, [XMHF, 'run', '--timeout', '300', '--disk', path, '--exec',
    `yes ${PATTERN.slice(0, -1)} | head -c 65536 | dd of=/dev/vda bs=4096 seek=16 2>/dev/null; sync; echo SYNCED; sleep 600`],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); if (out.includes('SYNCED')) resolve(); });
    child.once('exit', () => reject(new Error(`the VM ended before it synced:\n${out}\n${err}`)));
  });
  try {
    const second = xmhf('run', '--disk', path, '--exec', 'true');
    assert.equal(second.status, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`disk image ${path}: in use for writing by another xmhf process \\(pid ${child.pid}\\)`));
    const reader = xmhf('run', '--disk', `${path},ro`, '--exec', 'true');
    assert.equal(reader.status, 2, 'nor read it while it is written');
  } finally {
    child.kill('SIGKILL');
  }
  assert.equal(await exited, 'SIGKILL');
  const expect = `${PATTERN.slice(0, -1)}\n`.repeat(4096);
  assert.equal(readFileSync(path).subarray(16 * 4096, 32 * 4096).toString('latin1'), expect, 'the host file has what the guest synced');
  const again = xmhf('run', '--timeout', '200', '--disk', `${path},ro`, '--exec', 'dd if=/dev/vda bs=4096 skip=16 count=16 2>/dev/null | sha256sum');
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.stdout.trim().split(' ')[0], sha(Buffer.from(expect)), 'a new VM reads it back (the killed one left no lock)');
});

test('--disk: bad syntax is a usage error; a missing, directory or empty image is refused before boot, naming the file', () => {
  const cases: Array<[string, RegExp]> = [
    [`${image(new Uint8Array(4096))},rw`, /--disk .*,rw: unknown option "rw" \(--disk FILE\[,ro\]\[,snapshot\]\)/],
    [',ro', /--disk ,ro: no file/],
    [join(dir, 'missing.img'), /disk image .*missing\.img: no such file/],
    [join(dir, 'sub'), /disk image .*sub: a directory, not a regular file/],
    [image(new Uint8Array(0)), /disk image .*: 0 bytes, smaller than one 512-byte sector/],
  ];
  mkdirSync(join(dir, 'sub'));
  for (const [spec, message] of cases) {
    const r = xmhf('run', '--disk', spec, '--exec', 'true');
    assert.equal(r.status, 2, `${spec}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stdout, /XMHF-READY/);
  }
});

test('a disk read into a page a hypapp forbids to devices fails with EIO, the page unchanged, and the hypapp is told', { skip: toolUnavailable('gcc') }, async () => {
  const bytes = randomBytes(1 << 20);
  const path = image(bytes);
  const program = buildGuestProgram(join(import.meta.dirname, 'fixtures', 'dma-read.c'));
  const violations: DmaViolationEvent[] = [];
  let page = -1n;
  const guard = defineHypapp({
    name: 'dma-guard',
    onHypercall(x, call) {
      if (call.fn === 0x5b10) {
        page = call.cpu.translate(call.args[0]).gpa & ~0xfffn;
        x.protectFromDma(page, 4096);
        return page;
      }
      if (call.fn === 0x5b11) { x.unprotectFromDma(page, 4096); return 0n; }
      return undefined;
    },
    onDmaViolation(_x, e) { violations.push({ ...e }); },
  });
  const r = await runGuest({
    hypapps: [guard], disks: [{ path, readOnly: true }],
    files: [{ path: 'bin/dma-read', mode: S_IFREG | 0o755, data: program }],
    command: 'dma-read',
  });
  assert.equal(r.status, 0, `${r.stop.reason} ${r.stop.detail ?? ''}\n${r.output}`);
  const lines = r.output.split('\n').filter((l) => /^(protected|refused|allowed) /.test(l));
  assert.equal(lines[0], `protected ${page.toString(16).padStart(12, '0')}`);
  assert.equal(lines[1], 'refused -5 unchanged 1', 'EIO, and the page still holds what the program put there');
  assert.equal(lines[2], `allowed 4096 ${bytes.subarray(0, 16).toString('hex')}`, 'once allowed, the same read lands');
  assert.ok(violations.length >= 1, 'the hypapp heard of the refused access');
  for (const v of violations) {
    assert.equal(v.device, 'virtio-blk0');
    assert.equal(v.direction, 'write');
    assert.ok(BigInt(v.gpa) >= page && BigInt(v.gpa) < page + 4096n, `the refused access was to the protected page: ${JSON.stringify(v, (_k, x) => typeof x === 'bigint' ? x.toString(16) : x)}`);
  }
});
