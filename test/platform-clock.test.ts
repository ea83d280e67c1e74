// The guest clock fires timers in deadline order and never goes backwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, LAX_TIMER_SLACK_NS } from '../src/platform/device.js';

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

test('many timers with random deadlines fire in (deadline, arming) order; cancelled ones never fire, even those cancelled from a firing timer', () => {
  const c = new ManualClock();
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) % 1000) * 1000;
  const fired: Array<{ deadline: number; seq: number; at: number }> = [];
  const handles: Array<{ cancel(): void }> = [];
  const cancelled = new Set<number>();
  for (let seq = 0; seq < 20_000; seq++) {
    const deadline = random();
    handles.push(c.at(deadline, () => {
      fired.push({ deadline, seq, at: c.nowNs() });
      // Every 97th timer cancels the one armed right after it (possibly due at the same time).
      if (seq % 97 === 0 && seq + 1 < handles.length) { handles[seq + 1].cancel(); cancelled.add(seq + 1); }
    }));
    if (seq % 3 === 0) { handles[seq].cancel(); cancelled.add(seq); }
  }
  c.advanceTo(500_000);
  c.advanceTo(1_000_000);
  for (const f of fired) assert.equal(f.at, f.deadline, 'each timer sees its own deadline as the time');
  for (let i = 1; i < fired.length; i++) {
    const a = fired[i - 1], b = fired[i];
    assert.ok(a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq), `timer ${b.seq} fired after ${a.seq}`);
  }
  assert.ok(!fired.some((f) => cancelled.has(f.seq) && f.seq % 3 === 0), 'a timer cancelled before time moved never fires');
  const firedSeqs = new Set(fired.map((f) => f.seq));
  const expected = handles.length - cancelled.size;
  // A timer cancelled from a firing one is only skipped if it had not fired yet.
  const lateCancelled = [...cancelled].filter((s) => firedSeqs.has(s)).length;
  assert.equal(fired.length, expected + lateCancelled);
  assert.equal(c.nextDeadline(), undefined);
});

test('50,000 hypapp-style periodic timers all fire and re-arm: guest time reaches the end (a full rescan per firing never got there)', { timeout: 30_000 }, () => {
  const c = new ManualClock();
  const PERIOD = 1_000_000;
  let firings = 0;
  const every = (phase: number) => {
    const arm = (at: number) => c.at(at, () => { firings++; arm(at + PERIOD); });
    arm(phase);
  };
  for (let i = 0; i < 50_000; i++) every(1 + (i % PERIOD));
  c.advanceTo(3 * PERIOD);
  assert.equal(firings, 150_000, 'each timer fired at each of its three deadlines');
  assert.equal(c.queuedTimers, 50_000, 'one pending entry per periodic timer');
});

test('timers armed and cancelled without time moving leave bounded garbage', () => {
  const c = new ManualClock();
  const keep = c.at(5, () => {});
  for (let i = 0; i < 100_000; i++) c.at(1000 + i, () => {}).cancel();
  assert.ok(c.queuedTimers <= 200, `${c.queuedTimers} entries held for 1 live timer`);
  assert.equal(c.nextDeadline(), 5);
  keep.cancel();
  assert.equal(c.nextDeadline(), undefined);
});

test('a lax timer lets the machine run up to its slack past the deadline, yet fires in order among precise timers, seeing its own deadline', () => {
  const c = new ManualClock();
  const seen: Array<[string, number]> = [];
  const armed: number[] = [];
  c.onArm = (d) => armed.push(d);
  c.at(1000, () => seen.push(['lax', c.nowNs()]), true);
  c.at(1000, () => seen.push(['precise-same-time', c.nowNs()]));
  c.at(5000, () => seen.push(['precise-later', c.nowNs()]));
  assert.deepEqual(armed, [1000 + LAX_TIMER_SLACK_NS, 1000, 5000], 'the machine is told the latest time each may wait for');
  assert.equal(c.nextDeadline(), 1000, 'a precise timer due at the same time still bounds the slice');
  c.advanceTo(6000);
  assert.deepEqual(seen, [['lax', 1000], ['precise-same-time', 1000], ['precise-later', 5000]], 'deadline, then arming order, across both kinds');
  c.at(7000, () => seen.push(['lax2', c.nowNs()]), true);
  assert.equal(c.nextDeadline(), 7000 + LAX_TIMER_SLACK_NS);
  c.advanceTo(7000 + LAX_TIMER_SLACK_NS / 2);
  assert.deepEqual(seen.at(-1), ['lax2', 7000], 'once time passes its deadline it fires');
});
