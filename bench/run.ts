// npm run bench: every benchmark, printed as Markdown tables.
import { benchCpu } from './cpu.js';
import { benchBoot, benchIdle } from './boot.js';
import { benchHypapps, benchSyscallHooks } from './hypapps.js';

console.log(`# xmhf-ts benchmarks (${new Date().toISOString()})\n\n## CPU: guest MIPS against QEMU TCG\n`);
await benchCpu();

console.log('\n## Boot: Debian\'s kernel to a busybox command\n');
await benchBoot();

console.log('\n## Idle: host CPU while the guest sleeps\n');
await benchIdle();

console.log('\n## Hypapps: cost per event and slowdown (against no hypapps)\n');
await benchHypapps();
await benchSyscallHooks();
