// The 8254 counts guest time: periodic IRQ 0, latched counts, and the channel 2
// gate/OUT handshake Linux uses to calibrate the TSC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../src/platform/device.js';
import { Pit8254, PIT_HZ } from '../src/platform/pit8254.js';

const NS = 1_000_000_000;

function setup() {
  const clock = new ManualClock();
  const edges: number[] = []; // guest times of IRQ 0 rising edges
  let level = false;
  const pit = new Pit8254({
    clock,
    irq0: { set: (l) => { if (l && !level) edges.push(clock.nowNs()); level = l; } },
  });
  const out = (port: number, v: number) => pit.ioWrite(port, 1, v);
  const inb = (port: number) => pit.ioRead(port, 1);
  return { clock, pit, edges, out, inb, irq0High: () => level };
}

/** Guest ns at which `ticks` input clocks have elapsed (the first ns at or after). */
const nsAt = (ticks: number) => Math.ceil((ticks * NS) / PIT_HZ);

test('channel 0 mode 2 with count 4772 (HZ=250) raises IRQ 0 every ~4 ms: 250 per guest second', () => {
  const { clock, edges, out } = setup();
  out(0x43, 0x34); // channel 0, lobyte/hibyte, mode 2, binary (Linux's PIT clockevent periodic)
  out(0x40, 4772 & 0xff);
  out(0x40, 4772 >> 8);
  clock.advance(NS);
  assert.ok(Math.abs(edges.length - 250) <= 1, `${edges.length} pulses`);
  assert.equal(edges[0], nsAt(4772));
  for (let i = 1; i < edges.length; i++) {
    const gap = edges[i]! - edges[i - 1]!;
    assert.ok(Math.abs(gap - 3_999_390) <= 1, `gap ${gap}`);
  }
});

test('channel 0 mode 3 square wave also gives periodic IRQ 0 edges', () => {
  const { clock, edges, out } = setup();
  out(0x43, 0x36);
  out(0x40, 4772 & 0xff);
  out(0x40, 4772 >> 8);
  clock.advance(NS);
  assert.ok(Math.abs(edges.length - 250) <= 1);
});

test('channel 0 mode 0 one-shot raises IRQ 0 once at terminal count and holds it until reprogrammed', () => {
  const { clock, edges, out, irq0High } = setup();
  out(0x43, 0x30); // Linux's oneshot clockevent
  out(0x40, 1000 & 0xff);
  out(0x40, 1000 >> 8);
  clock.advanceTo(nsAt(1000) - 1);
  assert.equal(edges.length, 0);
  clock.advanceTo(nsAt(1000));
  assert.deepEqual(edges, [nsAt(1000)]);
  clock.advance(NS / 10);
  assert.equal(edges.length, 1, 'one-shot');
  assert.equal(irq0High(), true);
  out(0x43, 0x30);
  assert.equal(irq0High(), false, 'a new control word drops OUT');
  const t0 = clock.nowNs();
  out(0x40, 50);
  out(0x40, 0);
  clock.advance(NS / 10);
  assert.deepEqual(edges.slice(1), [t0 + nsAt(50)]);
});

test('latched reads return a decreasing count consistent with elapsed guest time', () => {
  const { clock, out, inb } = setup();
  out(0x43, 0x34);
  out(0x40, 0x00);
  out(0x40, 0x00); // 0 = 65536
  const readLatched = () => { out(0x43, 0x00); return inb(0x40) | (inb(0x40) << 8); };
  clock.advanceTo(nsAt(1234));
  assert.equal(readLatched(), 65536 - 1234);
  clock.advanceTo(nsAt(40000));
  assert.equal(readLatched(), 65536 - 40000);
  // The latch holds its value while time moves on, until both bytes are read.
  clock.advanceTo(nsAt(50000));
  out(0x43, 0x00);
  const lo = inb(0x40);
  clock.advanceTo(nsAt(60000));
  out(0x43, 0x00); // ignored: a latch is pending
  assert.equal(lo | (inb(0x40) << 8), 65536 - 50000);
  // Mode 2 reloads: after a full period the count starts over.
  clock.advanceTo(nsAt(65536 + 10));
  assert.equal(readLatched(), 65536 - 10);
});

test('lobyte-only and hibyte-only access, and lobyte-then-hibyte order for unlatched reads', () => {
  const { clock, out, inb } = setup();
  out(0x43, 0x90); // channel 2, lobyte only, mode 0
  out(0x42, 0x80);
  out(0x61, 0x01); // gate on
  clock.advanceTo(clock.nowNs() + nsAt(0x10));
  assert.equal(inb(0x42), 0x70);
  out(0x43, 0xa0); // channel 2, hibyte only, mode 0
  out(0x42, 0x12); // count 0x1200
  const t0 = clock.nowNs();
  clock.advanceTo(t0 + nsAt(0x201));
  assert.equal(inb(0x42), 0x0f, 'hibyte of 0x0fff');
  out(0x43, 0xb0); // lobyte then hibyte
  out(0x42, 0x34);
  out(0x42, 0x12);
  assert.equal(inb(0x42), 0x34);
  assert.equal(inb(0x42), 0x12);
});

test('channel 2 mode 0 with the gate: port 0x61 bit 5 rises exactly after count/1193182 s (TSC calibration)', () => {
  const { clock, out, inb } = setup();
  clock.advance(123_456); // not at time zero
  // As pit_calibrate_tsc: gate high, speaker off, then program channel 2.
  out(0x61, (inb(0x61) & ~0x02) | 0x01);
  const latch = Math.floor(PIT_HZ / (1000 / 50)); // 50 ms
  out(0x43, 0xb0);
  out(0x42, latch & 0xff);
  const start = clock.nowNs();
  out(0x42, latch >> 8);
  assert.equal(inb(0x61) & 0x20, 0);
  clock.advanceTo(start + nsAt(latch) - 1);
  assert.equal(inb(0x61) & 0x20, 0, 'not before');
  clock.advanceTo(start + nsAt(latch));
  assert.equal(inb(0x61) & 0x20, 0x20, 'exactly then');
  clock.advance(NS);
  assert.equal(inb(0x61) & 0x20, 0x20, 'stays high in mode 0');
});

test('channel 2 gate low holds the count; raising it resumes', () => {
  const { clock, out, inb } = setup();
  out(0x43, 0xb0);
  out(0x42, 0xe8);
  out(0x42, 0x03); // 1000, gate still low: not counting
  clock.advance(NS / 100);
  out(0x43, 0x80);
  assert.equal(inb(0x42) | (inb(0x42) << 8), 1000);
  out(0x61, 0x01);
  const t0 = clock.nowNs();
  clock.advanceTo(t0 + nsAt(400));
  out(0x61, 0x00);
  clock.advance(NS / 100);
  out(0x43, 0x80);
  assert.equal(inb(0x42) | (inb(0x42) << 8), 600);
  assert.equal(inb(0x61) & 0x20, 0);
  out(0x61, 0x01);
  const t1 = clock.nowNs();
  clock.advanceTo(t1 + nsAt(601));
  assert.equal(inb(0x61) & 0x20, 0x20);
});

test('port 0x61 keeps bits 0-3 and toggles the refresh bit on reads', () => {
  const { out, inb } = setup();
  out(0x61, 0x03);
  const a = inb(0x61);
  const b = inb(0x61);
  assert.equal(a & 0x0f, 0x03);
  assert.notEqual(a & 0x10, b & 0x10);
});

test('read-back latches status (OUT, null count, access, mode) and count', () => {
  const { clock, out, inb } = setup();
  out(0x43, 0xb0); // channel 2, lo/hi, mode 0
  out(0x43, 0xe8); // read-back status only, channel 2
  assert.equal(inb(0x42), 0x40 | 0x30 | 0x00, 'OUT low, null count (no count written yet)');
  out(0x61, 0x01);
  out(0x42, 100);
  out(0x42, 0);
  const t0 = clock.nowNs();
  clock.advanceTo(t0 + nsAt(100));
  out(0x43, 0xc8); // read-back status and count, channel 2
  assert.equal(inb(0x42), 0x80 | 0x30, 'OUT high, count loaded');
  assert.equal(inb(0x42) | (inb(0x42) << 8), 0, 'count reached zero');
  out(0x43, 0x34);
  out(0x43, 0xe2); // status of channel 0
  assert.equal(inb(0x40), 0x80 | 0x40 | 0x30 | 0x04, 'mode 2: OUT high, null count');
});

test('mode 4 software strobe pulses IRQ 0 once, one tick after terminal count', () => {
  const { clock, edges, out } = setup();
  out(0x43, 0x38);
  out(0x40, 100);
  out(0x40, 0);
  clock.advance(NS / 10);
  assert.deepEqual(edges, [nsAt(101)]);
});

test('BCD counting: 0x0100 is 100 ticks and the count reads back in BCD', () => {
  const { clock, out, inb, edges } = setup();
  out(0x43, 0x31); // channel 0, lo/hi, mode 0, BCD
  out(0x40, 0x00);
  out(0x40, 0x01);
  clock.advanceTo(nsAt(11));
  out(0x43, 0x00);
  assert.equal(inb(0x40) | (inb(0x40) << 8), 0x89);
  clock.advanceTo(nsAt(100));
  assert.deepEqual(edges, [nsAt(100)]);
});

test('the oneshot clockevent re-arms by writing only the count bytes (pit_next_event)', () => {
  const { clock, edges, out } = setup();
  out(0x43, 0x30);
  out(0x40, 10);
  out(0x40, 0);
  clock.advanceTo(nsAt(10));
  assert.equal(edges.length, 1);
  const t0 = clock.nowNs();
  out(0x40, 200); // no control word: the first byte drops OUT, the second starts counting
  out(0x40, 0);
  clock.advance(NS / 100);
  assert.deepEqual(edges, [nsAt(10), t0 + nsAt(200)]);
});

test('unlatched MSB reads follow guest time as quick_pit_calibrate expects', () => {
  const { clock, out, inb } = setup();
  out(0x61, 0x01);
  out(0x43, 0xb0);
  out(0x42, 0xff);
  out(0x42, 0xff);
  const t0 = clock.nowNs();
  for (let i = 1; i <= 50; i++) {
    clock.advanceTo(t0 + nsAt(256 * i + 128));
    inb(0x42); // low byte, discarded
    assert.equal(inb(0x42), 0xff - i);
  }
});
