// A host folder through virtio-9p: the guest tars a 2,000-file host directory
// (`tar cf - -C /mnt/s . | wc -c`), on xmhf-ts (`--share`) and on QEMU TCG
// (virtio-9p-pci, -fsdev local with security_model=none) with the same
// kernel, initramfs (whose /init mounts the share the same way on both) and
// command line. The time is the host's wall time between the two markers the
// guest prints around the tar. Interleaved runs, medians.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultGuest, guestInitramfs, GUEST_CMDLINE } from '../src/guest/debian.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CMDLINE = `${GUEST_CMDLINE} quiet`;
const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');
const FILES = 2000;
const DIRS = 40;
const TAG = 's';
const START = 'TAR-START', END = 'TAR-END';
const COMMAND = `echo ${START}; tar cf - -C /mnt/${TAG} . | wc -c; echo ${END}`;

/** 2,000 files of 0 to 16 KiB in 40 directories, the same every run (a fixed xorshift). */
function makeTree(dir: string): number {
  let seed = 12345, bytes = 0;
  const random = () => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed; };
  for (let i = 0; i < FILES; i++) {
    const sub = join(dir, `d${i % DIRS}`);
    if (i < DIRS) mkdirSync(sub);
    const data = Buffer.alloc(random() % 16385);
    for (let j = 0; j + 4 <= data.length; j += 4) data.writeUInt32LE(random(), j);
    writeFileSync(join(sub, `f${i}.bin`), data);
    bytes += data.length;
  }
  return bytes;
}

interface Timing { tarS: number; tarBytes: number }

/** Run `cmd` and time the span between the guest's two markers on its console. */
function timeTar(cmd: string, args: string[]): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const now = () => Number(process.hrtime.bigint()) / 1e9;
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '', startS = NaN, endS = NaN;
    child.stdout.on('data', (b: Buffer) => {
      seen += b.toString('latin1');
      if (Number.isNaN(startS) && seen.includes(START)) startS = now();
      if (Number.isNaN(endS) && seen.includes(END)) endS = now();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 900_000);
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(timer);
      const m = new RegExp(`${START}\\s+(\\d+)\\s+${END}`).exec(seen.replace(/\r/g, ''));
      if (Number.isNaN(endS) || !m) reject(new Error(`${cmd}: no tar markers in the console output:\n${seen.slice(-2000)}`));
      else resolve({ tarS: endS - startS, tarBytes: Number(m[1]) });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchShare(): Promise<void> {
  const g = defaultGuest();
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-bench-share-'));
  try {
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    const bytes = makeTree(tree);
    const kernel = join(dir, 'vmlinux'), initrd = join(dir, 'initrd');
    writeFileSync(kernel, g.kernel);
    writeFileSync(initrd, guestInitramfs(g, COMMAND));
    const hasQemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
    const ours: Timing[] = [], qemu: Timing[] = [];
    for (let i = 0; i < RUNS; i++) {
      ours.push(await timeTar(process.execPath, [XMHF, 'run', '--kernel', kernel, '--initrd', initrd,
        '--append', CMDLINE.replace('console=ttyS0 ', ''), '--share', `${tree}:${TAG},ro`]));
      if (hasQemu) {
        qemu.push(await timeTar('qemu-system-x86_64', ['-accel', 'tcg', '-machine', 'pc', '-m', '256', '-display', 'none',
          '-monitor', 'none', '-serial', 'stdio', '-no-reboot', '-kernel', kernel, '-initrd', initrd, '-append', CMDLINE,
          '-fsdev', `local,id=fs0,path=${tree},security_model=none,readonly=on`, '-device', `virtio-9p-pci,fsdev=fs0,mount_tag=${TAG}`]));
      }
    }
    console.log(`Debian ${g.version}; ${FILES} files (${(bytes / 2 ** 20).toFixed(1)} MiB) in ${DIRS} directories, shared read-only; ` +
      `\`${COMMAND}\` in the guest; ${RUNS} interleaved runs, medians\n`);
    console.log('| machine | s for the tar | MiB/s | tar bytes |\n|---|---|---|---|');
    const row = (name: string, t: Timing[]) => {
      const s = median(t.map((x) => x.tarS));
      console.log(`| ${name} | ${s.toFixed(2)} | ${(median(t.map((x) => x.tarBytes)) / 2 ** 20 / s).toFixed(2)} | ${median(t.map((x) => x.tarBytes))} |`);
    };
    row('xmhf-ts (--share)', ours);
    if (hasQemu) {
      row('QEMU TCG (virtio-9p-pci)', qemu);
      console.log(`\nxmhf-ts / QEMU TCG, tar time: ${(median(ours.map((x) => x.tarS)) / median(qemu.map((x) => x.tarS))).toFixed(2)}`);
    } else {
      console.log('\n(qemu-system-x86_64 not found: apt-get install qemu-system-x86)');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchShare();
