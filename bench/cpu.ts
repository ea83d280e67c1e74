// Guest MIPS of our CPU against QEMU TCG on the same PVH kernels, in the same
// run, interleaved, medians of several runs. QEMU's time has its start-up cost
// removed by subtracting an empty kernel's run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Reg, Exit } from '../src/backend/abi.js';
import { buildPvhKernel, pvhMachine, EXIT_PORT } from './guests/pvh.js';
import { workloads, withRepeats } from './guests/workloads.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RAM = 128 << 20;
/** QEMU runs the workloads this many times longer, so its start-up cost is small next to the work. */
const QEMU_SCALE = 20;

interface OurRun { seconds: number; instructions: number; exitValue: number }

async function runOurs(kernel: { image: Uint8Array; entry: number }): Promise<OurRun> {
  const { vcpu, exitValue } = await pvhMachine(kernel, RAM);
  const start = process.hrtime.bigint();
  let exit: Exit;
  do exit = vcpu.run(50_000_000); while (exit === Exit.BUDGET);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (exit !== Exit.STOPPED) throw new Error(`workload ended with ${Exit[exit]} at RIP 0x${vcpu.getReg(Reg.RIP).toString(16)}`);
  return { seconds, instructions: Number(vcpu.getReg(Reg.INSTRET)), exitValue: exitValue() };
}

function runQemu(elf: Uint8Array): { seconds: number; status: number } {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-bench-'));
  try {
    const path = join(dir, 'k.elf');
    writeFileSync(path, elf);
    const start = process.hrtime.bigint();
    const r = spawnSync('qemu-system-x86_64', ['-accel', 'tcg', '-machine', 'pc', '-m', '128', '-display', 'none',
      '-serial', 'none', '-monitor', 'none', '-no-reboot', '-kernel', path,
      '-device', `isa-debug-exit,iobase=0x${EXIT_PORT.toString(16)},iosize=4`], { timeout: 120_000 });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (r.error) throw r.error;
    return { seconds, status: r.status ?? -1 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchCpu(): Promise<void> {
  const hasQemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
  if (!hasQemu) console.log('qemu-system-x86_64 not found (apt-get install qemu-system-x86): QEMU columns skipped');
  const empty = buildPvhKernel('workload:\n  xor eax, eax\n  ret');
  console.log(`| workload | guest Minstr (ours) | ours s | ours MIPS | QEMU TCG s (net, ${QEMU_SCALE}x the work) | QEMU MIPS | ours / QEMU |`);
  console.log(`|---|---|---|---|---|---|---|`);
  for (const w of workloads) {
    const kernel = buildPvhKernel(withRepeats(w, w.n));
    // Instructions grow linearly with the repeat count; fit that line from our own counts.
    const half = await runOurs(buildPvhKernel(withRepeats(w, w.n / 2)));
    const qemuKernel = buildPvhKernel(withRepeats(w, w.n * QEMU_SCALE));
    const ours: number[] = [], qemu: number[] = [], base: number[] = [];
    let instructions = 0, exitValue = 0;
    for (let i = 0; i < RUNS; i++) {
      const o = await runOurs(kernel);
      ours.push(o.seconds);
      instructions = o.instructions;
      exitValue = o.exitValue;
      if (hasQemu) {
        base.push(runQemu(empty.elf).seconds);
        qemu.push(runQemu(qemuKernel.elf).seconds);
      }
    }
    const oursS = median(ours);
    const mips = instructions / oursS / 1e6;
    let qemuCols = '| - | - | - |';
    if (hasQemu) {
      const perRepeat = (instructions - half.instructions) / (w.n / 2);
      const qemuInstructions = instructions + perRepeat * (w.n * QEMU_SCALE - w.n);
      const net = Math.max(1e-3, median(qemu) - median(base));
      const qmips = qemuInstructions / net / 1e6;
      qemuCols = `| ${net.toFixed(3)} | ${qmips.toFixed(0)} | ${(mips / qmips).toFixed(3)} |`;
    }
    if (exitValue < 0) throw new Error(`${w.name}: no exit value`);
    console.log(`| ${w.name} | ${(instructions / 1e6).toFixed(1)} | ${oursS.toFixed(3)} | ${mips.toFixed(1)} ${qemuCols}`);
  }
}
