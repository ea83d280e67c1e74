// SHLD/SHRD: 16-bit operands with counts 17-31 (undefined in the SDM) give
// what Intel cores give, and OF follows Intel's rule at every count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reg, Exit } from '../src/backend/abi.js';
import { longModeGuest } from './support/long-mode-guest.js';

const CF = 1n, OF = 0x800n;

/** Intel's 16-bit SHLD/SHRD as Bochs writes it (a 32-bit temporary plus the P6 fix-up for counts above 16). */
function intel16(left: boolean, dest: number, src: number, count: number): { result: number; cf: number; of: number } {
  if (left) {
    const temp = ((dest << 16) | src) >>> 0;
    let r32 = (temp << count) >>> 0;
    if (count > 16) r32 = (r32 | (dest << (count - 16))) >>> 0;
    const result = r32 >>> 16;
    const cf = (temp >>> (32 - count)) & 1;
    return { result, cf, of: cf ^ (result >>> 15) };
  }
  const temp = ((src << 16) | dest) >>> 0;
  let r32 = temp >>> count;
  if (count > 16) r32 = (r32 | (dest << (32 - count))) >>> 0;
  const result = r32 & 0xffff;
  const cf = count > 16 ? (src >>> (count - 17)) & 1 : (dest >>> (count - 1)) & 1;
  return { result, cf, of: ((result >>> 14) ^ (result >>> 15)) & 1 };
}

test('16-bit SHLD/SHRD with counts 1-31 give Intel\'s result, CF and OF', async () => {
  const pairs: Array<[number, number]> = [[0x1234, 0x5678], [0x8001, 0x7ffe], [0xffff, 0x0000], [0xa5c3, 0x3c5a]];
  const failures: string[] = [];
  for (const op of ['shld', 'shrd'] as const) {
    for (const [dest, src] of pairs) {
      // One guest per (op, operands): each count's result goes to the stack, flags alongside.
      const body = Array.from({ length: 31 }, (_, i) => `mov ax, ${dest}\nmov cl, ${i + 1}\n${op} ax, bx, cl\npushfq\npush rax`).join('\n');
      const { vcpu, machine } = await longModeGuest(`mov bx, ${src}\n${body}\nhlt`, { exits: [] });
      assert.equal(vcpu.run(10_000), Exit.HALTED);
      const view = new DataView(machine.ram.buffer, machine.ram.byteOffset);
      let sp = Number(vcpu.getReg(Reg.RSP));
      for (let count = 31; count >= 1; count--) {
        const rax = view.getBigUint64(sp, true), flags = view.getBigUint64(sp + 8, true);
        sp += 16;
        const want = intel16(op === 'shld', dest, src, count);
        const got = { result: Number(rax & 0xffffn), cf: Number(flags & CF), of: Number((flags & OF) >> 11n) };
        if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${op} ${dest.toString(16)}, ${src.toString(16)}, ${count}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      }
    }
  }
  assert.deepEqual(failures, []);
});
