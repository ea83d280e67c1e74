// xmhf-ts/linux on two vCPUs: each vCPU's `current` is its own (per-CPU
// data through its GS base), and a watchpoint on a kernel variable by name
// reports the write with the task that made it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runGuest } from './support/guest-run.js';
import { linuxOf } from '../src/linux/index.js';
import type { Hypapp } from '../src/hypapp/api.js';

const SNAP = 0x4c5a;

test('two vCPUs: currentTask(cpu) is the process pinned there, not the other vCPU\'s; watch(\'kptr_restrict\') names the writer', async () => {
  const snaps: Array<{ cpu: number; pid: number; comm: string; others: number[] }> = [];
  const writes: Array<{ pid: number; comm: string; gva: bigint; symbol: bigint }> = [];
  let watchId = -1;
  const app: Hypapp = {
    name: 'linux-smp',
    hypercalls: { snap: SNAP },
    onGuestReady(x) { watchId = linuxOf(x).watch('kptr_restrict', { length: 4, kind: 'write' }); },
    onWatchpoint(x, e) {
      if (e.id !== watchId) return;
      const linux = linuxOf(x), t = linux.currentTask(e.cpu);
      writes.push({ pid: t.pid, comm: t.comm, gva: e.gva, symbol: linux.symbol('kptr_restrict') });
    },
    onHypercall(x, e) {
      if (e.fn !== SNAP) return undefined;
      const linux = linuxOf(x), t = linux.currentTask(e.cpu);
      snaps.push({ cpu: e.cpu.index, pid: t.pid, comm: t.comm, others: x.cpus.filter((c) => c !== e.cpu).map((c) => linux.currentTask(c).pid) });
      return 0;
    },
  };
  const r = await runGuest({
    hypapps: [app], cpus: 2, timeoutMs: 300_000,
    command: [
      'taskset -c 1 sh -c \'echo "one $$"; exec xmhf-hypercall snap > /dev/null\'',
      'taskset -c 0 sh -c \'echo "zero $$"; exec xmhf-hypercall snap > /dev/null\'',
      'sh -c \'echo "writer $$"; echo 1 > /proc/sys/kernel/kptr_restrict\'',
    ].join('; '),
  });
  assert.equal(r.status, 0, `${r.stop.reason} ${r.stop.detail ?? ''}\n${r.output}\n${r.logs.join('\n')}`);
  const pidOf = (tag: string) => Number(r.output.split('\n').find((l) => l.startsWith(`${tag} `))?.split(' ')[1]);
  assert.equal(snaps.length, 2, r.output);
  assert.deepEqual(snaps.map((s) => [s.cpu, s.pid, s.comm]), [[1, pidOf('one'), 'xmhf-hypercall'], [0, pidOf('zero'), 'xmhf-hypercall']]);
  for (const s of snaps) assert.ok(!s.others.includes(s.pid), `the other vCPU runs another task (${s.others})`);
  assert.equal(writes.length, 1, 'one write to kptr_restrict');
  assert.equal(writes[0].pid, pidOf('writer'));
  assert.equal(writes[0].comm, 'sh');
  assert.equal(writes[0].gva, writes[0].symbol);
});
