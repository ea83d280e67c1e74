// The guest clock fires timers in deadline order and never goes backwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../src/platform/device.js';

test('timers fire in deadline order at their deadline; cancelled ones never fire', () => {
  const c = new ManualClock();
  const seen: Array<[string, number]> = [];
  c.at(300, () => seen.push(['c', c.nowNs()]));
  c.at(100, () => { seen.push(['a', c.nowNs()]); c.at(150, () => seen.push(['a2', c.nowNs()])); });
  const b = c.at(200, () => seen.push(['b', c.nowNs()]));
  b.cancel();
  assert.equal(c.nextDeadline(), 100);
  c.advanceTo(250);
  assert.deepEqual(seen, [['a', 100], ['a2', 150]]);
  assert.equal(c.nowNs(), 250);
  c.advance(100);
  assert.deepEqual(seen.at(-1), ['c', 300]);
  assert.throws(() => c.advanceTo(10), /cannot go backwards/);
});
