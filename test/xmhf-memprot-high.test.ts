// A hypapp's setprot verdict on a page at or above 2 GiB (a 3 GiB guest): the
// hub once computed the page with a 32-bit AND, got a negative address and
// crashed the VM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVm } from '../src/vmm.js';
import { Prot, PAGE_SIZE, type HypappContext } from '../src/hypapp/api.js';
import { vmlinux } from './support/vmlinux.js';
import { assemble } from './support/asm.js';

const HIGH = 0x9000_0000;

test('with 3 GiB of RAM, a violation above 2 GiB answered with { setprot } reprotects that page and the write lands', async () => {
  // PVH entry: 32-bit protected mode, paging off, so the address is guest-physical.
  const code = assemble(`mov dword ptr [${HIGH}], 0x11223344\nmov dx, 0x604\nmov ax, 0x3400\nout dx, ax\n1: hlt\njmp 1b`, { bits: 32, origin: 0x1000000 });
  let ctx: HypappContext | undefined;
  const violations: bigint[] = [];
  const vm = await createVm({
    kernel: vmlinux({ entry: 0x1000000, code }), cmdline: '', mem: 3 * 1024 ** 3, serialOutput: () => {}, log: () => {},
    hypapps: [{
      name: 'high',
      init(x) { ctx = x; x.setprot(HIGH, PAGE_SIZE, Prot.READ | Prot.EXEC); },
      onViolation(_x, e) { violations.push(e.gpa); return { setprot: Prot.ALL }; },
    }],
  });
  const { stop } = await vm.run(30_000);
  assert.deepEqual(stop, { kind: 'poweroff' });
  assert.deepEqual(violations, [BigInt(HIGH)]);
  assert.equal(ctx!.getprot(HIGH), Prot.ALL);
  assert.deepEqual([...ctx!.readPhysical(HIGH, 4)], [0x44, 0x33, 0x22, 0x11]);
});
