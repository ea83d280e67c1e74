// Guest time follows the host clock only while the machine runs; the device
// clock tells the machine about each newly armed deadline and can be advanced
// cheaply when nothing is due.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostTimebase } from '../src/platform/timebase.js';
import { ManualClock } from '../src/platform/device.js';

test('guest time moves with the host clock while running and stands still while paused', () => {
  let host = 1_000_000;
  const tb = new HostTimebase(() => host);
  assert.equal(tb.nowNs(), 0, 'paused at creation');
  host += 500;
  assert.equal(tb.nowNs(), 0);
  tb.resume();
  host += 300;
  assert.equal(tb.nowNs(), 300);
  tb.pause();
  host += 10_000;
  assert.equal(tb.nowNs(), 300, 'no time passes for the guest between runs');
  tb.resume();
  tb.resume(); // idempotent
  host += 7;
  assert.equal(tb.nowNs(), 307);
});

test('the clock reports each armed deadline, and fires timers armed after a cheap advance', () => {
  const c = new ManualClock();
  const armed: number[] = [];
  c.onArm = (d) => armed.push(d);
  c.advanceTo(50); // nothing armed: only the time moves
  const fired: number[] = [];
  c.at(100, () => fired.push(c.nowNs()));
  c.at(80, () => { fired.push(c.nowNs()); }).cancel();
  assert.deepEqual(armed, [100, 80]);
  c.advanceTo(90); // the cancelled 80 leaves a stale bound: still nothing fires
  assert.equal(fired.length, 0);
  assert.equal(c.nextDeadline(), 100);
  c.advanceTo(150);
  assert.deepEqual(fired, [100]);
  assert.equal(c.nextDeadline(), undefined);
  c.at(151, () => fired.push(c.nowNs()));
  c.advanceTo(151);
  assert.deepEqual(fired, [100, 151], 'a timer armed after the bound was recomputed still fires');
});
