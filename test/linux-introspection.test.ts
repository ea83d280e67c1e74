// xmhf-ts/linux against the default Debian guest: what the library finds in
// guest memory, with nothing from the guest, equals what the guest itself
// reports at the same moment (/proc/kallsyms, ps, /proc/modules), with KASLR
// off (the uncompressed vmlinux, booted by PVH) and on (the bzImage, which
// randomizes where it decompresses itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runGuest } from './support/guest-run.js';
import { cacheDir } from '../src/guest/debian.js';
import { linuxOf, type Linux, type Task, type KernelModule } from '../src/linux/index.js';
import type { Hypapp, GuestCpu } from '../src/hypapp/api.js';

const SNAP = 0x4c58;

interface Snapshot {
  linux: Linux;
  processes: Task[];
  modules: KernelModule[];
  current: Task;
  kallsymsSha: string;
  kallsymsCount: number;
  lines: Map<number, string>;
  parentCmdline: string;
  parentFromKernel: string;
}

/** A hypapp that, at the guest's `xmhf-hypercall snap`, records what the library sees. */
function snapshotter(into: { snap?: Snapshot }): Hypapp {
  return {
    name: 'linux-snap',
    hypercalls: { snap: SNAP },
    onHypercall(x, e) {
      if (e.fn !== SNAP) return undefined;
      const linux = linuxOf(x);
      into.snap = take(linux, e.cpu);
      return 0;
    },
  };
}

function take(linux: Linux, cpu: GuestCpu): Snapshot {
  const current = linux.currentTask(cpu);
  const parent = linux.processes().find((p) => p.pid === current.ppid)!;
  // The parent shell's command line, read through its address space while the vCPU runs another process.
  const mm = linux.read('mm_struct', parent.mm);
  const start = mm.arg_start as bigint, end = mm.arg_end as bigint;
  const argv = linux.addressSpace(parent.pid).read(start, Number(end - start));
  const text = kallsymsText(linux);
  const lines = text.split('\n');
  return {
    linux, current, processes: linux.processes(), modules: linux.modules(),
    kallsymsSha: createHash('sha256').update(text).digest('hex'), kallsymsCount: lines.length - 1,
    lines: new Map([1, 1000, 50000, lines.length - 1].map((n) => [n, lines[n - 1]])),
    parentCmdline: '', parentFromKernel: Buffer.from(argv).toString('latin1').replace(/\0/g, ' ').trim(),
  };
}

/** The symbols as /proc/kallsyms prints them to root (core kernel only). */
function kallsymsText(linux: Linux): string {
  return linux.symbols().map((s) => `${s.address.toString(16).padStart(16, '0')} ${s.type} ${s.name}\n`).join('');
}

const GUEST_COMMAND = [
  'echo 0 > /proc/sys/kernel/kptr_restrict',
  'grep -v "]\\$" /proc/kallsyms > /tmp/ks',
  'echo "kallsyms $(sha256sum < /tmp/ks | cut -d" " -f1) $(wc -l < /tmp/ks)"',
  'for n in 1 1000 50000 $(wc -l < /tmp/ks); do echo "line $n $(sed -n ${n}p /tmp/ks)"; done',
  'rm /tmp/ks',
  'echo "shell $$ $(tr "\\0" " " < /proc/$$/cmdline)"',
  'ps -o pid,ppid,stat,user,comm > /tmp/ps',
  'cat /proc/modules > /tmp/modules',
  'sh -c \'echo "snap $$"; exec xmhf-hypercall snap > /dev/null\'',
  'sed "s/^/ps /" /tmp/ps; sed "s/^/module /" /tmp/modules',
].join('; ');

function check(out: string, snap: Snapshot | undefined): void {
  assert.ok(snap, `the snapshot hypercall ran:\n${out}`);
  const lines = out.split('\n');
  const field = (prefix: string) => lines.filter((l) => l.startsWith(`${prefix} `)).map((l) => l.slice(prefix.length + 1));

  // Symbols: the guest's own /proc/kallsyms, byte for byte.
  const [sha, count] = field('kallsyms')[0].split(' ');
  for (const l of field('line')) {
    const n = Number(l.split(' ')[0]);
    assert.equal(snap.lines.get(n), l.slice(l.indexOf(' ') + 1), `line ${n} of /proc/kallsyms`);
  }
  assert.equal(snap.kallsymsCount, Number(count), 'as many symbols as /proc/kallsyms lists for the kernel');
  assert.equal(snap.kallsymsSha, sha, '/proc/kallsyms, every line');
  const initTask = snap.linux.symbol('init_task');
  assert.equal(snap.linux.symbolAt(initTask + 8n)?.name, 'init_task');
  assert.equal(snap.linux.symbolAt(initTask + 8n)?.offset, 8);

  // The current task: the process that made the hypercall, by its own pid.
  const pid = Number(field('snap')[0]);
  assert.equal(snap.current.pid, pid);
  assert.equal(snap.current.comm, 'xmhf-hypercall');
  assert.equal(snap.current.state, 'R');
  const [shellPid, ...cmd] = field('shell')[0].split(' ');
  assert.equal(snap.current.ppid, Number(shellPid), 'its parent is the command\'s shell');
  assert.equal(snap.parentFromKernel, cmd.join(' ').trim(), 'the shell\'s argv, read through its own address space');

  // Processes: ps's list, less ps itself, plus the hypercall's process; kernel workers may come and go in between.
  const ps = field('ps').slice(1).map((l) => {
    const [p, pp, stat, user, comm] = l.trim().split(/\s+/);
    return { pid: Number(p), ppid: Number(pp), state: stat[0], uid: Number(user), comm };
  }).filter((p) => p.comm !== 'ps');
  const ours = new Map(snap.processes.map((p) => [p.pid, p]));
  const worker = (comm: string) => comm.startsWith('kworker/');
  for (const p of ps) {
    const o = ours.get(p.pid);
    if (!o && worker(p.comm)) continue;
    assert.ok(o, `pid ${p.pid} (${p.comm}) is among processes()`);
    assert.ok(p.comm === o.comm || (worker(o.comm) && p.comm.startsWith(o.comm)), `pid ${p.pid}: ps says ${p.comm}, processes() ${o.comm}`);
    assert.equal(o.ppid, p.ppid, `ppid of ${p.pid}`);
    assert.equal(o.uid, p.uid, `uid of ${p.pid}`);
    if (p.pid !== 1) assert.equal(o.state, p.state, `state of ${p.pid} ${p.comm}`);
    assert.equal(o.kernelThread, o.cr3 === undefined);
  }
  const psPids = new Set(ps.map((p) => p.pid));
  const extra = snap.processes.filter((p) => !psPids.has(p.pid) && p.pid !== pid && !worker(p.comm));
  assert.deepEqual(extra.map((p) => `${p.pid} ${p.comm}`), [], 'no process ps did not list');
  assert.ok(snap.processes.find((p) => p.pid === 1)?.cr3 !== undefined, 'init has an address space');

  // Modules: /proc/modules, name, size and address.
  const mods = field('module').map((l) => {
    const [name, size, , , state, address] = l.split(' ');
    return { name, size: Number(size), state: state.toLowerCase(), base: BigInt(address) };
  });
  assert.ok(mods.length >= 5, `the default guest loads its virtio modules: ${mods.length}`);
  assert.deepEqual(snap.modules.map((m) => ({ name: m.name, size: m.size, state: m.state, base: m.base })), mods);
}

function bzImage(): Uint8Array {
  const packages = join(cacheDir(), 'packages');
  const image = readdirSync(packages).find((d) => d.startsWith('linux-image-') && d.endsWith('.d'));
  assert.ok(image, 'the default guest is fetched');
  const boot = join(packages, image, 'boot');
  const file = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
  assert.ok(file, 'the package has its bzImage');
  return new Uint8Array(readFileSync(join(boot, file)));
}

test('KASLR off (vmlinux by PVH): symbols equal /proc/kallsyms, processes() equals ps, modules() equals /proc/modules; current task and another process\'s memory', async () => {
  const into: { snap?: Snapshot } = {};
  const r = await runGuest({ hypapps: [snapshotter(into)], command: GUEST_COMMAND });
  assert.equal(r.status, 0, `${r.stop.reason} ${r.stop.detail ?? ''}\n${r.output}\n${r.logs.join('\n')}`);
  check(r.output, into.snap);
  assert.equal(into.snap!.linux.kaslrOffset, 0n, 'the PVH boot does not randomize');
});

test('KASLR on (the bzImage decompresses itself at a random place): the same, at the randomized addresses', async () => {
  const into: { snap?: Snapshot } = {};
  const r = await runGuest({ hypapps: [snapshotter(into)], command: GUEST_COMMAND, kernel: bzImage(), timeoutMs: 300_000 });
  assert.equal(r.status, 0, `${r.stop.reason} ${r.stop.detail ?? ''}\n${r.output}\n${r.logs.join('\n')}`);
  check(r.output, into.snap);
  assert.notEqual(into.snap!.linux.kaslrOffset, 0n, 'the bzImage put the kernel elsewhere');
});
