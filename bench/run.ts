// npm run bench: every benchmark, printed as Markdown tables.
import { benchCpu } from './cpu.js';
import { benchBoot, benchIdle } from './boot.js';
import { benchHypapps, benchSyscallHooks } from './hypapps.js';
import { benchSmp } from './smp.js';
import { benchShare } from './share.js';
import { benchLinux } from './linux.js';
import { benchDebianDisk } from './debian-disk.js';
import { benchDisk } from './disk.js';

console.log(`# xmhf-ts benchmarks (${new Date().toISOString()})\n\n## CPU: guest MIPS against QEMU TCG\n`);
await benchCpu();

console.log('\n## Boot: Debian\'s kernel to a busybox command\n');
await benchBoot();

console.log('\n## Boot: Debian\'s kernel to Python on the Debian root disk\n');
await benchDebianDisk();

console.log('\n## Idle: host CPU while the guest sleeps\n');
await benchIdle();

console.log('\n## Hypapps: cost per event and slowdown (against no hypapps)\n');
await benchHypapps();
await benchSyscallHooks();

console.log('\n## Disk: sequential dd of 256 MiB through virtio-blk\n');
await benchDisk();

console.log('\n## Host folder: tar of 2,000 files through virtio-9p\n');
await benchShare();

console.log('\n## xmhf-ts/linux: finding the kernel and reading it\n');
await benchLinux();

console.log('\n## SMP: several vCPUs against QEMU TCG with the same -smp\n');
await benchSmp();
