// Boot Debian's kernel in this process to the readiness marker and print one
// JSON line: wall and CPU seconds, guest instructions, MIPS, time inside the
// CPU's run(). For profiles: node --cpu-prof --import tsx tools/perf/boot.ts
//
// --profile: run the event-counting CPU (node scripts/build-cpu.mjs --profile,
// src/cpu/profile.ts) and print where the instructions and events went. It is
// swapped in for build/cpu.wasm for the run and put back afterwards.
import { copyFileSync, existsSync, readFileSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { PcMachine } from '../../src/platform/pc.js';
import { createSoftwareMachine } from '../../src/backend/software.js';
import { loadLinux } from '../../src/boot/linux.js';
import { defaultGuest, guestInitramfs, READY_MARKER, GUEST_CMDLINE } from '../../src/guest/debian.js';
import { Reg, Exit } from '../../src/backend/abi.js';

const root = join(import.meta.dirname, '..', '..');
const profile = process.argv.includes('--profile');
const wasm = join(root, 'build', 'cpu.wasm');
const saved = join(root, 'build', 'cpu.wasm.saved');

if (profile) {
  execFileSync(process.execPath, [join(root, 'scripts', 'build-cpu.mjs'), '--profile'], { stdio: 'inherit' });
  execFileSync(process.execPath, [join(root, 'scripts', 'build-cpu.mjs')], { stdio: 'inherit' });
  copyFileSync(wasm, saved);
  copyFileSync(join(root, 'build', 'cpu-profile.wasm'), wasm);
}
try {
  await boot();
} finally {
  if (profile && existsSync(saved)) {
    const { atime, mtime } = statSync(saved);
    copyFileSync(saved, wasm);
    utimesSync(wasm, atime, mtime);
    unlinkSync(saved);
  }
}

async function boot(): Promise<void> {
  const g = defaultGuest();
  const initrd = guestInitramfs({ ...g, hypercallTool: undefined }, 'true'); // no hypervisor core here to answer it
  const cmdline = `${GUEST_CMDLINE} quiet`;
  let seen = '';
  const t0 = process.hrtime.bigint();
  const pc: PcMachine = await PcMachine.create({
    ramSize: 256 << 20,
    backend: createSoftwareMachine,
    serialOutput: (b) => {
      seen = (seen + Buffer.from(b).toString('latin1')).slice(-4096);
      if (seen.includes(READY_MARKER)) pc.stop({ kind: 'stopped' });
    },
  });
  loadLinux(pc.machine, pc.vcpu, { kernel: g.kernel, initrd, cmdline, rsdpAddr: pc.rsdpAddr });
  // Time spent inside the CPU (the rest is the platform's loop and idling while the guest halts).
  let inRun = 0n, runs = 0, halts = 0;
  const vcpu = pc.vcpu as unknown as { run(budget: number): number };
  const realRun = vcpu.run.bind(vcpu);
  vcpu.run = (budget: number) => {
    const a = process.hrtime.bigint();
    const e = realRun(budget);
    inRun += process.hrtime.bigint() - a;
    runs++;
    if (e === Exit.HALTED) halts++;
    return e;
  };
  const t1 = process.hrtime.bigint();
  const c1 = process.cpuUsage();
  await pc.run(120_000);
  const wallS = Number(process.hrtime.bigint() - t1) / 1e9;
  const c = process.cpuUsage(c1);
  const cpuS = (c.user + c.system) / 1e6;
  const n = Number(pc.vcpu.getReg(Reg.INSTRET));
  const runS = Number(inRun) / 1e9;
  console.log(JSON.stringify({
    setupS: +(Number(t1 - t0) / 1e9).toFixed(3), bootS: +wallS.toFixed(3), minstr: +(n / 1e6).toFixed(1),
    mips: +(n / wallS / 1e6).toFixed(1), runS: +runS.toFixed(3), runMips: +(n / runS / 1e6).toFixed(1),
    cpuS: +cpuS.toFixed(3), cpuMips: +(n / cpuS / 1e6).toFixed(1), runs, halts,
  }));
  if (profile) printCounters(pc, n);
}

/** The profiling CPU's counters (src/cpu/profile.ts), as tables. */
function printCounters(pc: PcMachine, instructions: number): void {
  const cpu = (pc.machine as unknown as { cpu: { memory: WebAssembly.Memory; profileCounters(): number } }).cpu;
  const base = cpu.profileCounters();
  if (base === 0) throw new Error('build/cpu.wasm is not a profiling build');
  const counter = new BigInt64Array(cpu.memory.buffer, base, 0x640);
  const at = (i: number) => Number(counter[i]);
  const pct = (v: number) => `${(100 * v / instructions).toFixed(2).padStart(6)}%`;
  // FAST_* names from decode.ts; ids between two names are variants (+k) of the earlier one.
  const fastName: string[] = [];
  for (const m of readFileSync(join(root, 'src', 'cpu', 'decode.ts'), 'utf8').matchAll(/export const FAST_(\w+): u8 = (\d+);/g)) fastName[Number(m[2])] = m[1];
  for (let i = 1, last = 'NONE', first = 0; i < 256; i++) { if (fastName[i]) { last = fastName[i]; first = i; } else fastName[i] = `${last}+${i - first}`; }

  const fast = Array.from({ length: 256 }, (_, i) => [fastName[i], at(i)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  const general = Array.from({ length: 0x400 }, (_, op) => [op, at(0x100 + op)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  const sum = (xs: readonly (readonly [unknown, number])[]) => xs.reduce((s, [, v]) => s + v, 0);
  const inFast = sum(fast), inGeneral = sum(general);
  const careful = at(0x505);
  console.log(`\ninstructions ${instructions}: fast forms ${pct(inFast)}, general executor in blocks ${pct(inGeneral)}, careful path ${pct(careful)}`);
  console.log('\nfast forms (share of all instructions):');
  for (const [name, v] of fast.slice(0, 40)) console.log(`  ${pct(v)}  ${name}`);
  console.log('\ngeneral executor, by opcode (0x1xx: 0F map):');
  for (const [op, v] of general.slice(0, 20)) console.log(`  ${pct(v)}  0x${op.toString(16)}`);
  const blocks = at(0x500);
  let blockInstructions = 0;
  for (let k = 0; k <= 32; k++) blockInstructions += k * at(0x600 + k);
  const events: [string, number][] = [
    ['blocks entered', blocks], ['... through a link', at(0x501)], ['... in another page', at(0x502)],
    ['blocks decoded', at(0x503)], ['instructions decoded', at(0x504)], ['page walks (TLB fills)', at(0x506)],
    ['reads past the TLB', at(0x507)], ['writes past the TLB', at(0x508)], ['code pages invalidated', at(0x509)],
    ['RFLAGS computed from lazy flags', at(0x50a)], ['conditions the slow way', at(0x50b)],
    ['REP MOVS/STOS iterations in bulk', at(0x50c)], ['string iterations one at a time', at(0x50d)],
    ['exceptions and interrupts delivered', at(0x50e)],
  ];
  console.log(`\nevents (per 1000 instructions); ${(blockInstructions / blocks).toFixed(2)} instructions per block run`);
  for (const [name, v] of events) console.log(`  ${(1000 * v / instructions).toFixed(3).padStart(9)}  ${String(v).padStart(11)}  ${name}`);
}
