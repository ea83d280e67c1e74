// Several vCPUs: wall time to the default guest's readiness marker with 1, 2
// and 4 vCPUs, and the guest time two CPU-bound processes take together with
// 1 and 2 vCPUs, on xmhf-ts and on QEMU TCG (-smp N, multi-threaded TCG) in
// the same run, interleaved, medians. xmhf-ts runs its vCPUs in turn on one
// host thread (docs/smp.md), so the second vCPU brings no speed-up yet.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultGuest, guestInitramfs, READY_MARKER, GUEST_CMDLINE } from '../src/guest/debian.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CMDLINE = `${GUEST_CMDLINE} quiet`;
const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');
/** Two processes hashing MIB MiB each at once; the guest prints the seconds of its uptime they took. */
const MIB = 16;
const TWO_HASHES = `a=$(cut -d" " -f1 /proc/uptime); for i in 1 2; do dd if=/dev/zero bs=1M count=${MIB} 2>/dev/null | sha256sum >/dev/null & done; wait; ` +
  'b=$(cut -d" " -f1 /proc/uptime); echo "HASHED $a $b"';

interface Timing { readyS: number; hashS: number }

/** Run `cmd`: host seconds to the readiness marker, and the guest seconds the two hashes took (NaN if not run). */
function time(cmd: string, args: string[]): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '', readyS = NaN, hashS = NaN;
    child.stdout.on('data', (b: Buffer) => {
      seen = (seen + b.toString('latin1')).slice(-4096);
      if (Number.isNaN(readyS) && seen.includes(READY_MARKER)) readyS = Number(process.hrtime.bigint() - start) / 1e9;
      const m = /HASHED ([\d.]+) ([\d.]+)/.exec(seen);
      if (m && Number.isNaN(hashS)) hashS = Number(m[2]) - Number(m[1]);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(timer);
      if (Number.isNaN(readyS)) reject(new Error(`${cmd}: no readiness marker`));
      else resolve({ readyS, hashS });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchSmp(): Promise<void> {
  const g = defaultGuest();
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-bench-smp-'));
  try {
    const kernel = join(dir, 'vmlinux'), bootInitrd = join(dir, 'boot'), hashInitrd = join(dir, 'hash');
    writeFileSync(kernel, g.kernel);
    writeFileSync(bootInitrd, guestInitramfs(g, 'true'));
    writeFileSync(hashInitrd, guestInitramfs(g, TWO_HASHES));
    const hasQemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
    const ours = (cpus: number, initrd: string) => time(process.execPath, [XMHF, 'run', '--cpus', String(cpus), '--kernel', kernel,
      '--initrd', initrd, '--append', CMDLINE.replace('console=ttyS0 ', '')]);
    const qemu = (cpus: number, initrd: string) => time('qemu-system-x86_64', ['-accel', 'tcg,thread=multi', '-smp', String(cpus),
      '-machine', 'pc', '-m', '256', '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
      '-kernel', kernel, '-initrd', initrd, '-append', CMDLINE]);
    const rows: Array<{ name: string; cpus: number; initrd: string; run: typeof ours; t: Timing[] }> = [];
    for (const cpus of [1, 2, 4]) {
      rows.push({ name: 'xmhf-ts', cpus, initrd: bootInitrd, run: ours, t: [] });
      if (hasQemu) rows.push({ name: 'QEMU TCG', cpus, initrd: bootInitrd, run: qemu, t: [] });
    }
    const hashRows: typeof rows = [];
    for (const cpus of [1, 2]) {
      hashRows.push({ name: 'xmhf-ts', cpus, initrd: hashInitrd, run: ours, t: [] });
      if (hasQemu) hashRows.push({ name: 'QEMU TCG', cpus, initrd: hashInitrd, run: qemu, t: [] });
    }
    for (let i = 0; i < RUNS; i++) for (const r of [...rows, ...hashRows]) r.t.push(await r.run(r.cpus, r.initrd));
    console.log(`Debian ${g.version}, busybox initramfs, ${RUNS} interleaved runs, medians; host: ${spawnSync('nproc').stdout.toString().trim()} cores\n`);
    console.log('| machine | vCPUs | s to readiness marker | / QEMU TCG, same vCPUs |\n|---|---|---|---|');
    for (const r of rows) {
      const q = rows.find((x) => x.name === 'QEMU TCG' && x.cpus === r.cpus);
      const ratio = q && r !== q ? (median(r.t.map((x) => x.readyS)) / median(q.t.map((x) => x.readyS))).toFixed(2) : '';
      console.log(`| ${r.name} | ${r.cpus} | ${median(r.t.map((x) => x.readyS)).toFixed(2)} | ${ratio} |`);
    }
    console.log(`\nTwo processes each hashing ${MIB} MiB (sha256sum) at once, seconds of guest uptime:\n`);
    console.log('| machine | vCPUs | s | speed-up over 1 vCPU |\n|---|---|---|---|');
    for (const r of hashRows) {
      const one = hashRows.find((x) => x.name === r.name && x.cpus === 1)!;
      const s = median(r.t.map((x) => x.hashS));
      console.log(`| ${r.name} | ${r.cpus} | ${s.toFixed(2)} | ${(median(one.t.map((x) => x.hashS)) / s).toFixed(2)} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchSmp();
