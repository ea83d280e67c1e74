// npm run bench: every benchmark, printed as Markdown tables.
import { benchCpu } from './cpu.js';

console.log(`# xmhf-ts benchmarks (${new Date().toISOString()})\n\n## CPU: guest MIPS against QEMU TCG\n`);
await benchCpu();
