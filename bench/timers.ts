// What many hypapp timers cost the guest's boot: host CPU seconds from run()
// to the default guest's readiness marker, with no timers and with 10,000
// periodic ones (each every second, phases spread over the second), booted
// in this process, interleaved. `node --import tsx bench/timers.ts [runs]`.
import { defaultGuest, guestInitramfs, GUEST_CMDLINE, READY_MARKER } from '../src/guest/debian.js';
import { createVm } from '../src/vmm.js';
import type { Hypapp } from '../src/hypapp/api.js';

const RUNS = Number(process.argv[2] ?? 2);
const TIMERS = 10_000, PERIOD_MS = 1000;

function manyTimers(count: number): Hypapp & { fired: number } {
  const app = {
    name: 'many-timers', fired: 0,
    init(x: Parameters<NonNullable<Hypapp['init']>>[0]) {
      for (let i = 0; i < count; i++) {
        const first = x.every(PERIOD_MS * (1 + i / count), () => { app.fired++; first.cancel(); x.every(PERIOD_MS, () => { app.fired++; }); });
      }
    },
  };
  return app;
}

async function bootCpuSeconds(timers: number): Promise<{ cpu: number; uptime: number; fired: number }> {
  const g = defaultGuest();
  const app = manyTimers(timers);
  let seen = '', cpu = NaN, uptime = NaN;
  const start = process.cpuUsage();
  const vm = await createVm({
    kernel: g.kernel, initrd: guestInitramfs(g, 'true'), cmdline: `${GUEST_CMDLINE} quiet`, hypapps: [app], log: () => {},
    serialOutput: (b) => {
      if (!Number.isNaN(cpu)) return;
      seen = (seen + Buffer.from(b).toString('latin1')).slice(-200);
      const m = new RegExp(`${READY_MARKER} ([\\d.]+)\\s`).exec(seen);
      if (m) {
        const used = process.cpuUsage(start);
        cpu = (used.user + used.system) / 1e6;
        uptime = Number(m[1]);
        vm.stop('ready');
      }
    },
  });
  await vm.run(180_000);
  return { cpu, uptime, fired: app.fired };
}

const results: Record<number, number[]> = { 0: [], [TIMERS]: [] };
for (let r = 0; r < RUNS; r++) {
  for (const t of [0, TIMERS]) {
    const b = await bootCpuSeconds(t);
    results[t].push(b.cpu);
    console.log(`${String(t).padStart(5)} timers: ${b.cpu.toFixed(2)} s CPU to the readiness marker (guest uptime ${b.uptime} s, ${b.fired} firings)`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(results[0]), many = median(results[TIMERS]);
console.log(`median: ${base.toFixed(2)} s without timers, ${many.toFixed(2)} s with ${TIMERS}: +${(100 * (many / base - 1)).toFixed(1)}%`);
