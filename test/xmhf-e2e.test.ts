// End to end: the XMHF core and hypapps against Debian's kernel on our CPU.
// The probe hypapp exercises each callback kind and core-API call; the
// shipped hypapps (hello, syscalls, kguard) run as users run them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runGuest, buildGuestProgram } from './support/guest-run.js';
import { probe, emptyProbeLog, PROBE_PORT, MMIO_BASE } from './fixtures/probe-hypapp.js';
import { loadHypapp } from '../src/xmhf/loader.js';
import { cacheDir } from '../src/guest/debian.js';
import { S_IFREG } from '../src/guest/cpio.js';
import type { HypappContext } from '../src/hypapp/api.js';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');
const xmhf = (...args: string[]) => spawnSync(process.execPath, [XMHF, ...args], { encoding: 'utf8', timeout: 180_000 });

test('hello: xmhf-hypercall ping 41 prints 42; hello logs at init and tables the exits at shutdown', () => {
  const r = xmhf('run', '--hypapp', 'hello', '--timeout', '150', '--exec', 'xmhf-hypercall ping 41; xmhf-hypercall no-such-call; echo status=$?');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['42', 'xmhf-hypercall: no hypapp answers "no-such-call"', 'status=1']);
  assert.match(r.stderr, /\[hello\] hello from the hypervisor: 1 vCPU, 256 MiB/);
  assert.match(r.stderr, /\[hello\] ping 41 from vCPU 0 at CPL 3/);
  for (const kind of ['VMCALL', 'CPUID', 'CR_WRITE']) assert.match(r.stderr, new RegExp(`\\[hello\\]\\s+${kind}\\s+\\d+`), kind);
});

test('the quick start (npm start) boots the default guest with the example hypapps and runs its demo', () => {
  const root = join(import.meta.dirname, '..');
  const start = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start as string;
  const r = spawnSync('sh', ['-c', start], { cwd: root, encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Linux .* x86_64/m);
  assert.match(r.stdout, /model name\s*: xmhf-ts/);
  assert.match(r.stdout, /^42$/m, 'hello answered the hypercall');
  assert.match(r.stderr, /\[kguard\] armed: \d+ pages of kernel code/);
  assert.match(r.stderr, /\[kguard\] 0 violations denied/);
  assert.match(r.stderr, /"name":"execve".*"argv":\["xmhf-hypercall","ping","41"\]/, 'syscalls traced the demo\'s execve');
  assert.match(r.stderr, /\[hello\]\s+BREAKPOINT\s+\d+/, 'hello tabled the exits');
});

test('syscalls: a command\'s execve and openat calls appear with their paths and argv', () => {
  const events = join(tmpdir(), `xmhf-trace-${process.pid}.jsonl`);
  // The tracer finds the kernel (xmhf-ts/linux) at ready: 0.6 s alone, several seconds on a machine shared by many runs.
  const r = xmhf('run', '--hypapp', 'syscalls', '--events', events, '--timeout', '150', '--callback-timeout', '60', '--exec', 'cat /proc/version > /dev/null; echo traced');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'traced');
  const calls = readFileSync(events, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const exec = calls.find((c) => c.name === 'execve' && c.argv?.[0] === 'cat');
  assert.ok(exec, 'execve of cat traced');
  assert.deepEqual(exec.argv, ['cat', '/proc/version']);
  assert.ok(['/bin/cat', '/proc/self/exe'].includes(exec.paths[0]), `busybox runs its applets as itself (${exec.paths[0]})`);
  const open = calls.findIndex((c) => c.name === 'openat' && c.paths?.[0] === '/proc/version');
  assert.ok(open > calls.indexOf(exec), 'openat of /proc/version traced after the execve');
  assert.match(calls[open].cr3, /^0x[0-9a-f]+$/);
  assert.ok(calls.every((c) => c.hypapp === 'syscalls' && typeof c.nr === 'number' && c.args.length === 6));
});

test('every callback kind and core call reaches a hypapp from the real guest', async () => {
  const log = emptyProbeLog();
  const program = buildGuestProgram(join(import.meta.dirname, 'fixtures', 'guest-probe.c'));
  const r = await runGuest({
    hypapps: [probe(log)],
    files: [{ path: 'bin/guest-probe', mode: S_IFREG | 0o755, data: program }],
    command: [
      'guest-probe cpuid 0x40000000', `guest-probe out ${PROBE_PORT} 0x1234`, `guest-probe in ${PROBE_PORT + 2}`,
      'guest-probe int3; echo int3=$?', 'guest-probe protect', 'guest-probe break', 'guest-probe watch',
      `devmem ${MMIO_BASE + 0x10} 32`, `devmem ${MMIO_BASE + 0x20} 32 0x55aa`,
      'grep -m1 microcode /proc/cpuinfo', 'xmhf-hypercall strlen @hello-world',
    ].join('; '),
  });
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /^Trace\/breakpoint trap$/m, 'the shell saw SIGTRAP');
  const out = r.output.split('\n').filter((l) => l !== 'Trace/breakpoint trap');
  assert.match(out[0], /XmhfTsProbe!$/, 'CPUID leaf rewritten by the hypapp');
  assert.deepEqual(log.portWrites, [0x1234], 'OUT to a claimed port emulated (skipped at the platform)');
  assert.equal(out[1], '0xc0ffee02', 'IN from a claimed port answered by the hypapp');
  assert.ok(log.uartWrites > 0, 'UART writes chained to the platform (and still printed)');
  assert.equal(out[2], 'int3=133', 'the #BP was delivered to the guest after the hypapp saw it (SIGTRAP)');
  assert.deepEqual(log.exceptions.filter((e) => e.cpl === 3), [{ vector: 3, cpl: 3 }], 'the probe\'s own INT3');
  assert.equal(out[3], '0x41 0x0', 'first protected write allowed once, second skipped');
  assert.equal(log.violations.length, 2);
  assert.deepEqual(log.violations.map((v) => [v.access, v.value, v.user]), [['write', 0x41n, true], ['write', 0x42n, true]]);
  assert.equal(out[4], 'hits 0x3 sum 0x3', 'breakpoint hit on each call; the guest computed normally');
  assert.equal(log.steps, 5, 'single-step reported five instructions after the first hit');
  assert.equal(out[5], 'watch hits 0x2 value 0x2', 'watchpoint saw two writes to the watched bytes, not the one beside');
  assert.equal(out[6], '0x600DCAFE', 'MMIO read answered by the hypapp');
  assert.deepEqual(log.mmio.map((m) => [m.direction, m.gpa, m.value]), [['read', MMIO_BASE + 0x10, 0], ['write', MMIO_BASE + 0x20, 0x55aa]]);
  assert.match(out[7], /^microcode\s*: 0xa001234$/, 'the kernel\'s RDMSR answered by the hypapp');
  assert.ok(log.msrReads >= 1);
  assert.equal(out[8], '11', 'hypercall read a string from guest-virtual memory');
  assert.ok(log.cr3Writes > 20, `CR3 writes (${log.cr3Writes}): one per process switch`);
  assert.ok(log.ticks > 10, `guest-time timer ticked ${log.ticks} times`);
  assert.deepEqual(log.measurements, ['core:kernel', 'core:initrd', 'core:cmdline', 'core:hypapp probe']);
  assert.equal(log.shutdown, 'stopped');
});

test('kguard: once armed, a new module cannot run in kernel mode and kernel code cannot be written; user work goes on', async () => {
  const modules = join(cacheDir(), 'packages');
  const image = readdirSync(modules).find((d) => d.startsWith('linux-image-') && d.endsWith('.d'));
  assert.ok(image, 'the default guest is fetched');
  const release = readdirSync(join(modules, image, 'lib', 'modules'))[0];
  const module = readFileSync(join(modules, image, 'lib', 'modules', release, 'kernel', 'lib', 'ts_kmp.ko'));
  let peek: HypappContext | undefined; // reads guest RAM after the run, as a hypapp sees it
  const r = await runGuest({
    hypapps: [await loadHypapp('kguard'), { name: 'peek', init: (x) => { peek = x; } }],
    files: [{ path: 'lib/ts_kmp.ko', mode: S_IFREG | 0o644, data: module }],
    command: 'insmod /lib/ts_kmp.ko; echo insmod=$?; (echo 1 > /proc/sys/kernel/sched_schedstats); echo poked; ls /bin | wc -l; echo user-ok',
  });
  const armed = r.events.find((e) => e.event === 'armed');
  assert.ok(armed && Number(armed.codePages) > 1000, 'armed over the kernel\'s code');
  const exec = r.events.find((e) => e.event === 'exec-denied');
  assert.ok(exec, `module init denied: ${r.logs.join('\n')}`);
  assert.ok(BigInt(exec.gva as string) >= 0xffff_ffff_c000_0000n, `in the module area (${exec.gva})`);
  const write = r.events.find((e) => e.event === 'write-denied');
  assert.ok(write, 'the jump-label patch of kernel code denied');
  const gpa = Number(BigInt(write.gpa as string));
  assert.notEqual(peek!.readPhysical(gpa, 1)[0], Number(BigInt(write.value as string)), 'the write did not land');
  const out = r.output.split('\n');
  assert.ok(out.some((l) => /^insmod=\d+$/.test(l) && l !== 'insmod=0'), `insmod failed: ${r.output}`);
  assert.ok(out.includes('poked') && out.includes('user-ok'), r.output);
  assert.ok(Number(out[out.indexOf('user-ok') - 1]) > 200, 'user programs still run');
});

test('the README\'s hypapp template runs as documented', () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const code = /<!-- template -->\n```ts\n([\s\S]*?)```\n<!-- \/template -->/.exec(readme)?.[1];
  assert.ok(code, 'the README has a template block');
  assert.ok(code.trim().split('\n').length < 30, 'under 30 lines');
  const file = join(tmpdir(), `my-hypapp-${process.pid}.ts`);
  writeFileSync(file, code);
  const r = xmhf('run', '--hypapp', file, '--timeout', '150', '--exec', 'xmhf-hypercall greet 21');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '42');
  assert.match(r.stderr, /\{"hypapp":"my-hypapp","greeted":"0x15","cr3":"0x[0-9a-f]+"\}/);
  assert.match(r.stderr, /\[my-hypapp\] guest ended \(poweroff\) after \d+ CPUIDs/);
});

test('a hypapp whose init throws stops the VM before the guest runs, naming the hypapp; bad hypapp flags are named too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-bad-hypapp-'));
  const bad = join(dir, 'bad.ts');
  writeFileSync(bad, `export default { name: 'bad', init() { throw new Error('no TPM here'); } };\n`);
  const r = xmhf('run', '--hypapp', 'hello', '--hypapp', bad, '--exec', 'echo never');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /hypapp bad failed to start: no TPM here/);
  assert.match(r.stderr, /\[hello\] guest ended \(error: hypapp bad failed to start\)/, 'hello was told why');
  assert.equal(r.stdout, '', 'the guest never ran');

  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ hypapps: [{ hypapp: 'kguard', options: { arm: 'sometimes' } }] }));
  const c = xmhf('run', '--hypapp-config', config, '--exec', 'echo never');
  assert.equal(c.status, 2);
  assert.match(c.stderr, /kguard\.arm=sometimes: expected ready, hypercall or after:MS/, 'options reach the hypapp from JSON');
  for (const [flags, message] of [
    [['--hypapp', 'no-such-hypapp'], /--hypapp no-such-hypapp: no such file, package or shipped hypapp/],
    [['--hypapp', 'hello', '--hypapp-opt', 'hello'], /--hypapp-opt hello: expected NAME\.key=value/],
    [['--hypapp-opt', 'kguard.arm=ready'], /--hypapp-opt names kguard, which no --hypapp loads/],
    [['--hypapp', join(import.meta.dirname, '..', 'hypapps', 'kguard.ts'), '--hypapp-opt', 'kguard.arm=never'],
      /kguard\.arm=never: expected ready/], // options by the file's name reach a hypapp loaded by path
  ] as const) {
    const e = xmhf('run', ...flags, '--exec', 'true');
    assert.equal(e.status, 2, flags.join(' '));
    assert.match(e.stderr, message);
  }
});
