// System-call and function hooks of xmhf-ts/linux against the default guest:
// what the hooks see and change is what the guest's programs see.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readFileSync } from 'node:fs';
import { runGuest } from './support/guest-run.js';
import { loadHypapp } from '../src/xmhf/loader.js';
import { S_IFREG, S_IFDIR } from '../src/guest/cpio.js';
import { defineHypapp } from '../src/hypapp/api.js';
import { linuxOf } from '../src/linux/index.js';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');
const DATA = new Uint8Array(5000).map((_, i) => 0x41 + (i % 26));
const etc = [
  { path: 'etc', mode: S_IFDIR | 0o755, data: new Uint8Array() },
  { path: 'etc/shadow', mode: S_IFREG | 0o600, data: new TextEncoder().encode('root:*:19000:0:99999:7:::\n') },
  { path: 'etc/passwd', mode: S_IFREG | 0o644, data: new TextEncoder().encode('root:x:0:0:root:/root:/bin/sh\n') },
  { path: 'data', mode: S_IFREG | 0o644, data: DATA },
];

test('onSyscall/onSyscallReturn and hook() see what the guest does, and what they change is what the guest sees', async () => {
  const reads: bigint[] = [];
  const opens: Array<{ path: string | null; ret: bigint; pid?: number; comm?: string }> = [];
  const hooked: Array<{ filename: string; dfd: bigint; flags: bigint; ret?: bigint; comm?: string }> = [];
  const enterNames = new Set<string>();
  let denials = 0;
  const probe = defineHypapp({
    name: 'probe',
    onGuestReady(x) {
      const linux = linuxOf(x);
      linux.onSyscall((e) => {
        enterNames.add(e.name);
        if (e.task?.comm === 'dd' && e.name === 'read' && e.args[2].name === 'count' && e.args[2].value === 3000n) {
          return { args: { count: 100 } };   // dd asked for 3000 bytes and gets 100
        }
        if (e.name === 'openat' && e.string(1) === '/data-denied') { denials++; return { deny: 2 }; }
        return undefined;
      });
      const entries = new Map<object, string | null>();
      linux.onSyscall((e) => { if (e.name === 'openat' && e.task?.comm === 'cat') entries.set(e, e.string(1)); return undefined; });
      linux.onSyscallReturn((e) => {
        if (e.name === 'read' && e.task?.comm === 'dd' && e.call.args[2].value === 4096n) reads.push(e.ret);
        if (entries.has(e.call)) opens.push({ path: entries.get(e.call)!, ret: e.ret, pid: e.task?.pid, comm: e.task?.comm });
        if (e.name === 'getppid') return { ret: 4242 };
        return undefined;
      });
      linux.hook('do_sys_openat2', {
        enter(e) {
          const filename = e.cpu.readString(e.args.filename);
          if (filename !== '/etc/passwd') return;
          hooked.push({ filename, dfd: e.args.dfd, flags: e.read('how').flags as bigint, comm: e.task?.comm });
        },
        exit(e) {
          const h = hooked.find((c) => c.ret === undefined && e.call.cpu.readString(e.call.args.filename) === c.filename);
          if (h) h.ret = e.ret;
        },
      });
    },
    onBreakpoint(x, e) { linuxOf(x).onBreakpoint(e); },
  });
  const guard = await loadHypapp('openguard', { comm: 'cat' });
  const r = await runGuest({
    hypapps: [probe, guard],
    files: etc,
    command: [
      'sh -c \'echo pid=$$; exec cat /etc/shadow\'; echo shadow=$?', 'cat /etc/passwd; echo passwd=$?', 'head -1 /etc/shadow',
      'dd if=/data of=/dev/null bs=4096', 'dd if=/data of=/dev/null bs=3000', 'sh -c \'echo ppid=$PPID\'', 'cat /data-denied; echo denied=$?',
    ].join('; '),
  });
  assert.equal(r.status, 0, r.output);
  const out = r.output.split('\n');
  // openguard: cat is denied /etc/shadow with EACCES, by pid and comm; other opens and other programs go on.
  const pid = Number(out.find((l) => l.startsWith('pid='))?.slice(4));
  assert.ok(out.includes('cat: can\'t open \'/etc/shadow\': Permission denied'), r.output);
  assert.ok(out.includes('shadow=1'), 'cat exits non-zero');
  const denied = r.events.filter((e) => e.hypapp === 'openguard');
  assert.deepEqual(denied.map((e) => [e.event, e.pid, e.comm, e.path, e.errno]), [['denied', pid, 'cat', '/etc/shadow', 13]]);
  assert.ok(out.includes('root:x:0:0:root:/root:/bin/sh') && out.includes('passwd=0'), 'cat /etc/passwd works');
  assert.ok(out.includes('root:*:19000:0:99999:7:::'), 'head (not cat) reads /etc/shadow');
  // The denied call returned -EACCES to the caller, as the later hook saw it; the caller's pid and comm are the guest's.
  assert.deepEqual(opens.find((o) => o.path === '/etc/shadow'), { path: '/etc/shadow', ret: -13n, pid, comm: 'cat' });
  assert.ok(opens.some((o) => o.path === '/etc/passwd' && o.ret >= 0n));
  // read's return values are what dd got: one full 4096-byte record and a partial one of the 5000-byte file, then end of file.
  assert.deepEqual(reads, [4096n, 904n, 0n]);
  assert.ok(out.includes('1+1 records in'), r.output);
  // A rewritten argument: dd asked for 3000 bytes per read and got 100 (a partial record each time).
  assert.ok(out.includes('0+50 records in'), r.output);
  // A rewritten return value is what the guest sees.
  assert.ok(out.includes('ppid=4242'), r.output);
  // deny(errno) from the probe: ENOENT.
  assert.equal(denials, 1);
  assert.ok(out.includes('cat: can\'t open \'/data-denied\': No such file or directory') && out.includes('denied=1'), r.output);
  // Names are the kernel's own.
  for (const n of ['read', 'openat', 'execve', 'getppid', 'exit_group']) assert.ok(enterNames.has(n), n);
  // The function hook: do_sys_openat2's arguments by their BTF names, the struct behind `how`, and its return paired.
  const h = hooked.find((c) => c.comm === 'cat');
  assert.ok(h, `do_sys_openat2 hooked: ${JSON.stringify(hooked, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
  assert.equal(BigInt.asIntN(32, h.dfd), -100n, 'AT_FDCWD');
  assert.equal(h.flags & 3n, 0n, 'O_RDONLY');
  assert.ok(h.ret !== undefined && h.ret >= 0n, 'its return value (a file descriptor)');
});

test('the syscalls tracer: every record has pid, comm, vCPU and the return value the guest saw', () => {
  const events = join(tmpdir(), `xmhf-syscalls-${process.pid}.jsonl`); // apart from the guest's output, which may end mid-line
  const r = spawnSync(process.execPath, [XMHF, 'run', '--hypapp', 'syscalls', '--hypapp-opt', 'syscalls.only=execve,read,exit_group', '--events', events, '--timeout', '200', '--callback-timeout', '60',
    '--exec', 'echo 0123456789 > /tmp/f; dd if=/tmp/f bs=64; sh -c \'echo pid=$$; exec cat /tmp/f\''], { encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const records = readFileSync(events, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const pid = Number(lines.find((l) => l.startsWith('pid='))?.slice(4));
  assert.ok(lines.filter((l) => l === '0123456789').length === 2 && r.stdout.includes('0+1 records in'), r.stdout);
  const mine = records.filter((c) => c.pid === pid);
  const exec = mine.find((c) => c.name === 'execve' && c.argv?.[0] === 'cat');
  assert.deepEqual([exec?.argv, exec?.ret, exec?.comm], [['cat', '/tmp/f'], 0, 'sh'], 'the caller was sh, execve returned 0');
  const reads = records.filter((c) => c.name === 'read' && c.comm === 'dd').map((c) => c.ret);
  assert.deepEqual(reads, [11, 0], 'dd read the 11-byte file (one partial record), then end of file');
  assert.ok(mine.some((c) => c.name === 'exit_group' && c.ret === undefined), 'exit_group is recorded at its entry');
  assert.ok(records.every((c) => typeof c.vcpu === 'number' && typeof c.pid === 'number' && typeof c.comm === 'string'));
});

test('deny works on every vCPU: openguard denies cat pinned to each of 2 vCPUs', async () => {
  const cpus = 2;
  const r = await runGuest({
    cpus,
    hypapps: [await loadHypapp('openguard', { paths: '/etc/shadow' })],
    files: etc,
    command: Array.from({ length: cpus }, (_, i) => `taskset -c ${i} cat /etc/shadow; echo cpu${i}=$?`).join('; '),
  });
  assert.equal(r.status, 0, r.output);
  for (let i = 0; i < cpus; i++) assert.ok(r.output.split('\n').includes(`cpu${i}=1`), r.output);
  assert.equal(r.output.split('\n').filter((l) => l === 'cat: can\'t open \'/etc/shadow\': Permission denied').length, cpus, r.output);
  const denied = r.events.filter((e) => e.event === 'denied');
  assert.deepEqual(denied.map((e) => e.vcpu).sort(), Array.from({ length: cpus }, (_, i) => i), 'one denial on each vCPU');
  assert.ok(denied.every((e) => e.comm === 'cat' && typeof e.pid === 'number'));
});
