// The ACPI PM timer counts guest time at 3.579545 MHz in 32 bits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../src/platform/device.js';
import { AcpiPmTimer, PM_TIMER_HZ } from '../src/platform/acpi-pm-timer.js';
import { PM_TMR_PORT } from '../src/platform/acpi.js';

test('the counter follows guest time at 3.579545 MHz; narrow reads see its bytes; writes change nothing', () => {
  const clock = new ManualClock();
  const t = new AcpiPmTimer(clock);
  assert.equal(t.ioRead(PM_TMR_PORT, 4), 0);
  clock.advanceTo(1_000_000_000);
  assert.equal(t.ioRead(PM_TMR_PORT, 4), PM_TIMER_HZ);
  assert.equal(t.ioRead(PM_TMR_PORT + 1, 1), (PM_TIMER_HZ >>> 8) & 0xff);
  assert.equal(t.ioRead(PM_TMR_PORT, 2), PM_TIMER_HZ & 0xffff);
  t.ioWrite();
  clock.advance(280); // one tick is 279.4 ns
  assert.equal(t.ioRead(PM_TMR_PORT, 4), PM_TIMER_HZ + 1);
});

test('it wraps at 2^32 ticks (about 20 minutes)', () => {
  const clock = new ManualClock();
  const t = new AcpiPmTimer(clock);
  const wrapNs = Math.ceil((2 ** 32 * 1e9) / PM_TIMER_HZ);
  clock.advanceTo(wrapNs - 1000);
  assert.ok(t.ioRead(PM_TMR_PORT, 4) > 0xffff_f000);
  clock.advanceTo(wrapNs + 1000);
  assert.ok(t.ioRead(PM_TMR_PORT, 4) < 0x1000);
});
