// x.hold(): the guest stays stopped with guest time (clock, TSC) standing
// still, while the VM thread's event loop runs on, so the run's timeout and
// stop() still end it. Masked single-steps keep guest time still too.
// A real VM: the WebAssembly CPU counting in a loop (32-bit, paging off).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVm } from '../src/vmm.js';
import { Msr, type Hypapp, type HypappContext } from '../src/hypapp/api.js';
import { vmlinux } from './support/vmlinux.js';

// 0x1000000: inc dword [0x1000080]; jmp 0x1000000
const LOOP = 0x1000000n, COUNTER = 0x1000080;
const KERNEL = vmlinux({ entry: 0x1000000, code: Uint8Array.from([0xff, 0x05, 0x80, 0x00, 0x00, 0x01, 0xeb, 0xf8]) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function vmWith(app: Hypapp) {
  let x!: HypappContext;
  const vm = await createVm({
    kernel: KERNEL, cmdline: '', serialOutput: () => {}, log: () => {},
    hypapps: [{ ...app, init: (ctx) => { x = ctx; return app.init?.(ctx); } }],
  });
  const counter = () => new DataView(x.readPhysical(COUNTER, 4).buffer).getUint32(0, true);
  return { vm, x: () => x, counter };
}

test('hold: guest time, the TSC and the guest stand still until release; then all run again', async () => {
  let bp = 0;
  const seen: Array<{ now: number; tsc: bigint; count: number }> = [];
  let release: (() => void) | undefined;
  const { vm, x, counter } = await vmWith({
    name: 'holder',
    init: (ctx) => { bp = ctx.addBreakpoint(LOOP); },
    onBreakpoint: (ctx, e) => {
      if (release) return;
      ctx.removeBreakpoint(bp);
      const h = ctx.hold();
      release = () => h.release();
      seen.push({ now: ctx.now(), tsc: e.cpu.msr(Msr.TSC)!, count: counter() });
    },
  });
  const run = vm.run(60_000);
  while (!release) await sleep(10);
  await sleep(700);
  // From outside any callback (as a gdb stub's socket handler is).
  seen.push({ now: x().now(), tsc: x().cpus[0].msr(Msr.TSC)!, count: counter() });
  release();
  await sleep(300);
  seen.push({ now: x().now(), tsc: x().cpus[0].msr(Msr.TSC)!, count: counter() });
  vm.stop('done');
  const end = await run;
  assert.equal(end.reason, 'stopped');
  assert.equal(seen[1].now, seen[0].now, 'guest time stood still while held');
  assert.equal(seen[1].tsc, seen[0].tsc, 'the TSC stood still while held');
  assert.equal(seen[1].count, seen[0].count, 'the guest did not run while held');
  assert.ok(seen[2].now > seen[1].now && seen[2].tsc > seen[1].tsc, 'time runs again after release');
  assert.ok(seen[2].count > seen[1].count, 'the guest runs again after release');
});

test('hold: the run\'s timeout and stop() still end a held run', async () => {
  const timed = await vmWith({ name: 'holder', init: (ctx) => { ctx.hold(); } });
  assert.equal((await timed.vm.run(300)).reason, 'timeout');
  assert.equal(timed.counter(), 0, 'held from init: no instruction ran');

  const stopped = await vmWith({ name: 'holder', init: (ctx) => { ctx.hold(); } });
  const run = stopped.vm.run(60_000);
  await sleep(100);
  stopped.vm.stop('by the test');
  assert.deepEqual([(await run).reason, (await run).detail], ['stopped', 'by the test']);
});

test('hold: two holders; the guest runs once both released, and a second release does nothing', async () => {
  let a: { release(): void } | undefined, b: { release(): void } | undefined;
  const { vm, counter } = await vmWith({ name: 'holder', init: (ctx) => { a = ctx.hold(); b = ctx.hold(); } });
  const run = vm.run(60_000);
  a!.release();
  a!.release();
  await sleep(200);
  assert.equal(counter(), 0, 'still held by the second');
  b!.release();
  await sleep(200);
  assert.ok(counter() > 0);
  vm.stop();
  await run;
});

test('masked single-steps: guest time stands still between and during steps; unmasked ones let it run', async () => {
  const nows: number[] = [];
  const unmasked: number[] = [];
  let steps = 0;
  const { vm } = await vmWith({
    name: 'stepper',
    init: (ctx) => { ctx.singleStep(ctx.cpus[0], true); },
    onStep: (ctx, e) => {
      steps++;
      if (steps <= 200) nows.push(ctx.now());
      if (steps === 200) ctx.singleStep(e.cpu, true, { interrupts: true });
      if (steps > 200) unmasked.push(ctx.now());
      if (steps === 20_000) ctx.singleStep(e.cpu, false);
    },
  });
  const run = vm.run(60_000);
  while (steps < 20_000) await sleep(20);
  vm.stop();
  await run;
  assert.equal(new Set(nows).size, 1, `no guest time passed over 200 masked steps (${nows[0]} .. ${nows.at(-1)})`);
  assert.ok(unmasked.at(-1)! > unmasked[0], 'guest time runs under unmasked steps');
});
