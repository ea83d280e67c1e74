// xmhf-ts/linux against the default Debian guest: what the library finds in
// guest memory, with nothing from the guest, equals what the guest itself
// reports at the same moment (/proc/kallsyms, ps, /proc/modules), with KASLR
// off (the uncompressed vmlinux, booted by PVH) and on (the bzImage, which
// randomizes where it decompresses itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGuest } from './support/guest-run.js';
import { cacheDir } from '../src/guest/debian.js';
import { S_IFREG } from '../src/guest/cpio.js';
import { linuxOf, type Linux, type Task, type KernelModule, type OpenFile } from '../src/linux/index.js';
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
  parentFromKernel: string;
  parentFiles: OpenFile[];
  ownFiles: OpenFile[];
  threads: Task[];
}

interface Later { processes: Task[]; modules: KernelModule[]; current: Task }

/** A hypapp that, at the guest's `xmhf-hypercall snap`, records what the library sees; `xmhf-hypercall later` records again. */
function snapshotter(into: { snap?: Snapshot; later?: Later }): Hypapp {
  return {
    name: 'linux-snap',
    hypercalls: { snap: SNAP, later: SNAP + 1 },
    onHypercall(x, e) {
      const linux = linuxOf(x);
      if (e.fn === SNAP) into.snap = take(linux, e.cpu);
      else if (e.fn === SNAP + 1) into.later = { processes: linux.processes(), modules: linux.modules(), current: linux.currentTask(e.cpu) };
      else return undefined;
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
    parentFromKernel: Buffer.from(argv).toString('latin1').replace(/\0/g, ' ').trim(),
    parentFiles: linux.files(parent.pid), ownFiles: linux.files(current), threads: linux.threads(current.pid),
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
  'exec 3</proc/version 4>/tmp/out 5</sys/kernel/notes',
  'ls -l /proc/$$/fd | sed -n "s/.* \\([0-9]*\\) -> /fd \\1 /p"',
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
  assert.deepEqual(snap.threads.map((t) => t.pid), [pid], 'a single-threaded process is its own only thread');
  const [shellPid, ...cmd] = field('shell')[0].split(' ');
  assert.equal(snap.current.ppid, Number(shellPid), 'its parent is the command\'s shell');
  assert.equal(snap.parentFromKernel, cmd.join(' ').trim(), 'the shell\'s argv, read through its own address space');

  // Open files: the shell's, as its /proc/PID/fd shows them (through the proc, sysfs and tmpfs mounts); the hypercall's stdout.
  assert.deepEqual(snap.parentFiles.map((f) => `${f.fd} ${f.path}`), field('fd'));
  assert.equal(snap.ownFiles.find((f) => f.fd === 1)?.path, '/dev/null');

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

test('KASLR off (vmlinux by PVH): symbols equal /proc/kallsyms, processes() equals ps, modules() equals /proc/modules; current task and another process\'s memory; a module loaded and a process started later are seen', async () => {
  const into: { snap?: Snapshot; later?: Later } = {};
  const module = defaultModuleFile('ts_kmp.ko');
  const r = await runGuest({
    hypapps: [snapshotter(into)],
    files: [{ path: 'lib/ts_kmp.ko', mode: S_IFREG | 0o644, data: module }],
    command: `${GUEST_COMMAND}; insmod /lib/ts_kmp.ko; sleep 30 & echo "sleeper $!"; xmhf-hypercall later > /dev/null; kill $!`,
    timeoutMs: 300_000,
    onLine: (l) => { if (process.env.LINUX_TEST_TRACE) console.error(new Date().toISOString(), l.slice(0, 80)); },
  });
  assert.equal(r.status, 0, `${r.stop.reason} ${r.stop.detail ?? ''}\n${r.output}\n${r.logs.join('\n')}`);
  check(r.output, into.snap);
  assert.equal(into.snap!.linux.kaslrOffset, 0n, 'the PVH boot does not randomize');
  // After the first look: nothing cached goes stale.
  const later = into.later!;
  assert.ok(later, 'the second hypercall ran');
  assert.deepEqual(later.modules.map((m) => m.name), ['ts_kmp', ...into.snap!.modules.map((m) => m.name)], 'the new module, first as /proc/modules lists it');
  assert.ok(later.modules[0].base >= 0xffff_ffff_c000_0000n, 'in the module area');
  const sleeper = Number(r.output.split('\n').find((l) => l.startsWith('sleeper '))!.split(' ')[1]);
  const p = later.processes.find((t) => t.pid === sleeper);
  assert.ok(p, `the new process ${sleeper} is among processes()`);
  // Forked and not yet exec'd (sh), or exec'd: busybox runs its applets through /proc/self/exe (exe), or a plain sleep.
  assert.ok(['sh', 'exe', 'sleep'].includes(p.comm), p.comm);
  assert.equal(p.ppid, into.snap!.current.ppid, 'started by the command\'s shell');
  assert.equal(later.current.comm, 'xmhf-hypercall');
  assert.notEqual(later.current.pid, into.snap!.current.pid);
});

/** A module file of the default guest's kernel package. */
function defaultModuleFile(name: string): Uint8Array {
  const packages = join(cacheDir(), 'packages');
  const image = readdirSync(packages).find((d) => d.startsWith('linux-image-') && d.endsWith('.d'))!;
  const release = readdirSync(join(packages, image, 'lib', 'modules'))[0];
  return new Uint8Array(readFileSync(join(packages, image, 'lib', 'modules', release, 'kernel', 'lib', name)));
}

test('KASLR on (the bzImage decompresses itself at a random place): the same, at the randomized addresses', async () => {
  const into: { snap?: Snapshot } = {};
  const r = await runGuest({ hypapps: [snapshotter(into)], command: GUEST_COMMAND, kernel: bzImage(), timeoutMs: 300_000 });
  assert.equal(r.status, 0, `${r.stop.reason} ${r.stop.detail ?? ''}\n${r.output}\n${r.logs.join('\n')}`);
  check(r.output, into.snap);
  assert.notEqual(into.snap!.linux.kaslrOffset, 0n, 'the bzImage put the kernel elsewhere');
});

test('docs/linux.md\'s example hypapp runs under xmhf run as documented, importing xmhf-ts/linux from outside the package', () => {
  const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'linux.md'), 'utf8');
  const code = /<!-- example -->\n```ts\n([\s\S]*?)```\n<!-- \/example -->/.exec(doc)?.[1];
  assert.ok(code, 'docs/linux.md has its example');
  const file = join(tmpdir(), `xmhf-ps-${process.pid}.ts`);
  writeFileSync(file, code);
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'bin', 'xmhf.js'), 'run', '--hypapp', file, '--timeout', '250', '--exec', 'xmhf-hypercall ps'],
    { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /\[ps\] 1 0 S init$/m);
  assert.match(r.stderr, /\[ps\] 2 0 S kthreadd$/m);
  assert.match(r.stderr, /\[ps\] called by \d+ xmhf-hypercall at user space$/m);
});
