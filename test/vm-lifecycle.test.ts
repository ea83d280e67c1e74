// The Vm's lifecycle (issue 9): created -> running -> ended, one run per VM,
// hypapps' shutdown exactly once, errors for calls in the wrong state, and a
// stop() that comes before run() honoured. Tiny PVH kernels, in this thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVm, HypappInitError } from '../src/vmm.js';
import { VmStateError } from '../src/xmhf/vm.js';
import type { Hypapp, ShutdownEvent } from '../src/hypapp/api.js';
import { vmlinux } from './support/vmlinux.js';

const ENTRY = 0x1000000;
function kernel(code: number[]): Uint8Array {
  const image = vmlinux({ entry: ENTRY });
  image.set(code, 0x200);
  return image;
}
const IDLE = kernel([0xfb, 0xf4, 0xeb, 0xfd]);      // sti; hlt; jmp hlt
const DEAD_HALT = kernel([0xfa, 0xf4, 0xeb, 0xfd]); // cli; hlt; jmp hlt

/** A hypapp recording its shutdowns and the boot CPU's RIP at each. */
function recorder() {
  const shutdowns: Array<ShutdownEvent & { rip: bigint }> = [];
  const app: Hypapp = { name: 'recorder', shutdown: (x, e) => { shutdowns.push({ ...e, rip: x.cpus[0].get('rip') }); } };
  return { app, shutdowns };
}
const quiet = { log: () => {}, serialOutput: () => {} };

test('a second run() while the first runs is refused; the first ends on stop() with its detail; shutdown runs once', async () => {
  const r = recorder();
  const vm = await createVm({ kernel: IDLE, cmdline: '', hypapps: [r.app], ...quiet });
  assert.equal(vm.state, 'created');
  const first = vm.run(60_000);
  assert.equal(vm.state, 'running');
  await assert.rejects(vm.run(), VmStateError);
  setTimeout(() => vm.stop('enough'), 50);
  const end = await first;
  assert.deepEqual([end.reason, end.detail, end.stop.kind], ['stopped', 'enough', 'stopped']);
  assert.equal(vm.state, 'ended');
  assert.equal(r.shutdowns.length, 1);
});

test('run() after the end is an error naming how it ended, and shutdown is not called again', async () => {
  const r = recorder();
  const vm = await createVm({ kernel: IDLE, cmdline: '', hypapps: [r.app], ...quiet });
  const end = await vm.run(100);
  assert.equal(end.reason, 'timeout');
  await assert.rejects(vm.run(100), (e: Error) => e instanceof VmStateError && /has ended \(timeout\)/.test(e.message));
  assert.throws(() => vm.consoleInput(new Uint8Array([0x41])), VmStateError);
  assert.throws(() => vm.stop(), VmStateError);
  assert.equal(r.shutdowns.length, 1);
});

test('stop() before run(): the run ends before the guest\'s first instruction, with the stop\'s reason', async () => {
  const r = recorder();
  const vm = await createVm({ kernel: IDLE, cmdline: '', hypapps: [r.app], ...quiet });
  vm.stop('SIGTERM', 'signal');
  const end = await vm.run(60_000);
  assert.deepEqual([end.reason, end.detail], ['signal', 'SIGTERM']);
  assert.deepEqual(r.shutdowns.map((s) => [s.reason, s.detail, s.rip]), [['signal', 'SIGTERM', BigInt(ENTRY)]]);
});

test('a CPU halted with interrupts off ends the run (stop kind guest-halted); hypapps are told', async () => {
  const r = recorder();
  const vm = await createVm({ kernel: DEAD_HALT, cmdline: '', hypapps: [r.app], ...quiet });
  const end = await vm.run(60_000);
  assert.equal(end.stop.kind, 'guest-halted');
  assert.match(end.detail ?? '', /halted with interrupts off at RIP 0x1000002/);
  assert.equal(r.shutdowns.length, 1);
});

test('an init that never settles fails createVm within the bound, naming the hypapp; hypapps already started are shut down', async () => {
  const r = recorder();
  const never: Hypapp = { name: 'never', init: () => new Promise<void>(() => {}) };
  await assert.rejects(createVm({ kernel: IDLE, cmdline: '', hypapps: [r.app, never], initTimeoutMs: 200, ...quiet }),
    (e: Error) => e instanceof HypappInitError && /hypapp never failed to start: init did not settle within 0\.2 s/.test(e.message));
  assert.deepEqual(r.shutdowns.map((s) => s.reason), ['error']);
});
