// A CPU test's usual start: a program assembled into a fresh test machine and
// entered in 64-bit mode.
import { assemble } from './asm.js';
import { testMachine } from './machine.js';
import { enterLongMode } from './guest64.js';

/** Where longModeGuest assembles and starts the program. */
export const GUEST_CODE = 0x100000;

/**
 * A test machine running `source` at GUEST_CODE in 64-bit mode at `cpl`
 * (stack below 3 MiB); the exception vectors in `exits` leave run() (as
 * Exit.EXCEPTION) instead of reaching the guest.
 */
export async function longModeGuest(source: string, opts: { cpl?: 0 | 3; exits: number[] }) {
  const t = await testMachine();
  t.machine.ram.set(assemble(source, { origin: GUEST_CODE }), GUEST_CODE);
  enterLongMode(t.machine, t.vcpu, { cpl: opts.cpl ?? 0, rip: BigInt(GUEST_CODE), rsp: 0x300000n });
  t.vcpu.setExceptionBitmap(opts.exits.reduce((bits, v) => bits | (1 << v), 0));
  return t;
}
