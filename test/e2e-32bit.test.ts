// End to end, 32-bit guests: Debian's 686 and 686-pae kernels boot unchanged
// from their bzImages through `xmhf run --kernel --initrd` to a 32-bit busybox
// (busybox-static:i386) whose /init prints a marker, runs a command and powers
// off through ACPI; and a 32-bit static glibc program runs under the default
// 64-bit kernel. They need the i386 packages (`dpkg --add-architecture i386 &&
// apt-get update`, which .ci/run does) and skip, saying why, without them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { i386Busybox, i386Kernel, type I386Flavour } from '../src/guest/i386.js';
import { guestInitramfs, READY_MARKER, EXIT_MARKER } from '../src/guest/debian.js';
import { S_IFREG } from '../src/guest/cpio.js';
import { runGuest } from './support/guest-run.js';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');

/** The value, or why it cannot be had (the reason a test skips with). */
function attempt<T>(get: () => T): T | string {
  try { return get(); } catch (e) { return `i386 packages unavailable: ${(e as Error).message}`; }
}

const busybox32 = attempt(() => i386Busybox());
const kernel = (flavour: I386Flavour) => (typeof busybox32 === 'string' ? busybox32 : attempt(() => i386Kernel(flavour)));
const skipReason = (...parts: unknown[]) => parts.find((p): p is string => typeof p === 'string');

/** Boot `vmlinuz` with the CLI on an initramfs of 32-bit busybox running `command`; returns the console and status. */
function boot32(vmlinuz: Uint8Array, command: string, mem: string) {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-32bit-'));
  try {
    writeFileSync(join(dir, 'vmlinuz'), vmlinuz);
    writeFileSync(join(dir, 'initrd.img'), guestInitramfs({ busybox: busybox32 as Uint8Array }, command));
    const r = spawnSync(process.execPath, [XMHF, 'run', '--kernel', join(dir, 'vmlinuz'), '--initrd', join(dir, 'initrd.img'),
      '--mem', mem, '--append', 'quiet', '--timeout', '400'], { encoding: 'utf8', timeout: 450_000 });
    const lines = r.stdout.replace(/\r/g, '').split('\n');
    const from = lines.findIndex((l) => l.startsWith(READY_MARKER));
    const to = lines.findIndex((l) => l.startsWith(EXIT_MARKER));
    return { ...r, output: from >= 0 && to > from ? lines.slice(from + 1, to) : [], exit: to >= 0 ? lines[to] : undefined };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const COMMAND = 'uname -m; free -m | grep Mem:; grep HighTotal /proc/meminfo; for f in pae nx; do grep -qw $f /proc/cpuinfo && echo -n "$f "; done; echo';

const k686 = kernel('686');
test('Debian\'s 686 kernel boots from its bzImage (32-bit boot protocol) to a 32-bit busybox, runs a command and powers off', {
  skip: skipReason(busybox32, k686), timeout: 500_000,
}, () => {
  const r = boot32((k686 as { bzImage: Uint8Array }).bzImage, COMMAND, '256M');
  assert.equal(r.status, 0, `status ${r.status}; stderr: ${r.stderr}\n${r.stdout.slice(-2000)}`);
  const [machine, mem, high] = r.output;
  assert.equal(machine, 'i686', 'a 32-bit kernel');
  assert.match(high, /^HighTotal: +0 kB$/, 'all of it lowmem');
  const total = Number(mem.split(/\s+/)[1]);
  assert.ok(total > 200 && total <= 256, `free -m shows the 256 MiB of guest RAM (${mem})`);
  assert.equal(r.exit, `${EXIT_MARKER} 0`);
  assert.match(r.stdout, /reboot: Power down/, 'poweroff -f went through ACPI S5');
});

const kPae = kernel('686-pae');
test('Debian\'s 686-pae kernel boots with 3 GiB of RAM (PAE paging, highmem) to a 32-bit busybox and powers off', {
  skip: skipReason(busybox32, kPae), timeout: 500_000,
}, () => {
  const r = boot32((kPae as { bzImage: Uint8Array }).bzImage, COMMAND, '3G');
  assert.equal(r.status, 0, `status ${r.status}; stderr: ${r.stderr}\n${r.stdout.slice(-2000)}`);
  const [machine, mem, high, flags] = r.output;
  assert.equal(machine, 'i686');
  const total = Number(mem.split(/\s+/)[1]);
  assert.ok(total > 2900 && total <= 3072, `free -m shows the 3 GiB of guest RAM, most of it highmem (${mem})`);
  assert.equal(flags.trim(), 'pae nx', 'the kernel sees the CPU\'s PAE and NX');
  const highMiB = Number(/(\d+) kB/.exec(high)?.[1]) / 1024;
  assert.ok(highMiB > 2000, `above the kernel's 896 MiB of lowmem, highmem: ${high}`);
  assert.equal(r.exit, `${EXIT_MARKER} 0`);
  assert.match(r.stdout, /reboot: Power down/);
});

test('a 32-bit static glibc busybox runs under the 64-bit kernel: output, files, its own memory map, a vDSO system-call entry', {
  skip: skipReason(busybox32), timeout: 300_000,
}, async () => {
  // od prints the shell's auxiliary vector as 32-bit words (type, value pairs); AT_SYSINFO (32) is __kernel_vsyscall,
  // through which this glibc makes every system call (SYSENTER or SYSCALL, as the vDSO chose).
  const r = await runGuest({
    hypapps: [],
    timeoutMs: 120_000,
    files: [{ path: 'bin/busybox32', mode: S_IFREG | 0o755, data: busybox32 as Uint8Array }],
    // The shell execs its last command in its own process (a new image, a new vDSO): so the last is an echo.
    command: '/bin/busybox32 sh -c \'echo hi from 32-bit; ls -1 /; head -1 /proc/self/maps; echo maps; cat /proc/$$/maps; ' +
      'echo auxv; od -An -tx4 -v /proc/$$/auxv; echo end\'; echo "status $?"',
  });
  assert.equal(r.status, 0, `status ${r.status}, stop ${JSON.stringify(r.stop)}:\n${r.output}`);
  const lines = r.output.split('\n');
  assert.equal(lines[0], 'hi from 32-bit');
  for (const name of ['bin', 'dev', 'init', 'proc', 'sys']) assert.ok(lines.includes(name), `ls / lists ${name}:\n${r.output}`);
  const firstMap = lines[lines.indexOf('maps') - 1];
  assert.match(firstMap, /^0804[89]000-[0-9a-f]{8} r..p 00000000 .* \/bin\/busybox32$/, 'a 32-bit static program mapped at 0x08048000');
  const maps = lines.slice(lines.indexOf('maps') + 1, lines.indexOf('auxv'));
  const vdso = maps.find((l) => l.endsWith('[vdso]'));
  assert.ok(vdso, `the shell's maps have a vDSO:\n${maps.join('\n')}`);
  for (const l of maps) assert.match(l, /^[0-9a-f]{8}-[0-9a-f]{8} /, 'every mapping lies below 4 GiB');
  const [vdsoStart, vdsoEnd] = vdso.split(' ')[0].split('-').map((h) => parseInt(h, 16));
  const words = lines.slice(lines.indexOf('auxv') + 1, lines.indexOf('end')).join(' ').trim().split(/\s+/).map((h) => parseInt(h, 16));
  const sysinfo = words.findIndex((w, i) => i % 2 === 0 && w === 32);
  assert.ok(sysinfo >= 0, `the auxiliary vector has AT_SYSINFO: ${words.map((w) => w.toString(16)).join(' ')}`);
  const entry = words[sysinfo + 1];
  assert.ok(entry >= vdsoStart && entry < vdsoEnd, `AT_SYSINFO 0x${entry.toString(16)} lies in the vDSO ${vdso}`);
  assert.equal(lines.at(-1), 'status 0', 'the 32-bit shell exited with status 0');
});
