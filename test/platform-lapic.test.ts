// The local APIC as the guest sees it: acceptance and priority, EOI, the
// INTR line, the three timer modes in guest time, IPIs written to the ICR,
// LINT0 ExtINT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../src/platform/device.js';
import { LocalApic, LAPIC_VERSION, type Ipi } from '../src/platform/lapic.js';

const SVR = 0xf0, TPR = 0x80, PPR = 0xa0, EOI = 0xb0, ISR = 0x100, TMR = 0x180, IRR = 0x200;
const ICR_LOW = 0x300, ICR_HIGH = 0x310, LVT_TIMER = 0x320, LVT_LINT0 = 0x350, LVT_LINT1 = 0x360;
const TIMER_INITIAL = 0x380, TIMER_CURRENT = 0x390, TIMER_DIVIDE = 0x3e0;

function setup(extra: { virtualWire?: boolean; extIntVector?: () => number } = {}) {
  const clock = new ManualClock();
  const intr: boolean[] = [];
  const ipis: Ipi[] = [];
  const eois: number[] = [];
  let nmis = 0;
  const apic = new LocalApic({
    id: 3, clock, tscHz: 2_000_000_000,
    onIntr: (a) => intr.push(a), sendIpi: (i) => ipis.push(i),
    onEoi: (v) => eois.push(v), onNmi: () => { nmis++; }, ...extra,
  });
  const w = (off: number, v: number) => apic.mmioWrite(off, 4, v);
  const r = (off: number) => apic.mmioRead(off, 4);
  const bit = (base: number, v: number) => (r(base + (v >> 5) * 16) >>> (v & 31)) & 1;
  return { apic, clock, intr, ipis, eois, nmis: () => nmis, w, r, bit };
}

test('identification and reset state', () => {
  const { apic, r } = setup();
  assert.equal(r(0x20), 3 << 24);
  assert.equal(r(0x30), LAPIC_VERSION);
  assert.equal(r(0xe0), 0xffffffff);
  assert.equal(r(SVR), 0xff);
  assert.equal(r(LVT_TIMER), 0x10000);
  assert.equal(apic.mmioRead(0x23, 1), 3, 'narrow reads return bytes of the register');
  assert.equal(r(0x24), 0, 'the 12 bytes after each register read 0');
  apic.mmioWrite(0x80, 1, 0x50); // non-32-bit writes are ignored
  assert.equal(r(0x80), 0);
});

test('a software-disabled APIC drops fixed interrupts; enabled, a vector is acknowledged into ISR', () => {
  const { apic, w, bit, intr } = setup();
  apic.deliver(0x40);
  assert.equal(apic.pending(), false);
  w(SVR, 0x1ff);
  apic.deliver(0x40);
  assert.equal(bit(IRR, 0x40), 1);
  assert.equal(apic.pending(), true);
  assert.deepEqual(intr, [true]);
  assert.equal(apic.acknowledge(), 0x40);
  assert.equal(bit(IRR, 0x40), 0);
  assert.equal(bit(ISR, 0x40), 1);
  assert.deepEqual(intr, [true, false]);
  assert.equal(apic.acknowledge(), -1);
});

test('priority: higher classes preempt, TPR and in-service vectors mask lower ones, EOI lets the next through', () => {
  const { apic, w, r, bit, intr } = setup();
  w(SVR, 0x1ff);
  apic.deliver(0x51);
  assert.equal(apic.acknowledge(), 0x51);
  assert.equal(r(PPR), 0x50);
  apic.deliver(0x55); // same class as the in-service vector: held
  assert.equal(apic.pending(), false);
  apic.deliver(0x61);
  assert.equal(apic.acknowledge(), 0x61);
  assert.equal(r(PPR), 0x60);
  w(EOI, 0); // pops 0x61, the highest in service
  assert.equal(bit(ISR, 0x61), 0);
  assert.equal(bit(ISR, 0x51), 1);
  assert.equal(apic.pending(), false);
  w(EOI, 0); // pops 0x51: 0x55 now deliverable
  assert.equal(apic.pending(), true);
  w(TPR, 0x70); // TPR masks it again
  assert.equal(r(PPR), 0x70);
  assert.equal(apic.pending(), false);
  assert.equal(intr.at(-1), false);
  w(TPR, 0x40);
  assert.equal(intr.at(-1), true);
  assert.equal(apic.acknowledge(), 0x55);
});

test('EOI of a level-triggered vector calls onEoi; edge vectors do not', () => {
  const { apic, w, bit, eois } = setup();
  w(SVR, 0x1ff);
  apic.deliver(0x30, true);
  assert.equal(bit(TMR, 0x30), 1);
  apic.acknowledge();
  w(EOI, 0);
  apic.deliver(0x31);
  apic.acknowledge();
  w(EOI, 0);
  assert.deepEqual(eois, [0x30]);
});

test('one-shot timer fires once after initial count x divide ticks of the 1 GHz bus', () => {
  const { apic, clock, w, r } = setup();
  w(SVR, 0x1ff);
  w(LVT_TIMER, 0xec);
  w(TIMER_DIVIDE, 0x3); // divide by 16
  w(TIMER_INITIAL, 1000); // 16000 ns
  assert.equal(r(TIMER_CURRENT), 1000);
  clock.advance(8000);
  assert.equal(r(TIMER_CURRENT), 500);
  clock.advance(7999);
  assert.equal(apic.pending(), false);
  clock.advance(1);
  assert.equal(apic.acknowledge(), 0xec);
  assert.equal(r(TIMER_CURRENT), 0);
  clock.advance(1_000_000);
  assert.equal(apic.pending(), false);
  assert.equal(clock.nextDeadline(), undefined);
});

test('periodic timer reloads; a masked timer keeps counting without interrupts', () => {
  const { apic, clock, w, r } = setup();
  w(SVR, 0x1ff);
  w(LVT_TIMER, (1 << 17) | 0xed);
  w(TIMER_DIVIDE, 0xb); // divide by 1
  w(TIMER_INITIAL, 100_000);
  let fires = 0;
  for (let i = 0; i < 3; i++) {
    clock.advance(100_000);
    if (apic.acknowledge() === 0xed) { fires++; w(EOI, 0); }
  }
  assert.equal(fires, 3);
  clock.advance(25_000);
  assert.equal(r(TIMER_CURRENT), 75_000);
  w(LVT_TIMER, (1 << 17) | (1 << 16) | 0xed);
  clock.advance(100_000);
  assert.equal(apic.pending(), false);
  assert.equal(r(TIMER_CURRENT), 75_000);
});

test('TSC-deadline timer fires at the deadline; writing 0 disarms', () => {
  const { apic, clock, w } = setup();
  w(SVR, 0x1ff);
  apic.writeTscDeadline(1000n); // ignored outside TSC-deadline mode
  assert.equal(apic.readTscDeadline(), 0n);
  w(LVT_TIMER, (2 << 17) | 0xef);
  apic.writeTscDeadline(4000n); // 2 GHz TSC: 2000 ns
  assert.equal(apic.readTscDeadline(), 4000n);
  clock.advance(1999);
  assert.equal(apic.pending(), false);
  clock.advance(1);
  assert.equal(apic.acknowledge(), 0xef);
  assert.equal(apic.readTscDeadline(), 0n);
  w(EOI, 0);
  apic.writeTscDeadline(10_000n);
  apic.writeTscDeadline(0n);
  clock.advance(1_000_000);
  assert.equal(apic.pending(), false);
});

test('ICR writes send INIT, SIPI with its vector, and fixed self IPIs', () => {
  const { w, r, ipis } = setup();
  w(ICR_HIGH, 0x05000000);
  w(ICR_LOW, 0x0000c500); // INIT, level assert, level trigger, physical
  w(ICR_LOW, 0x00000699); // SIPI vector 0x99
  w(ICR_LOW, 0x00040041); // fixed 0x41, shorthand self
  w(ICR_LOW, 0x000c0842); // fixed 0x42, all-but-self, logical
  assert.equal(r(ICR_LOW) & (1 << 12), 0, 'delivery status reads idle');
  assert.deepEqual(ipis, [
    { source: 3, shorthand: 'none', destMode: 'physical', dest: 5, mode: 'init', vector: 0, level: true, trigger: 'level' },
    { source: 3, shorthand: 'none', destMode: 'physical', dest: 5, mode: 'sipi', vector: 0x99, level: false, trigger: 'edge' },
    { source: 3, shorthand: 'self', destMode: 'physical', dest: 5, mode: 'fixed', vector: 0x41, level: false, trigger: 'edge' },
    { source: 3, shorthand: 'all-but-self', destMode: 'logical', dest: 5, mode: 'fixed', vector: 0x42, level: false, trigger: 'edge' },
  ]);
});

test('LINT0 in ExtINT mode takes the PIC vector; LINT1 in NMI mode raises NMI on a rising edge', () => {
  let picVector = 0x20;
  const t = setup({ virtualWire: true, extIntVector: () => picVector++ });
  assert.equal(t.r(LVT_LINT0), 0x700);
  t.apic.setLint0(true);
  assert.deepEqual(t.intr, [true]);
  assert.equal(t.apic.acknowledge(), 0x20);
  assert.equal(t.bit(ISR, 0x20), 0, 'ExtINT bypasses the ISR');
  t.apic.setLint0(false);
  assert.deepEqual(t.intr, [true, false]);
  t.w(LVT_LINT0, 0x10700); // masked
  t.apic.setLint0(true);
  assert.equal(t.apic.pending(), false);
  t.apic.setLint1(true);
  t.apic.setLint1(true);
  t.apic.setLint1(false);
  t.apic.setLint1(true);
  assert.equal(t.nmis(), 2);
  assert.equal(t.r(LVT_LINT1), 0x400);
});

test('clearing SVR enable masks every LVT entry', () => {
  const { w, r } = setup({ virtualWire: true });
  w(SVR, 0xff);
  assert.equal(r(LVT_LINT0), 0x10700);
  w(LVT_LINT0, 0x700);
  assert.equal(r(LVT_LINT0), 0x10700, 'stays masked while disabled');
});

test('xAPIC destination matching: physical, flat and cluster logical, broadcast', () => {
  const { apic, w } = setup();
  assert.ok(apic.acceptsDestination(3, 'physical'));
  assert.ok(!apic.acceptsDestination(4, 'physical'));
  assert.ok(apic.acceptsDestination(0xff, 'physical'));
  w(0xd0, 0x04000000);
  assert.ok(apic.acceptsDestination(0x0c, 'logical'));
  assert.ok(!apic.acceptsDestination(0x03, 'logical'));
  w(0xe0, 0x0fffffff); // cluster model
  w(0xd0, 0x21000000);
  assert.ok(apic.acceptsDestination(0x23, 'logical'));
  assert.ok(!apic.acceptsDestination(0x13, 'logical'));
});

test('CR8 mirrors TPR bits 7:4; INIT clears pending state and masks the LVTs', () => {
  const { apic, w, r, intr, clock } = setup({ virtualWire: true });
  apic.writeCr8(5);
  assert.equal(r(TPR), 0x50);
  assert.equal(apic.readCr8(), 5);
  apic.deliver(0x80);
  assert.equal(intr.at(-1), true);
  w(LVT_TIMER, 0xe0);
  w(TIMER_INITIAL, 1000);
  apic.initReset();
  assert.equal(intr.at(-1), false);
  assert.equal(r(SVR), 0xff);
  assert.equal(r(TPR), 0);
  assert.equal(r(LVT_LINT0), 0x10000);
  assert.equal(r(0x20), 3 << 24);
  assert.equal(clock.nextDeadline(), undefined);
});

test('LINT0 in fixed level-triggered mode holds remote IRR until EOI, then re-delivers while high', () => {
  const { apic, w, r, eois } = setup();
  w(SVR, 0x1ff);
  w(LVT_LINT0, (1 << 15) | 0x70);
  apic.setLint0(true);
  assert.equal(apic.acknowledge(), 0x70);
  assert.ok(r(LVT_LINT0) & (1 << 14));
  apic.setLint0(true);
  assert.equal(apic.pending(), false);
  w(EOI, 0);
  assert.deepEqual(eois, [0x70]);
  assert.equal(apic.acknowledge(), 0x70, 'still high: delivered again');
  apic.setLint0(false);
  w(EOI, 0);
  assert.equal(apic.pending(), false);
  assert.equal(r(LVT_LINT0) & (1 << 14), 0);
});

test('an illegal vector is reported in ESR after the latching write', () => {
  const { apic, w, r, ipis } = setup();
  w(SVR, 0x1ff);
  apic.deliver(3);
  w(ICR_LOW, 0x00040005); // fixed IPI with vector 5
  assert.equal(ipis.length, 0);
  assert.equal(r(0x280), 0);
  w(0x280, 0);
  assert.equal(r(0x280), (1 << 6) | (1 << 5));
});
