// How `xmhf run` ends: always, with the right status and a message saying
// why, however the guest or a hypapp spends its time (issue 9). Tiny PVH
// kernels (a few instructions) cover the platform and the watchdog; Debian's
// kernel (the cached default guest) covers panics and halts of a real guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vmlinux } from './support/vmlinux.js';
import { cacheDir } from '../src/guest/debian.js';
import { ExitStatus } from '../src/cli/exit-status.js';
import { ConsoleWatch, CONSOLE_TAIL_LINES } from '../src/cli/console-watch.js';
import { CallbackSlot } from '../src/xmhf/watchdog.js';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');
const STUCK = join(import.meta.dirname, 'fixtures', 'stuck-hypapp.ts');
const dir = mkdtempSync(join(tmpdir(), 'xmhf-run-end-'));

/** A PVH kernel whose entry runs `code` (32-bit protected mode). */
function tinyKernel(name: string, code: number[]): string {
  const image = vmlinux({ entry: 0x1000000 });
  image.set(code, 0x200);
  const path = join(dir, name);
  writeFileSync(path, image);
  return path;
}
const CLI_HLT = tinyKernel('cli-hlt', [0xfa, 0xf4, 0xeb, 0xfd]);            // cli; hlt; jmp hlt
const STI_HLT = tinyKernel('sti-hlt', [0xfb, 0xf4, 0xeb, 0xfd]);            // sti; hlt; jmp hlt: idles, wakeable
const CPUID_HLT = tinyKernel('cpuid', [0x0f, 0xa2, 0xfb, 0xf4, 0xeb, 0xfd]); // cpuid; then idle

function xmhf(args: string[], timeout = 120_000) {
  return spawnSync(process.execPath, [XMHF, 'run', ...args], { encoding: 'utf8', timeout });
}

/** Start xmhf; resolves `ready` when stderr matches `readyAt`, `done` with the status and output. */
function xmhfLive(args: string[], readyAt: RegExp) {
  const child = spawn(process.execPath, [XMHF, 'run', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '', stdout = '';
  let ready!: () => void;
  const readyP = new Promise<void>((r) => { ready = r; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; if (readyAt.test(stderr)) ready(); });
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const done = new Promise<{ status: number | null; signal: string | null; stderr: string; stdout: string; ms: number }>((resolve) => {
    const start = performance.now();
    child.on('close', (status, signal) => { clearTimeout(killer); resolve({ status, signal, stderr, stdout, ms: performance.now() - start }); });
  });
  return { child, ready: readyP, done };
}

test('the console watch keeps a bounded tail and recognises a panic split across chunks', () => {
  const w = new ConsoleWatch();
  const enc = new TextEncoder();
  for (let i = 0; i < 100; i++) assert.equal(w.feed(enc.encode(`line ${i}\r\n`)), false);
  assert.equal(w.tail().length, CONSOLE_TAIL_LINES);
  assert.equal(w.tail().at(-1), 'line 99');
  assert.equal(w.feed(enc.encode('[    8.44] Kernel panic - not sy')), false);
  assert.equal(w.feed(enc.encode('ncing: VFS: Unable to mount root fs\n')), true);
  assert.equal(w.panic, 'Kernel panic - not syncing: VFS: Unable to mount root fs');
  assert.equal(w.feed(enc.encode('---[ end Kernel panic - not syncing: VFS ]---\n')), true);
  assert.ok(w.panicEnded);
  w.feed(new Uint8Array(100_000).fill(0x41)); // no newline: the line is cut, the buffer stays bounded
  assert.ok(w.tail().every((l) => l.length <= 1003));
});

test('the watchdog slot, read through another view of its buffer, names the running callback and restores an outer one', () => {
  const writer = new CallbackSlot();
  const reader = new CallbackSlot(writer.buffer);
  assert.equal(reader.current(), undefined);
  const before = performance.timeOrigin + performance.now();
  writer.enter(2, 'onCpuid');
  const outer = reader.current();
  assert.equal(outer?.app, 2);
  assert.equal(outer?.callback, 'onCpuid');
  assert.ok(outer!.sinceMs >= before && outer!.sinceMs <= performance.timeOrigin + performance.now());
  writer.enter(0, 'onViolation');
  assert.deepEqual([reader.current()?.app, reader.current()?.callback], [0, 'onViolation']);
  writer.leave();
  assert.deepEqual(reader.current(), outer);
  writer.leave();
  assert.equal(reader.current(), undefined);
});

test('a CPU halted with interrupts off ends the run with status 6 and says so (--kernel, no default guest)', () => {
  const r = xmhf(['--kernel', CLI_HLT, '--timeout', '60']);
  assert.equal(r.status, ExitStatus.GUEST_HALTED, `status ${r.status}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /halted with interrupts off at RIP 0x1000002; nothing can wake it/);
});

test('a hypapp timer that never returns is ended by the watchdog, which names the hypapp and the callback (status 4)', () => {
  const r = xmhf(['--kernel', STI_HLT, '--hypapp', STUCK, '--hypapp-opt', 'stuck-hypapp.mode=timer-loop', '--callback-timeout', '1', '--timeout', '60']);
  assert.equal(r.status, ExitStatus.HALTED_BY_CORE, `status ${r.status}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /hypapp stuck did not return from timer in 1\.\d s/);
});

test('--timeout holds while a hypapp callback loops (onCpuid): status 124 naming the callback', () => {
  const start = performance.now();
  const r = xmhf(['--kernel', CPUID_HLT, '--hypapp', STUCK, '--hypapp-opt', 'stuck-hypapp.mode=cpuid-loop', '--callback-timeout', '1000', '--timeout', '1'], 60_000);
  assert.equal(r.status, ExitStatus.TIMEOUT, `status ${r.status}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /timed out \(hypapp stuck has been in onCpuid for \d+\.\d s\)/);
  assert.ok(performance.now() - start < 45_000, 'it ended in seconds, not at the test\'s own limit');
});

test('an async init that never settles fails the start with a message naming the hypapp (status 2, not 0)', () => {
  const r = xmhf(['--kernel', STI_HLT, '--hypapp', STUCK, '--hypapp-opt', 'stuck-hypapp.mode=init-never-settles', '--callback-timeout', '1']);
  assert.equal(r.status, ExitStatus.USAGE, `status ${r.status}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /hypapp stuck failed to start: init did not settle within 1 s/);
});

test('an init that loops is ended by the watchdog, naming the hypapp and init', () => {
  const r = xmhf(['--kernel', STI_HLT, '--hypapp', STUCK, '--hypapp-opt', 'stuck-hypapp.mode=init-loop', '--callback-timeout', '1']);
  assert.equal(r.status, ExitStatus.HALTED_BY_CORE, `status ${r.status}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /hypapp stuck did not return from init/);
});

test('a hypapp that exits the process from init: the run ends without a result, which is an error with a message (status 70, not 0)', () => {
  const r = xmhf(['--kernel', STI_HLT, '--hypapp', STUCK, '--hypapp-opt', 'stuck-hypapp.mode=exit-in-init']);
  assert.equal(r.status, ExitStatus.INTERNAL, `status ${r.status}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /the VM's thread ended without a result/);
});

test('SIGTERM and SIGHUP end the run promptly with 128+N, after hypapps\' shutdown with reason "signal"', async () => {
  for (const [signal, number] of [['SIGTERM', 15], ['SIGHUP', 1]] as const) {
    const run = xmhfLive(['--kernel', STI_HLT, '--hypapp', STUCK], /started \(none\)/);
    await run.ready;
    await new Promise((r) => setTimeout(r, 300)); // into the run loop
    run.child.kill(signal);
    const r = await run.done;
    assert.equal(r.status, ExitStatus.SIGNAL_BASE + number, `${signal}: status ${r.status} (signal ${r.signal}); stderr: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`\\[stuck\\] shutdown reason=signal detail=${signal}`));
  }
});

test('SIGINT ends a run whose hypapp loops in a callback: the VM is ended after a grace period, status 130', async () => {
  const run = xmhfLive(['--kernel', STI_HLT, '--hypapp', STUCK, '--hypapp-opt', 'stuck-hypapp.mode=timer-loop', '--callback-timeout', '1000'], /started \(timer-loop\)/);
  await run.ready;
  await new Promise((r) => setTimeout(r, 500)); // the timer has fired and loops
  run.child.kill('SIGINT');
  const r = await run.done;
  assert.equal(r.status, ExitStatus.SIGNAL_BASE + 2, `status ${r.status} (signal ${r.signal}); stderr: ${r.stderr}`);
  assert.match(r.stderr, /did not stop after SIGINT \(hypapp stuck has been in timer for/);
});

const hasScript = spawnSync('script', ['--version']).status === 0;
const inScript = (shell: string, input?: (write: (s: string) => void, output: () => string) => Promise<void>) => new Promise<string>((resolve) => {
  const child = spawn('script', ['-qec', shell, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  child.on('close', () => { clearTimeout(killer); resolve(out); });
  void input?.((s) => child.stdin.write(s), () => out);
});
const node = `${process.execPath} ${XMHF} run`;
const until = async (cond: () => boolean) => { while (!cond()) await new Promise((r) => setTimeout(r, 100)); };

test('on a raw terminal, Ctrl-] ends the session even while a hypapp callback loops, and the terminal is put back', { skip: !hasScript && 'needs script(1) (util-linux) for a pseudo-terminal' }, async () => {
  const out = await inScript(`${node} --kernel ${STI_HLT} --hypapp ${STUCK} --hypapp-opt stuck-hypapp.mode=timer-loop --callback-timeout 1000; echo "status=$?"; stty -a`,
    async (write, output) => {
      await until(() => /press Ctrl-\] to quit/.test(output()));
      await new Promise((r) => setTimeout(r, 500));
      write('\x1d');
    });
  assert.match(out, /status=0/, out);
  assert.match(out, /the VM did not stop \(left the console\) \(hypapp stuck has been in timer/);
  assert.match(out, /(^|\s)icanon(\s|$)/m, 'canonical mode is back');
  assert.match(out, /(^|\s)echo(\s|$)/m, 'echo is back');
});

test('on a raw terminal, Ctrl-C reaches the guest, but ends the run (status 130) while a hypapp callback has held the guest', { skip: !hasScript && 'needs script(1) (util-linux) for a pseudo-terminal' }, async () => {
  const out = await inScript(`${node} --kernel ${STI_HLT} --hypapp ${STUCK} --hypapp-opt stuck-hypapp.mode=timer-loop --callback-timeout 1000; echo "status=$?"; stty -a`,
    async (write, output) => {
      await until(() => /press Ctrl-\] to quit/.test(output()));
      await new Promise((r) => setTimeout(r, 1500));
      write('\x03');
    });
  assert.match(out, /status=130/, out);
  assert.match(out, /Ctrl-C while the guest is held \(hypapp stuck has been in timer for/);
  assert.match(out, /(^|\s)icanon(\s|$)/m, 'canonical mode is back');
});

test('SIGHUP on a raw terminal: the terminal is put back and the status is 129', { skip: !hasScript && 'needs script(1) (util-linux) for a pseudo-terminal' }, async () => {
  const err = join(dir, 'hup.err');
  const out = await inScript(`${node} --kernel ${STI_HLT} </dev/tty 2>${err} & p=$!; ` +
    `while ! grep -q attached ${err}; do sleep 0.1; done; kill -HUP $p; wait $p; echo "status=$?"; stty -a`);
  assert.match(out, /status=129/, out);
  assert.match(out, /(^|\s)icanon(\s|$)/m, 'canonical mode is back');
});

// ---- Debian's kernel ----

test('under --exec, `halt -f` ends the run with status 6 instead of idling forever', () => {
  const r = xmhf(['--timeout', '100', '--exec', 'echo before; halt -f']);
  assert.equal(r.status, ExitStatus.GUEST_HALTED, `status ${r.status}; stderr: ${r.stderr}`);
  assert.match(r.stdout, /^before$/m);
  assert.match(r.stderr, /the guest halted with interrupts off/);
});

test('a panic during boot under --exec (rdinit=/nonexistent): status 5, the panic on stderr with the last console lines', () => {
  const r = xmhf(['--timeout', '100', '--append', 'rdinit=/nonexistent', '--exec', 'true']);
  assert.equal(r.status, ExitStatus.PANIC, `status ${r.status}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /xmhf: the guest kernel panicked: Kernel panic - not syncing: VFS: Unable to mount root fs/);
  assert.match(r.stderr, /the guest's last console lines:\n(  \| .*\n)+/);
  assert.match(r.stderr, /  \| .*mount_block_root/, 'the panic\'s call trace is in the tail');
  assert.equal(r.stdout, '', 'the command never ran');
});

test('--mem 80M: the default guest runs out of memory while booting; the run ends and shows why (the console\'s last lines; status 5 when the kernel panics)', () => {
  const r = xmhf(['--timeout', '60', '--mem', '80M', '--exec', 'true']);
  // Whether the kernel panics ("System is deadlocked on memory") or its OOM killer spins depends on timing; either way the user sees it.
  assert.ok(r.status === ExitStatus.PANIC || r.status === ExitStatus.TIMEOUT, `status ${r.status}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /the guest's last console lines:\n(  \| .*\n)+/);
  // The tail, or the panic's own line when the tail is its stack trace (short of memory while unpacking the initramfs).
  assert.match(r.stderr, /  \| .*(out.of.memory|oom|Kernel panic)|panicked: .*memory/i, 'the tail shows the memory trouble');
  if (r.status === ExitStatus.PANIC) assert.match(r.stderr, /the guest kernel panicked: Kernel panic - not syncing: /);
  assert.equal(r.stdout, '', 'the command never ran');
});

test('with --kernel, a garbage initrd and panic=0 (the kernel spins instead of rebooting): the console panic ends the run, status 5', () => {
  const version = readdirSync(cacheDir()).find((f) => /^vmlinux-.*-amd64$/.test(f));
  assert.ok(version, 'the default guest\'s kernel is cached');
  const garbage = join(dir, 'garbage.img');
  writeFileSync(garbage, new Uint8Array(64 * 1024).map((_, i) => (i * 2654435761) >>> 24));
  const r = xmhf(['--kernel', join(cacheDir(), version), '--initrd', garbage, '--append', 'panic=0', '--timeout', '100']);
  assert.equal(r.status, ExitStatus.PANIC, `status ${r.status}; stderr: ${r.stderr.slice(-2000)}`);
  assert.match(r.stdout, /Kernel panic - not syncing/);
  assert.match(r.stderr, /xmhf: the guest kernel panicked: Kernel panic - not syncing: /);
});

test('xmhf --help documents the exit statuses', () => {
  const r = spawnSync(process.execPath, [XMHF, '--help'], { encoding: 'utf8' });
  for (const s of [ExitStatus.PANIC, ExitStatus.GUEST_HALTED, ExitStatus.HALTED_BY_CORE, ExitStatus.TIMEOUT]) assert.match(r.stdout, new RegExp(`\\b${s}\\b`));
  assert.match(r.stdout, /5 guest kernel panic/);
  assert.match(r.stdout, /6 guest halted with interrupts off/);
});
