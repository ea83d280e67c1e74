// Round trips through the gdb stub: a register read (p, RIP) and a single
// step (s) as a client sees them, from the first instruction of the default
// guest's kernel (Debian's vmlinux, PVH entry: the same instructions on both),
// beside QEMU's gdbstub (TCG) with the same kernel in the same run.
// node --import tsx bench/gdb.ts   (BENCH_ROUNDS, default 2000)
import { spawn } from 'node:child_process';
import { mkdtempSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultGuest } from '../src/guest/debian.js';
import { GdbClient } from '../test/support/gdb-client.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2000);
const KERNEL = defaultGuest().kernel;
const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');
const dir = mkdtempSync(join(tmpdir(), 'xmhf-bench-gdb-'));

interface Figures { register: number; step: number }

/** Microseconds per round trip (median of 5 batches of ROUNDS / 5). */
async function measure(g: GdbClient): Promise<Figures> {
  const perRound = async (payload: string) => {
    const batches: number[] = [];
    for (let b = 0; b < 5; b++) {
      const n = Math.floor(ROUNDS / 5);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await g.request(payload);
      batches.push(Number(process.hrtime.bigint() - t0) / 1e3 / n);
    }
    return batches.sort((a, b) => a - b)[2];
  };
  await g.request('?');
  await g.request('QStartNoAckMode');   // as gdb does
  return { register: await perRound('p10'), step: await perRound('s') };
}

/** `xmhf run --gdb unix:SOCK --gdb-wait`, as a user runs it (the VM in its own process, as QEMU's). */
async function ours(): Promise<Figures> {
  const sock = join(dir, 'xmhf.sock');
  const kernel = join(dir, 'vmlinux');
  writeFileSync(kernel, KERNEL);
  const x = spawn(process.execPath, [XMHF, 'run', '--kernel', kernel, '--gdb', `unix:${sock}`, '--gdb-wait', '--timeout', '600'], { stdio: 'ignore' });
  for (let i = 0; i < 600 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  const g = await GdbClient.connect(sock);
  try { return await measure(g); } finally { g.close(); x.kill(); }
}

async function qemu(): Promise<Figures | string> {
  const kernel = join(dir, 'vmlinux');
  const sock = join(dir, 'qemu.sock');
  const q = spawn('qemu-system-x86_64', ['-machine', 'accel=tcg', '-display', 'none', '-serial', 'null', '-monitor', 'none', '-m', '256',
    '-kernel', kernel, '-S', '-chardev', `socket,path=${sock},server=on,wait=off,id=g`, '-gdb', 'chardev:g'], { stdio: 'ignore' });
  const failed = new Promise<string>((resolve) => { q.on('error', (e) => resolve(`QEMU did not start: ${e.message}`)); q.on('exit', (c) => resolve(`QEMU exited (${c})`)); });
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(sock)) { q.kill(); return await Promise.race([failed, Promise.resolve('no QEMU gdb socket')]); }
  const g = await GdbClient.connect(sock);
  try { return await measure(g); } finally { g.close(); q.kill(); }
}

const a = await ours();
const b = await qemu();
const row = (what: string, x: number, y: number | undefined) =>
  console.log(`${what.padEnd(34)} ${x.toFixed(1).padStart(8)} µs   QEMU TCG ${y === undefined ? 'n/a' : `${y.toFixed(1).padStart(8)} µs   ratio ${(x / y).toFixed(2)}`}`);
console.log(`gdb stub round trips (median of 5 batches, ${ROUNDS} requests each kind), Unix socket, same guest image`);
row('register read (p rip)', a.register, typeof b === 'string' ? undefined : b.register);
row('single step (s) incl. stop reply', a.step, typeof b === 'string' ? undefined : b.step);
if (typeof b === 'string') console.log(`QEMU: ${b}`);
