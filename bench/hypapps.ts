// The cost of hypapps: nanoseconds per event delivered to a hypapp
// (hypercall, port-I/O exit, memory-protection violation, breakpoint), and the slowdown
// of the default guest's boot and of a system-call-heavy command under the
// shipped syscalls and kguard hypapps, against the same guest with none.
// (QEMU has no hypapps; these ratios are against xmhf-ts itself.)
import { join } from 'node:path';
import { defineHypapp, Prot, PAGE_SIZE, type Hypapp } from '../src/hypapp/api.js';
import { loadHypapp } from '../src/xmhf/loader.js';
import { linuxOf } from '../src/linux/index.js';
import { READY_MARKER } from '../src/guest/debian.js';
import { S_IFREG, type CpioEntry } from '../src/guest/cpio.js';
import { buildGuestProgram, runGuest } from '../test/support/guest-run.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const EVENTS = 20_000;
const P_PROTECT = 0x5001, P_BREAK = 0x5002, P_LOOP = 0x5006, PORT = 0x5a0;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Marks { ready: number; marks: number[] }

/** Boot the default guest with `hypapps` running `command`; host seconds at the readiness marker and at each "MARK" line. */
async function boot(hypapps: Hypapp[], command: string, files: CpioEntry[] = []): Promise<Marks> {
  const start = process.hrtime.bigint();
  const now = () => Number(process.hrtime.bigint() - start) / 1e9;
  const result: Marks = { ready: NaN, marks: [] };
  await runGuest({
    hypapps, command, files, timeoutMs: 300_000,
    onLine: (line) => {
      if (line.startsWith(READY_MARKER)) result.ready = now();
      else if (line.startsWith('MARK')) result.marks.push(now());
    },
  });
  return result;
}

/** A hypapp answering the event loop of guest-probe, timing the first to the last event. */
function eventTimer(kind: 'hypercall' | 'port' | 'violation' | 'breakpoint') {
  const t = { first: 0n, last: 0n, n: 0 };
  const tick = () => { const now = process.hrtime.bigint(); if (t.n++ === 0) t.first = now; t.last = now; };
  const app = defineHypapp({
    name: 'bench',
    init(x) { if (kind === 'port') x.claimPorts(PORT, PORT + 3); },
    onHypercall(x, { cpu, fn, args }) {
      if (fn === P_LOOP) { tick(); return 0; }
      if (fn === P_PROTECT) { x.setprot(cpu.translate(args[0]).gpa & ~0xfffn, PAGE_SIZE, Prot.READ | Prot.EXEC); return 0; }
      if (fn === P_BREAK) { x.addBreakpoint(args[0]); return 0; }
      return undefined;
    },
    onPortIo() { tick(); return 'skip'; },
    onViolation() { tick(); return 'allow-once'; },
    onBreakpoint() { tick(); },
  });
  return { app, nsPerEvent: () => Number(t.last - t.first) / Math.max(1, t.n - 1) };
}

export async function benchHypapps(): Promise<void> {
  const probe = buildGuestProgram(join(import.meta.dirname, '..', 'test', 'fixtures', 'guest-probe.c'));
  const files = [{ path: 'bin/guest-probe', mode: S_IFREG | 0o755, data: probe }];
  console.log(`| event delivered to a hypapp (${EVENTS} in a guest loop) | ns per event (median of ${RUNS}) |\n|---|---|`);
  for (const kind of ['hypercall', 'port', 'violation', 'breakpoint'] as const) {
    const ns: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = eventTimer(kind);
      await boot([t.app], `guest-probe loop ${kind} ${EVENTS}`, files);
      ns.push(t.nsPerEvent());
    }
    console.log(`| ${kind} | ${Math.round(median(ns))} |`);
  }

  const workload = 'echo MARK; dd if=/dev/zero of=/dev/null bs=1 count=20000 2>/dev/null; echo MARK';
  const configs: Array<[string, () => Promise<Hypapp[]>]> = [
    ['none', async () => []],
    ['syscalls', async () => [(await loadHypapp('syscalls')).app]],
    ['kguard', async () => [(await loadHypapp('kguard')).app]],
  ];
  const times = new Map<string, { ready: number[]; work: number[] }>(configs.map(([n]) => [n, { ready: [], work: [] }]));
  for (let i = 0; i < RUNS; i++) {
    for (const [name, make] of configs) { // interleaved
      const m = await boot(await make(), workload);
      times.get(name)!.ready.push(m.ready);
      times.get(name)!.work.push(m.marks[1] - m.marks[0]);
    }
  }
  const base = times.get('none')!;
  console.log(`\n| hypapps | boot to marker (s) | ratio | 40,000 system calls (dd bs=1) (s) | ratio |\n|---|---|---|---|---|`);
  for (const [name] of configs) {
    const t = times.get(name)!;
    const r = median(t.ready), w = median(t.work);
    console.log(`| ${name} | ${r.toFixed(2)} | ${(r / median(base.ready)).toFixed(2)} | ${w.toFixed(2)} | ${(w / median(base.work)).toFixed(2)} |`);
  }
}

// ---- system-call hooks (xmhf-ts/linux): cost per event and the tracer's slowdown ----

/** DRAKVUF's syscalls plugin slows a guest's system-call-heavy work about 9x (reported in its issue tracker). */
const DRAKVUF_SYSCALL_SLOWDOWN = 9;

/** A hypapp with empty system-call listeners (entries only, or entries and returns), counting the calls. */
function syscallListener(returns: boolean) {
  const n = { calls: 0 };
  const app = defineHypapp({
    name: 'bench-syscalls',
    onGuestReady(x) {
      const linux = linuxOf(x);
      linux.onSyscall(() => { n.calls++; return undefined; });
      if (returns) linux.onSyscallReturn(() => undefined);
    },
    onBreakpoint(x, e) { linuxOf(x).onBreakpoint(e); },
  });
  return { app, n };
}

/**
 * Host CPU seconds of the 40,000-system-call workload with each configuration
 * (process CPU time between the guest's marks: the VM runs in this thread, so
 * other load on the machine barely shows). Interleaved, median of RUNS.
 */
export async function benchSyscallHooks(): Promise<void> {
  const workload = 'echo MARK; dd if=/dev/zero of=/dev/null bs=1 count=20000 2>/dev/null; echo MARK';
  const cpuSeconds = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  let calls = 0;
  const configs: Array<[string, () => Promise<Hypapp[]>]> = [
    ['none', async () => []],
    ['onSyscall (empty)', async () => { const l = syscallListener(false); return [{ ...l.app, shutdown: () => { calls = l.n.calls; } }]; }],
    ['onSyscall + onSyscallReturn (empty)', async () => [syscallListener(true).app]],
    ['syscalls tracer (a JSON record per call)', async () => [(await loadHypapp('syscalls')).app]],
  ];
  const times = new Map<string, number[]>(configs.map(([n]) => [n, []]));
  for (let i = 0; i < RUNS; i++) {
    for (const [name, make] of configs) {
      const marks: number[] = [];
      await runGuest({ hypapps: await make(), command: workload, onLine: (l) => { if (l.startsWith('MARK')) marks.push(cpuSeconds()); } });
      times.get(name)!.push(marks[1] - marks[0]);
    }
  }
  const base = median(times.get('none')!);
  console.log(`\n| system-call hooks (${calls} calls in the workload) | host CPU s | ratio | µs per call over none |\n|---|---|---|---|`);
  for (const [name] of configs) {
    const t = median(times.get(name)!);
    console.log(`| ${name} | ${t.toFixed(3)} | ${(t / base).toFixed(2)} | ${name === 'none' ? '' : (((t - base) / Math.max(1, calls)) * 1e6).toFixed(2)} |`);
  }
  console.log(`| DRAKVUF syscalls plugin (published) | | ~${DRAKVUF_SYSCALL_SLOWDOWN} | |`);
}
