// Sequential throughput of virtio-blk inside the guest: dd of a 256 MiB raw
// image to /dev/null with iflag=direct, then 256 MiB from /dev/zero onto it
// with oflag=direct, bs=1M, on xmhf-ts (--disk) and on QEMU TCG
// (virtio-blk-pci, raw, its default writeback cache like our page-cache
// writes) with the same kernel, initramfs and command line. The time of each
// dd is the host's wall time between the markers the guest prints around it,
// and the host CPU time the machine's process used meanwhile (all its
// threads: on a loaded host, wall time measures the host's other work too).
// Interleaved runs, medians.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { GUEST_CMDLINE } from '../src/guest/debian.js';
import { qemuArgs, median, withGuestFiles, cpuSeconds } from './boot.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CMDLINE = `${GUEST_CMDLINE} quiet`;
const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');
const MIB = 1 << 20;
const SIZE_MIB = Number(process.env.BENCH_DISK_MIB ?? 256);
const COMMAND = [
  'echo MARK read-start', `dd if=/dev/vda of=/dev/null bs=1M count=${SIZE_MIB} iflag=direct 2>/dev/null`, 'echo MARK read-end',
  'echo MARK write-start', `dd if=/dev/zero of=/dev/vda bs=1M count=${SIZE_MIB} oflag=direct 2>/dev/null`, 'echo MARK write-end',
].join('; ');

interface Timing { readS: number; writeS: number; readCpuS: number; writeCpuS: number }

/** Run `cmd`, timing the host's wall clock at each "MARK name" line of its console. */
function timeMarks(cmd: string, args: string[]): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const now = () => Number(process.hrtime.bigint()) / 1e9;
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    const at = new Map<string, number>(), cpuAt = new Map<string, number>();
    let seen = '';
    child.stdout.on('data', (b: Buffer) => {
      seen = (seen + b.toString('latin1')).slice(-4096);
      for (const m of seen.matchAll(/MARK ([a-z-]+)\r?\n/g)) {
        if (at.has(m[1])) continue;
        at.set(m[1], now());
        cpuAt.set(m[1], cpuSeconds(child.pid!));
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 900_000);
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(timer);
      const span = (m: Map<string, number>, name: string) => (m.get(`${name}-end`) ?? NaN) - (m.get(`${name}-start`) ?? NaN);
      const t = { readS: span(at, 'read'), writeS: span(at, 'write'), readCpuS: span(cpuAt, 'read'), writeCpuS: span(cpuAt, 'write') };
      if (Number.isNaN(t.readS + t.writeS + t.readCpuS + t.writeCpuS)) reject(new Error(`${cmd}: markers missing from the console:\n${seen.slice(-2000)}`));
      else resolve(t);
    });
  });
}

/** A raw image of SIZE_MIB of random bytes (so reads are of real data, not a sparse file's holes). */
function makeImage(path: string): void {
  const fd = openSync(path, 'w');
  try {
    const chunk = randomBytes(MIB);
    for (let i = 0; i < SIZE_MIB; i++) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
}

export async function benchDisk(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-bench-blk-'));
  try {
    const image = join(dir, 'disk.img');
    makeImage(image);
    await withGuestFiles(COMMAND, async (kernel, initrd, version) => {
      const hasQemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
      const ours: Timing[] = [], qemu: Timing[] = [];
      for (let i = 0; i < RUNS; i++) {
        ours.push(await timeMarks(process.execPath, [XMHF, 'run', '--kernel', kernel, '--initrd', initrd,
          '--append', CMDLINE.replace('console=ttyS0 ', ''), '--disk', image]));
        if (hasQemu) {
          qemu.push(await timeMarks('qemu-system-x86_64', [...qemuArgs(kernel, initrd, CMDLINE),
            '-drive', `file=${image},format=raw,if=none,id=d0`, '-device', 'virtio-blk-pci,drive=d0']));
        }
      }
      const rate = (s: number) => (SIZE_MIB / s).toFixed(1);
      const row = (name: string, t: Timing[]) => {
        const r = median(t.map((x) => x.readS)), w = median(t.map((x) => x.writeS));
        const rc = median(t.map((x) => x.readCpuS)), wc = median(t.map((x) => x.writeCpuS));
        return `| ${name} | ${r.toFixed(2)} | ${rate(r)} | ${rc.toFixed(2)} | ${w.toFixed(2)} | ${rate(w)} | ${wc.toFixed(2)} |`;
      };
      console.log(`Debian ${version}, ${SIZE_MIB} MiB raw image, dd bs=1M iflag=direct / oflag=direct, \`${CMDLINE}\`, ${RUNS} interleaved runs, medians\n`);
      console.log('| machine | read s | read MiB/s | read host CPU s | write s | write MiB/s | write host CPU s |\n|---|---|---|---|---|---|---|');
      console.log(row('xmhf-ts (virtio-blk)', ours));
      if (hasQemu) {
        console.log(row('QEMU TCG (virtio-blk-pci)', qemu));
        const ratio = (f: (t: Timing) => number) => (median(qemu.map(f)) / median(ours.map(f))).toFixed(2);
        console.log(`\nxmhf-ts / QEMU TCG throughput: read ${ratio((t) => t.readS)}, write ${ratio((t) => t.writeS)} (goal: 1 or more); `
          + `per host CPU second: read ${ratio((t) => t.readCpuS)}, write ${ratio((t) => t.writeCpuS)}`);
      } else {
        console.log('\n(qemu-system-x86_64 not found: apt-get install qemu-system-x86)');
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node --import tsx bench/disk.ts` runs this one alone.
if (import.meta.url === `file://${process.argv[1]}`) await benchDisk();
