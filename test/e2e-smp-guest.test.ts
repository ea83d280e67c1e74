// End to end with several vCPUs under the XMHF core: threads of one guest
// process doing LOCK XADD on one counter on four vCPUs lose no increment; the
// same command twice in deterministic mode retires the same instructions and
// gives the syscalls tracer the same records (each naming its vCPU, a command
// pinned with taskset on the vCPU it was pinned to); kguard's protection,
// armed once, holds on every vCPU; x.quiesce holds every other vCPU still. Needs the default guest and gcc (the
// toolchain step provides it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runGuest, buildGuestProgram } from './support/guest-run.js';
import { loadHypapp } from '../src/xmhf/loader.js';
import { S_IFREG } from '../src/guest/cpio.js';
import { toolUnavailable } from '../tools/toolchain.js';
import type { Hypapp } from '../src/hypapp/api.js';

const secondsSince = (t: number) => ((performance.now() - t) / 1000).toFixed(1);

test('4 threads on 4 vCPUs each doing a million LOCK XADD on one counter end with exactly 4,000,000', { skip: toolUnavailable('gcc') }, async () => {
  const program = buildGuestProgram(join(import.meta.dirname, 'fixtures', 'smp-threads.c'));
  const started = performance.now();
  const r = await runGuest({
    hypapps: [], cpus: 4,
    files: [{ path: 'bin/smp-threads', mode: S_IFREG | 0o755, data: program }],
    command: 'smp-threads xadd 4 1000000; grep -c processor /proc/cpuinfo',
  });
  assert.equal(r.status, 0, `${r.stop.reason} ${r.stop.detail ?? ''}\n${r.output}`);
  assert.deepEqual(r.output.split('\n'), ['4000000', '4']);
  process.stdout.write(`# 4 vCPUs, 4 x 1,000,000 LOCK XADD: ${secondsSince(started)} s with boot\n`);
});

test('deterministic mode: the same command twice retires the same instructions and gives the same syscall records, each with its vCPU', async () => {
  const once = async () => {
    const r = await runGuest({
      hypapps: [await loadHypapp('syscalls', { only: 'execve,openat,write' })], cpus: 2, deterministic: true,
      command: 'taskset -c 1 cat /proc/version; ls / | wc -l; sleep 0.2; date +%s',
    });
    assert.equal(r.status, 0, `${r.stop.reason} ${r.stop.detail ?? ''}\n${r.output}`);
    return { output: r.output, instructions: r.vm.instructionsRetired(), events: JSON.stringify(r.events, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) };
  };
  const started = performance.now();
  const a = await once();
  const b = await once();
  assert.equal(a.output, b.output);
  assert.equal(a.instructions, b.instructions, 'the same instruction count');
  assert.equal(a.events, b.events, 'the same records in the same order');
  assert.match(a.output.split('\n').at(-1)!, /^17672256\d\d$/, 'the wall clock starts at 2026-01-01 (guest seconds later)');
  const events = JSON.parse(a.events) as Array<{ name: string; vcpu: number; argv?: string[] }>;
  const cat = events.find((e) => e.name === 'execve' && e.argv?.[0] === 'cat');
  assert.equal(cat?.vcpu, 1, 'the command taskset pinned to CPU 1 ran there');
  assert.ok(events.some((e) => e.vcpu === 0), 'and others on vCPU 0');
  process.stdout.write(`# deterministic, 2 vCPUs: ${a.instructions} instructions in each run; both runs ${secondsSince(started)} s\n`);
});

test('kguard arms once for every vCPU (from its timer, while both run): a write to kernel code from vCPU 1 is denied', async () => {
  const r = await runGuest({
    // arm=after:1 retries from a hypapp timer, which must not fire inside another vCPU's slice.
    hypapps: [await loadHypapp('kguard', { arm: 'after:1' })], cpus: 2,
    guest: { modules: [] }, // armed this early, kguard would deny the modules /init loads
    command: 'taskset -c 1 sh -c "echo 1 > /proc/sys/kernel/sched_schedstats"; echo poked; nproc',
  });
  assert.equal(r.status, 0, `${r.stop.reason} ${r.stop.detail ?? ''}\n${r.logs.join('\n')}`);
  assert.ok(r.events.some((e) => e.event === 'armed'), r.logs.join('\n'));
  const denied = r.events.filter((e) => e.event === 'write-denied');
  assert.ok(denied.some((e) => e.vcpu === 1), `a denied write from vCPU 1: ${JSON.stringify(denied.map((e) => e.vcpu))}`);
  // The denied patch leaves the kernel's text_poke to report a BUG and end that shell; the guest goes on.
  const out = r.output.split('\n');
  assert.ok(out.includes('poked') && out.at(-1) === '2', r.output);
});

test('quiesce, after XMHF\'s quiesce hypapp: per-CPU counters of threads on every vCPU stand still inside fn and move again after', { skip: toolUnavailable('gcc') }, async () => {
  const program = buildGuestProgram(join(import.meta.dirname, 'fixtures', 'smp-threads.c'));
  const CPUS = 4, PERCPU_HYPERCALL = 0x5150;
  const seen: { before?: bigint[]; inside: bigint[][]; after?: bigint[]; others?: boolean[] } = { inside: [] };
  const quiescer: Hypapp = {
    name: 'quiescer',
    onHypercall(x, call) {
      if (call.fn !== PERCPU_HYPERCALL) return undefined;
      const gpa = Number(call.cpu.translate(call.args[0]).gpa), n = Number(call.args[1]);
      const read = () => Array.from({ length: n }, (_, i) => new DataView(x.readPhysical(gpa + 8 * i, 8).buffer).getBigUint64(0, true));
      seen.before = read();
      x.quiesce(() => {
        seen.inside.push(read());
        seen.others = x.cpus.map((c) => c.index !== call.cpu.index && typeof c.get('rip') === 'bigint');
        seen.inside.push(read());
      });
      // Looks again every 20 ms of guest time, until every counter moved or the process is about to end (300 ms).
      let looks = 0;
      const later = x.every(20, () => {
        seen.after = read();
        if (++looks >= 12 || seen.after.every((c, i) => c > seen.inside[1]![i]!)) later.cancel();
      });
      return 0n;
    },
  };
  const r = await runGuest({
    hypapps: [quiescer], cpus: CPUS,
    files: [{ path: 'bin/smp-threads', mode: S_IFREG | 0o755, data: program }],
    command: `smp-threads percpu ${CPUS}`,
  });
  assert.equal(r.status, 0, `${r.stop.reason} ${r.stop.detail ?? ''}\n${r.output}`);
  assert.equal(r.output, 'counted');
  assert.equal(seen.inside.length, 2, 'fn ran once');
  assert.ok(seen.before!.every((c) => c > 0n), `every thread counted before: ${seen.before}`);
  assert.deepEqual(seen.inside[0], seen.inside[1], 'unchanged inside quiesce');
  assert.ok(seen.after, 'the timer after quiesce ran');
  assert.ok(seen.after!.every((c, i) => c > seen.inside[1]![i]!), `every counter moved after: ${seen.inside[1]} -> ${seen.after}`);
  assert.equal(seen.others!.filter(Boolean).length, CPUS - 1, 'every other vCPU could be read inside fn');
});
