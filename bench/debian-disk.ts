// Wall time from process start to `python3 -c 'print(1)'` finishing on the
// Debian root disk (`xmhf image debian`), on xmhf-ts and on QEMU TCG with the
// same kernel, initramfs, image (virtio-blk-pci, as a snapshot) and command
// line. Interleaved runs, medians.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultGuest, guestInitramfs, GUEST_CMDLINE } from '../src/guest/debian.js';
import { currentDebianImage } from '../src/guest/debian-image.js';
import { timeBoot, qemuArgs, median, type Timing } from './boot.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const COMMAND = `python3 -c 'print(1)'`;
const CMDLINE = `${GUEST_CMDLINE} quiet root=/dev/vda`;
const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');

export async function benchDebianDisk(): Promise<void> {
  const image = currentDebianImage();
  if (!image) { console.log('(no Debian image: run `node bin/xmhf.js image debian` first)'); return; }
  const g = defaultGuest();
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-bench-disk-'));
  try {
    const kernel = join(dir, 'vmlinux'), initrd = join(dir, 'initrd');
    writeFileSync(kernel, g.kernel);
    writeFileSync(initrd, guestInitramfs(g, COMMAND));
    const hasQemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
    const ours: Timing[] = [], qemu: Timing[] = [];
    for (let i = 0; i < RUNS; i++) {
      ours.push(await timeBoot(process.execPath, [XMHF, 'run', '--kernel', kernel, '--initrd', initrd,
        '--append', CMDLINE.replace('console=ttyS0 ', ''), '--disk', `${image},snapshot`]));
      if (hasQemu) {
        qemu.push(await timeBoot('qemu-system-x86_64', [...qemuArgs(kernel, initrd, CMDLINE),
          '-drive', `file=${image},format=raw,if=none,id=root,snapshot=on`, '-device', 'virtio-blk-pci,drive=root']));
      }
    }
    const row = (name: string, t: Timing[]) =>
      `| ${name} | ${median(t.map((x) => x.readyS)).toFixed(2)} | ${median(t.map((x) => x.uptimeS)).toFixed(2)} | ${median(t.map((x) => x.exitS)).toFixed(2)} |`;
    console.log(`Debian ${g.version}, root disk ${image} (virtio-blk, snapshot), \`${CMDLINE}\`, command \`${COMMAND}\`, ${RUNS} interleaved runs, medians\n`);
    console.log('| machine | s to readiness marker (on the Debian root) | guest uptime at the marker | s to exit (command done, powered off) |\n|---|---|---|---|');
    console.log(row('xmhf-ts (WebAssembly CPU)', ours));
    if (hasQemu) {
      console.log(row('QEMU TCG', qemu));
      const ratio = median(ours.map((x) => x.exitS)) / median(qemu.map((x) => x.exitS));
      console.log(`\nxmhf-ts / QEMU TCG, time to the command's end: ${ratio.toFixed(2)} (goal: 1.5 or less)`);
    } else {
      console.log('\n(qemu-system-x86_64 not found: apt-get install qemu-system-x86)');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node --import tsx bench/debian-disk.ts` runs this one alone.
if (import.meta.url === `file://${process.argv[1]}`) await benchDebianDisk();
