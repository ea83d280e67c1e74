// Bad input on the xmhf command line and in the files it names: each gets a
// one-line message naming the flag (and the file), and status 2, at once:
// nothing is read without bound, nothing hangs, nothing is overwritten.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, mkdirSync, truncateSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vmlinux } from './support/vmlinux.js';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');
const FIXTURES = join(import.meta.dirname, 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'xmhf-cli-input-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** A kernel that loads and triple-faults at once (INT3, no IDT): a run that gets past its input ends within a second. */
const KERNEL = join(dir, 'int3-vmlinux');
writeFileSync(KERNEL, vmlinux({ entry: 0x1000000 }));
const FIFO = join(dir, 'fifo');
execFileSync('mkfifo', [FIFO]);

/** Run xmhf; a hang (reading /dev/zero for ever, blocking on a FIFO) ends at 20 s with status null. */
function xmhf(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [XMHF, ...args], { encoding: 'utf8', timeout: 20_000, cwd: dir, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, firstLine: r.stderr.split('\n')[0] };
}

/** Bad input: status 2 and a single line of error that matches `message`. */
function refused(args: string[], message: RegExp, env?: Record<string, string>) {
  const r = xmhf(args, env);
  assert.equal(r.status, 2, `xmhf ${args.join(' ')}: status ${r.status}; stderr: ${r.stderr.slice(0, 500)}`);
  assert.match(r.firstLine, message);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
  return r;
}

test('a character device or FIFO given as a file is refused before it is read, naming the flag and the path', () => {
  refused(['run', '--kernel', '/dev/zero'], /^xmhf: --kernel \/dev\/zero: a character device, not a regular file$/);
  refused(['run', '--kernel', KERNEL, '--initrd', '/dev/zero'], /^xmhf: --initrd \/dev\/zero: a character device/);
  refused(['run', '--kernel', FIFO], /^xmhf: --kernel .*fifo: a FIFO, not a regular file$/);
  refused(['run', '--kernel', KERNEL, '--hypapp', '/dev/zero'], /^xmhf: --hypapp \/dev\/zero: a character device/);
  refused(['run', '--kernel', KERNEL, '--hypapp-config', '/dev/zero'], /^xmhf: --hypapp-config \/dev\/zero: a character device/);
  refused(['run', '--kernel', KERNEL, '--hypapp-config', FIFO], /^xmhf: --hypapp-config .*fifo: a FIFO/);
  refused(['run', '--kernel', dir], /^xmhf: --kernel .*: a directory, not a regular file$/);
});

test('a kernel bigger than the guest RAM is refused before it is read', () => {
  const big = join(dir, 'big-kernel');
  writeFileSync(big, '');
  truncateSync(big, 3 * 1024 * 1024); // sparse: nothing is written
  refused(['run', '--mem', '2M', '--kernel', big], /^xmhf: --kernel .*big-kernel: 3 MiB, more than the guest RAM \(--mem\) \(2 MiB\)$/);
});

test('a kernel command line longer than the kernel takes, in bytes, is refused (2,200 bytes of é is 1,100 characters)', () => {
  refused(['run', '--kernel', KERNEL, '--append', 'é'.repeat(1100)], /^xmhf: the kernel command line is 22\d\d bytes \(UTF-8\); this kernel takes at most 2047$/);
});

test('a hypapp factory that throws, and null or malformed --hypapp-config files, are named in the message', () => {
  refused(['run', '--kernel', KERNEL, '--hypapp', join(FIXTURES, 'throwing-factory-hypapp.ts')],
    /^xmhf: --hypapp .*throwing-factory-hypapp\.ts: its factory threw: this factory refuses its options$/);
  const config = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };
  refused(['run', '--kernel', KERNEL, '--hypapp-config', config('null.json', 'null')],
    /^xmhf: --hypapp-config .*null\.json: expected \{ "hypapps": \[.*\] \}, got null$/);
  refused(['run', '--kernel', KERNEL, '--hypapp-config', config('cut.json', '{"hypapps": [')], /^xmhf: --hypapp-config .*cut\.json: not JSON: /);
  refused(['run', '--kernel', KERNEL, '--hypapp-config', config('entry.json', '{"hypapps": [null]}')],
    /^xmhf: --hypapp-config .*entry\.json: hypapps\[0\] must be an object/);
  refused(['run', '--kernel', KERNEL, '--hypapp-config', config('options.json', '{"hypapps": [{"hypapp": "hello", "options": "x"}]}')],
    /^xmhf: --hypapp-config .*options\.json: hypapps\[0\]\.options must be an object/);
});

test('--events to a missing directory or to a directory is refused before the guest boots', () => {
  refused(['run', '--kernel', KERNEL, '--events', join(dir, 'no-such-dir', 'events.jsonl')], /^xmhf: --events .*no-such-dir.*: no such directory /);
  refused(['run', '--kernel', KERNEL, '--events', dir], /^xmhf: --events .*: a directory; give a file name \(or - for standard output\)$/);
});

test('--events to a file that cannot be written: one line naming --events, status 2', { skip: !existsSync('/sys/kernel/notes') && 'no /sys/kernel/notes (read-only even for root)' }, () => {
  refused(['run', '--kernel', KERNEL, '--events', '/sys/kernel/notes'], /^xmhf: --events \/sys\/kernel\/notes: cannot open it: permission denied$/);
});

test('--events inside the guest cache is refused and the cached file is left alone', () => {
  const cache = join(dir, 'cache');
  mkdirSync(cache, { recursive: true });
  const cached = join(cache, 'vmlinux-cached');
  writeFileSync(cached, 'a cached kernel');
  refused(['run', '--kernel', KERNEL, '--events', cached], /^xmhf: --events .*vmlinux-cached: inside the guest cache .*; write the events elsewhere$/, { XMHF_CACHE: cache });
  assert.equal(readFileSync(cached, 'utf8'), 'a cached kernel');
});

test('--events opens its file only once the VM starts: a run that fails before leaves the file as it was', () => {
  const events = join(dir, 'kept.jsonl');
  writeFileSync(events, 'earlier records\n');
  const corrupt = join(dir, 'corrupt-kernel');
  writeFileSync(corrupt, Buffer.alloc(4096, 0x5a));
  const r = xmhf(['run', '--kernel', corrupt, '--events', events]);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(readFileSync(events, 'utf8'), 'earlier records\n');
});

test('--events - writes the hypapps\' records to standard output; a file gets them too', () => {
  const emit = join(FIXTURES, 'emit-hypapp.ts');
  const r = xmhf(['run', '--kernel', KERNEL, '--hypapp', emit, '--events', '-']);
  assert.equal(r.status, 3, `the kernel triple-faults; stderr: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines, [{ hypapp: 'emit', at: 'init', big: '0x1234' }, { hypapp: 'emit', at: 'shutdown', reason: 'triple-fault' }]);
  assert.ok(!existsSync(join(dir, '-')), 'no file named "-"');
  const file = join(dir, 'events.jsonl');
  assert.equal(xmhf(['run', '--kernel', KERNEL, '--hypapp', emit, '--events', file]).status, 3);
  assert.deepEqual(readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).at), ['init', 'shutdown']);
});

test('run --help prints the run options with status 0', () => {
  for (const help of ['--help', '-h']) {
    const r = xmhf(['run', help]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usage: xmhf run \[options\]/);
    for (const flag of ['--kernel', '--append', '--exec', '--hypapp-config', '--events']) assert.ok(r.stdout.includes(flag), flag);
  }
});

test('unknown flags, missing and bad values: one line naming the flag and where the usage is', () => {
  const hint = / \(xmhf run --help lists the options\)$/;
  for (const [args, message] of [
    [['run', '--bogus'], /^xmhf run: unknown option --bogus/],
    [['run', '--exec'], /^xmhf run: --exec needs a value/],
    [['run', '--mem', 'lots'], /^xmhf run: --mem lots: not a size/],
    [['run', '--timeout', 'soon'], /^xmhf run: --timeout soon: not a number of seconds/],
    [['run', 'extra'], /^xmhf run: unexpected argument extra/],
  ] as const) {
    const r = refused([...args], message);
    assert.match(r.firstLine, hint);
  }
  refused(['frobnicate'], /^xmhf: unknown command "frobnicate" \(xmhf --help lists the commands\)$/);
});
