// The cost of xmhf-ts/linux on the default guest: finding the kernel, its
// symbols and types after boot (attach), and each live query once attached.
// (QEMU has no such library; these are host milliseconds per call.)
import { defineHypapp } from '../src/hypapp/api.js';
import { linuxOf } from '../src/linux/index.js';
import { runGuest } from '../test/support/guest-run.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SNAP = 0x4c59;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median milliseconds of `n` calls of `fn`. */
function timeIt(n: number, fn: () => unknown): number {
  const times: number[] = [];
  for (let i = 0; i < n; i++) { const t = performance.now(); fn(); times.push(performance.now() - t); }
  return median(times);
}

export async function benchLinux(): Promise<void> {
  const rows = new Map<string, number[]>();
  const add = (k: string, v: number) => { if (!rows.has(k)) rows.set(k, []); rows.get(k)!.push(v); };
  let tasks = 0, modules = 0, symbols = 0;
  for (let i = 0; i < RUNS; i++) {
    const app = defineHypapp({
      name: 'bench-linux',
      hypercalls: { snap: SNAP },
      onGuestReady(x) {
        const t = performance.now();
        const linux = linuxOf(x).attach();
        add('attach (total)', performance.now() - t);
        add('  reading the kernel image', linux.attachTimings.image);
        add('  decoding kallsyms', linux.attachTimings.kallsyms);
        add('  indexing BTF', linux.attachTimings.btf);
        symbols = linux.symbols().length;
      },
      onHypercall(x, e) {
        if (e.fn !== SNAP) return undefined;
        const linux = linuxOf(x);
        tasks = linux.processes().length;
        modules = linux.modules().length;
        add('processes()', timeIt(20, () => linux.processes()));
        add('modules()', timeIt(20, () => linux.modules()));
        add('currentTask(cpu)', timeIt(200, () => linux.currentTask(e.cpu)));
        add('currentTaskAddress(cpu)', timeIt(1000, () => linux.currentTaskAddress(e.cpu)));
        const rip = linux.symbol('do_sys_openat2') + 7n;
        add('symbolAt(addr)', timeIt(1000, () => linux.symbolAt(rip)));
        return 0;
      },
    });
    await runGuest({ hypapps: [app], command: 'xmhf-hypercall snap > /dev/null', timeoutMs: 300_000 });
  }
  console.log(`${symbols} symbols, ${tasks} processes, ${modules} modules; median of ${RUNS} boots\n`);
  console.log('| xmhf-ts/linux | host ms |\n|---|---|');
  for (const [k, v] of rows) console.log(`| ${k} | ${median(v).toFixed(k.startsWith('current') || k.startsWith('symbolAt') ? 4 : 1)} |`);
}

if (import.meta.url === `file://${process.argv[1]}`) await benchLinux();
