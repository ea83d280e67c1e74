// Our CPU's MIPS on the bench workloads (no QEMU), one run each, for A/B loops:
// by process CPU time (WALL=1: wall time), which other load on the machine disturbs less.
import { Reg, Exit } from '../../src/backend/abi.js';
import { buildPvhKernel, pvhMachine } from '../../bench/guests/pvh.js';
import { workloads, withRepeats } from '../../bench/guests/workloads.js';

const out: Record<string, number> = {};
// V8 compiles functions with its baseline tier first and swaps in optimized
// code on a later call (no on-stack replacement): warm up with short runs.
let warm = true;
for (const w of [workloads[0], ...workloads]) {
  if (process.env.ONLY && !w.name.startsWith(process.env.ONLY)) continue;
  const kernel = buildPvhKernel(withRepeats(w, w.n));
  const { vcpu } = await pvhMachine(kernel, 128 << 20);
  const start = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let exit: Exit;
  do exit = vcpu.run(warm ? 100_000 : 50_000_000); while (exit === Exit.BUDGET);
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const c = process.cpuUsage(c0);
  const s = process.env.WALL ? wall : (c.user + c.system) / 1e6;
  if (exit !== Exit.STOPPED) throw new Error(`${w.name}: ${Exit[exit]}`);
  if (!warm) out[w.name] = +(Number(vcpu.getReg(Reg.INSTRET)) / s / 1e6).toFixed(1);
  warm = false;
}
console.log(JSON.stringify(out));
