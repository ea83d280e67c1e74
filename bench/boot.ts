// Wall time from process start to the readiness marker and to exit, booting
// the default guest (Debian's vmlinux + our busybox initramfs) on xmhf-ts and
// on QEMU TCG with the same kernel, initrd and command line. Interleaved runs, medians.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { defaultGuest, guestInitramfs, READY_MARKER, GUEST_CMDLINE } from '../src/guest/debian.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
// quiet, as `xmhf run --exec` boots the default guest.
const CMDLINE = `${GUEST_CMDLINE} quiet`;
const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');

export interface Timing { readyS: number; exitS: number; /** The guest's own uptime when it printed the marker. */ uptimeS: number }

/** Run `cmd`, timing the first appearance of the marker on stdout and the exit. */
export function timeBoot(cmd: string, args: string[]): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - start) / 1e9;
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '', readyS = NaN, uptimeS = NaN;
    child.stdout.on('data', (b: Buffer) => {
      if (!Number.isNaN(uptimeS)) return;
      seen = (seen + b.toString('latin1')).slice(-4096);
      if (Number.isNaN(readyS) && seen.includes(READY_MARKER)) readyS = seconds();
      const m = new RegExp(`${READY_MARKER} ([\\d.]+)\\s`).exec(seen);
      if (m) uptimeS = Number(m[1]);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(timer);
      if (Number.isNaN(readyS)) reject(new Error(`${cmd}: no readiness marker`));
      else resolve({ readyS, exitS: seconds(), uptimeS });
    });
  });
}

/** QEMU TCG booting the same kernel, initrd and command line, its console on stdout. */
export function qemuArgs(kernel: string, initrd: string, cmdline = CMDLINE): string[] {
  return ['-accel', 'tcg', '-machine', 'pc', '-m', '256', '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
    '-no-reboot', '-kernel', kernel, '-initrd', initrd, '-append', cmdline];
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Write the default guest's kernel and an initramfs running `command` to files, and run `use` with them. */
export async function withGuestFiles<T>(command: string, use: (kernel: string, initrd: string, version: string) => Promise<T>): Promise<T> {
  const g = defaultGuest();
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-bench-'));
  try {
    const kernel = join(dir, 'vmlinux'), initrd = join(dir, 'initrd');
    writeFileSync(kernel, g.kernel);
    writeFileSync(initrd, guestInitramfs(g, command));
    return await use(kernel, initrd, g.version);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchBoot(): Promise<void> {
  await withGuestFiles('true', async (kernel, initrd, version) => {
    const hasQemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
    const ours: Timing[] = [], qemu: Timing[] = [];
    for (let i = 0; i < RUNS; i++) {
      ours.push(await timeBoot(process.execPath, [XMHF, 'run', '--kernel', kernel, '--initrd', initrd, '--append', CMDLINE.replace('console=ttyS0 ', '')]));
      if (hasQemu) {
        qemu.push(await timeBoot('qemu-system-x86_64', qemuArgs(kernel, initrd)));
      }
    }
    const row = (name: string, t: Timing[]) =>
      `| ${name} | ${median(t.map((x) => x.readyS)).toFixed(2)} | ${median(t.map((x) => x.uptimeS)).toFixed(2)} | ${median(t.map((x) => x.exitS)).toFixed(2)} |`;
    console.log(`Debian ${version}, busybox initramfs, \`${CMDLINE}\`, ${RUNS} interleaved runs, medians\n`);
    console.log('| machine | s to readiness marker | guest uptime at the marker | s to exit |\n|---|---|---|---|');
    console.log(row('xmhf-ts (WebAssembly CPU)', ours));
    if (hasQemu) {
      console.log(row('QEMU TCG', qemu));
      const ratio = median(ours.map((x) => x.readyS)) / median(qemu.map((x) => x.readyS));
      console.log(`\nxmhf-ts / QEMU TCG, time to marker: ${ratio.toFixed(2)}`);
    } else {
      console.log('\n(qemu-system-x86_64 not found: apt-get install qemu-system-x86)');
    }
  });
}

/** CPU seconds (user + system) process `pid` has used, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Each idle window: host CPU over this much wall time of the guest's `sleep`. */
const IDLE_WINDOW_MS = 10_000;

/**
 * Host CPU used while the guest runs `sleep 20`, as a fraction of one core,
 * over the first 10 s after the readiness marker and over the 10 s after
 * that. The first window includes the host's one-time work after the boot
 * (V8 finishing its compilation and shrinking its heap once the process goes
 * quiet); the second is what idling costs for as long as it lasts.
 */
export async function benchIdle(): Promise<void> {
  await withGuestFiles(`sleep ${(2 * IDLE_WINDOW_MS) / 1000}`, async (kernel, initrd) => {
    console.log('| idle guest (`sleep 20`) | host CPU s, first 10 s | share of one core | host CPU s, next 10 s | share of one core |\n|---|---|---|---|---|');
    const share = (cpu: number) => `${(100 * cpu / (IDLE_WINDOW_MS / 1000)).toFixed(1)}%`;
    const row = (name: string, [first, next]: number[]) =>
      console.log(`| ${name} | ${first.toFixed(2)} | ${share(first)} | ${next.toFixed(2)} | ${share(next)} |`);
    row('xmhf-ts', await idleUsage(process.execPath, [XMHF, 'run', '--kernel', kernel, '--initrd', initrd, '--append', CMDLINE.replace('console=ttyS0 ', '')]));
    if (spawnSync('qemu-system-x86_64', ['--version']).status === 0) {
      row('QEMU TCG', await idleUsage('qemu-system-x86_64', qemuArgs(kernel, initrd)));
    }
  });
}

/** Host CPU seconds `cmd` (booting a guest that sleeps) uses in each of two IDLE_WINDOW_MS windows from its readiness marker. */
function idleUsage(cmd: string, args: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '';
    const samples: number[] = [];
    const sample = () => {
      samples.push(cpuSeconds(child.pid!));
      if (samples.length < 3) { setTimeout(sample, IDLE_WINDOW_MS); return; }
      child.kill('SIGKILL');
      resolve([samples[1] - samples[0], samples[2] - samples[1]]);
    };
    child.stdout.on('data', (b: Buffer) => {
      if (samples.length > 0) return;
      seen = (seen + b.toString('latin1')).slice(-4096);
      if (seen.includes(READY_MARKER)) sample();
    });
    child.on('error', reject);
    child.on('exit', () => { if (samples.length < 3) reject(new Error(`${cmd}: the guest exited before the idle period ended`)); });
  });
}
