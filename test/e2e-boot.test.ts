// End to end: the xmhf command boots Debian's kernel on our CPU with a busybox
// initramfs, runs a shell command in the guest and returns its output and status.
// Needs the default guest (`xmhf guest`, which .ci/run does first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vmlinux } from './support/vmlinux.js';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');

function xmhf(...args: string[]) {
  return spawnSync(process.execPath, [XMHF, ...args], { encoding: 'utf8', timeout: 180_000 });
}

test('without --exec the guest shell reads the console: piped commands run, reboot -f ends with status 0', () => {
  const r = spawnSync(process.execPath, [XMHF, 'run', '--timeout', '150'], {
    encoding: 'utf8', timeout: 180_000, input: 'echo hello-from-$((6*7))\nreboot -f\n',
  });
  assert.equal(r.status, 0, `status ${r.status}; stderr: ${r.stderr}`);
  assert.match(r.stdout, /^hello-from-42\r?$/m, 'the shell expanded and printed it');
  assert.match(r.stdout, /reboot: Restarting system/);
});

test('xmhf run --exec boots Debian\'s kernel, runs the command and exits with its status; the guest powers off through ACPI', () => {
  const r = xmhf('run', '--timeout', '150', '--exec', 'uname -r; date -u +%Y-%m-%d; ls /bin | grep -c . ; ' +
    'cat /sys/devices/system/clockevents/clockevent0/current_device /sys/devices/system/clocksource/clocksource0/current_clocksource; ' +
    'cut -d" " -f1 /proc/modules | sort | tr "\\n" " "; exit 7'); // the last line has no newline
  assert.equal(r.status, 7, `status ${r.status}; stderr: ${r.stderr}`);
  const [release, date, commands, clockevent, clocksource, modules] = r.stdout.trim().split('\n');
  assert.match(release, /^\d+\.\d+\.\d+-\d+-amd64$/, 'the guest kernel\'s release');
  assert.equal(date, new Date().toISOString().slice(0, 10), 'the guest clock follows the host\'s date');
  assert.ok(Number(commands) > 200, `busybox installed its applets (${commands})`);
  assert.equal(clockevent, 'lapic-deadline', 'the kernel\'s timer is the local APIC in TSC-deadline mode');
  assert.equal(clocksource, 'tsc', 'and its clock the TSC');
  for (const m of ['virtio_ring', 'virtio', 'virtio_pci', 'virtio_mmio', 'virtio_blk', 'virtio_net', 'net_failover', 'failover', 'virtio_console', 'virtio_balloon']) {
    assert.ok(modules.split(' ').includes(m), `${m} is loaded (${modules})`);
  }
  assert.doesNotMatch(r.stderr, /did not power off/, 'the guest\'s poweroff -f ended the run (ACPI S5)');
});

test('with --append nolapic the kernel keeps time with the PIT through the 8259 PIC, and sleep and poweroff still work', () => {
  const r = xmhf('run', '--timeout', '150', '--append', 'nolapic', '--exec',
    'grep -c "XT-PIC.*timer" /proc/interrupts; cat /sys/devices/system/clockevents/clockevent0/current_device; ' +
    'a=$(cut -d" " -f1 /proc/uptime); sleep 1; b=$(cut -d" " -f1 /proc/uptime); echo "slept $a $b"');
  assert.equal(r.status, 0, `status ${r.status}; stderr: ${r.stderr}`);
  const [pitLines, clockevent, slept] = r.stdout.trim().split('\n');
  assert.equal(pitLines, '1', 'IRQ 0 is the PIT timer on the XT-PIC');
  assert.equal(clockevent, 'pit');
  const [, before, after] = slept.split(' ').map(Number);
  assert.ok(after - before >= 0.99 && after - before < 2, `sleep 1 took ${after - before} s of guest uptime`);
  assert.doesNotMatch(r.stderr, /did not power off/);
});

/** Run xmhf, noting when (host milliseconds since start) each stdout line arrived. */
function xmhfTimed(...args: string[]): Promise<{ status: number | null; stderr: string; lines: Array<{ text: string; ms: number }> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [XMHF, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const start = performance.now();
    const lines: Array<{ text: string; ms: number }> = [];
    let partial = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        lines.push({ text: partial.slice(0, nl), ms: performance.now() - start });
        partial = partial.slice(nl + 1);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('error', reject);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stderr, lines }); });
  });
}

test('with --mem 2G the guest sees 2 GiB; sleep 1 takes a second of guest time and of wall time; a pipeline walks many files', async () => {
  const r = await xmhfTimed('run', '--mem', '2G', '--timeout', '150', '--exec',
    'free -m | grep Mem; a=$(cut -d" " -f1 /proc/uptime); echo "before"; sleep 1; b=$(cut -d" " -f1 /proc/uptime); echo "slept $a $b"; ' +
    'grep -m1 "model name" /proc/cpuinfo; find /proc/sys -type f | wc -l');
  assert.equal(r.status, 0, `status ${r.status}; stderr: ${r.stderr}`);
  const [mem, before, slept, model, files] = r.lines;
  const total = Number(mem.text.split(/\s+/)[1]);
  assert.ok(total > 1900 && total <= 2048, `free -m total ${total} MiB for --mem 2G`);
  const [, a, b] = slept.text.split(' ').map(Number);
  // The window also covers starting cut and sleep, which cost real guest time at our speed.
  assert.ok(b - a >= 0.99 && b - a < 2, `sleep 1 took ${b - a} s of guest uptime`);
  const wallS = (slept.ms - before.ms) / 1000;
  assert.ok(wallS >= 0.95 && wallS < 3, `sleep 1 took ${wallS} s of wall time`);
  assert.match(model.text, /model name\s*: xmhf-ts x86-64 CPU \(WebAssembly\)/);
  assert.ok(Number(files.text) > 500, `find over /proc/sys counted ${files.text} files`);
});

test('a kernel that triple-faults ends the run with status 3 and a message that says where: RIP and instruction bytes', () => {
  const path = join(tmpdir(), `xmhf-int3-kernel-${process.pid}`);
  writeFileSync(path, vmlinux({ entry: 0x1000000 })); // INT3 at the entry, no IDT: #BP, #GP, #DF, shutdown
  const r = xmhf('run', '--kernel', path, '--timeout', '30');
  assert.equal(r.status, 3, `status ${r.status}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /triple-faulted at RIP 0x1000000, instruction bytes cc cc cc/);
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
