// The MC146818 RTC as Linux's mc146818_get_time / rtc-cmos see it, on a manual guest clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../src/platform/device.js';
import { CmosRtc } from '../src/platform/cmos.js';

const MS = 1_000_000, S = 1_000_000_000;
// A Monday; the quarter second puts the next update 750 ms into guest time.
const START = new Date('2026-11-23T13:45:30.250Z');

function makeRtc(startTime = START) {
  const clock = new ManualClock();
  const levels: boolean[] = [];
  const rtc = new CmosRtc({ clock, irq: { set: (l) => levels.push(l) }, startTime });
  const r = (reg: number) => { rtc.ioWrite(0x70, 1, reg); return rtc.ioRead(0x71, 1); };
  const w = (reg: number, v: number) => { rtc.ioWrite(0x70, 1, reg); rtc.ioWrite(0x71, 1, v); };
  const time = () => [0, 2, 4, 6, 7, 8, 9, 0x32].map(r);
  const risingEdges = () => levels.filter((l, i) => l && !levels[i - 1]).length;
  return { clock, rtc, r, w, time, levels, risingEdges };
}

test('startTime reads back in BCD, 24-hour mode (the PC default)', () => {
  const { time, r } = makeRtc();
  // sec, min, hour, weekday (Sunday = 1), day, month, year, century
  assert.deepEqual(time(), [0x30, 0x45, 0x13, 0x02, 0x23, 0x11, 0x26, 0x20]);
  assert.equal(r(0x0d) & 0x80, 0x80, 'valid RAM and time');
});

test('binary mode and 12-hour mode', () => {
  const { time, w, r } = makeRtc();
  w(0x0b, 0x06); // binary, 24h
  assert.deepEqual(time(), [30, 45, 13, 2, 23, 11, 26, 20]);
  w(0x0b, 0x04); // binary, 12h
  assert.equal(r(4), 0x80 | 1, '1 PM');
  w(0x0b, 0x00); // BCD, 12h
  assert.equal(r(4), 0x81);
  const midnight = makeRtc(new Date('2026-01-01T00:10:00Z'));
  midnight.w(0x0b, 0x00);
  assert.equal(midnight.r(4), 0x12, '12 AM');
  const noon = makeRtc(new Date('2026-01-01T12:10:00Z'));
  noon.w(0x0b, 0x00);
  assert.equal(noon.r(4), 0x92, '12 PM');
});

test('advancing guest time by 61 s moves the minutes and seconds', () => {
  const { clock, r } = makeRtc();
  clock.advance(61 * S);
  assert.equal(r(2), 0x46);
  assert.equal(r(0), 0x31);
});

test('the calendar rolls over at the end of a year', () => {
  const { clock, time } = makeRtc(new Date('2099-12-31T23:59:59Z'));
  clock.advance(1 * S);
  assert.deepEqual(time(), [0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x00, 0x21], 'Friday 2100-01-01');
});

test('UIP is set during the 244 µs before the second changes', () => {
  const { clock, r } = makeRtc();
  clock.advanceTo(749.7 * MS);
  assert.equal(r(0x0a) & 0x80, 0);
  assert.equal(r(0), 0x30);
  clock.advanceTo(749.8 * MS);
  assert.equal(r(0x0a) & 0x80, 0x80);
  assert.equal(r(0), 0x30, 'not yet updated');
  clock.advanceTo(750 * MS);
  assert.equal(r(0x0a) & 0x80, 0);
  assert.equal(r(0), 0x31);
});

test('periodic interrupts fire at the rate selected in register A', () => {
  for (const [rate, perSecond] of [[6, 1024], [15, 2], [3, 8192], [1, 256]] as const) {
    const clock = new ManualClock();
    let handled = 0;
    // An interrupt handler that acknowledges by reading register C, as rtc-cmos does.
    const irq = { set: (level: boolean) => { if (level) { handled++; assert.equal(r(0x0c) & 0xc0, 0xc0, 'IRQF and PF'); } } };
    const rtc = new CmosRtc({ clock, irq, startTime: START });
    const r = (reg: number) => { rtc.ioWrite(0x70, 1, reg); return rtc.ioRead(0x71, 1); };
    const w = (reg: number, v: number) => { rtc.ioWrite(0x70, 1, reg); rtc.ioWrite(0x71, 1, v); };
    w(0x0a, 0x20 | rate);
    w(0x0b, 0x02 | 0x40); // PIE
    clock.advance(1 * S);
    assert.equal(handled, perSecond, `rate ${rate}`);
    w(0x0b, 0x02);
    clock.advance(1 * S);
    assert.equal(handled, perSecond, 'no more once PIE is cleared');
  }
});

test('status C: read returns the flags, clears them and lowers the IRQ', () => {
  const { clock, r, w, levels } = makeRtc();
  w(0x0b, 0x02 | 0x10); // UIE
  clock.advanceTo(750 * MS);
  assert.equal(levels.at(-1), true);
  assert.equal(r(0x0c), 0x80 | 0x10, 'IRQF and UF');
  assert.equal(levels.at(-1), false);
  assert.equal(r(0x0c), 0);
});

test('the update-ended interrupt fires once per second', () => {
  const { clock, w, r, risingEdges } = makeRtc();
  w(0x0b, 0x02 | 0x10);
  for (let i = 0; i < 5; i++) { clock.advance(1 * S); r(0x0c); }
  assert.equal(risingEdges(), 5);
});

test('the flags are set without their interrupt enable bits, but the IRQ stays low', () => {
  const { clock, r, levels } = makeRtc();
  clock.advance(1 * S);
  assert.equal(r(0x0c), 0x10, 'UF without IRQF');
  assert.deepEqual(levels, []);
});

test('the alarm interrupt fires when the time matches, with don\'t-care bytes', () => {
  const { clock, r, w, levels } = makeRtc();
  w(0x01, 0x00); // alarm at hh:46:00 for any hour
  w(0x03, 0x46);
  w(0x05, 0xff);
  w(0x0b, 0x02 | 0x20); // AIE
  clock.advanceTo(29 * S);
  assert.deepEqual(levels, []);
  clock.advanceTo(30 * S);
  assert.equal(levels.at(-1), true);
  assert.equal(r(0x0c) & 0xa0, 0xa0, 'IRQF and AF');
});

test('setting the time with SET held (as Linux does) keeps counting from the new time', () => {
  const { clock, r, w, time } = makeRtc();
  w(0x0b, 0x82); // SET
  w(0x0a, 0x70 | 0x06); // divider reset
  w(0x00, 0x59); w(0x02, 0x59); w(0x04, 0x23); w(0x07, 0x31); w(0x08, 0x12); w(0x09, 0x99); w(0x32, 0x19);
  clock.advance(3 * S);
  assert.deepEqual(time(), [0x59, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99, 0x19], 'frozen while SET');
  w(0x0b, 0x02);
  w(0x0a, 0x26);
  clock.advance(499 * MS);
  assert.equal(r(0), 0x59, 'first update 500 ms after the divider restarts');
  clock.advance(1 * MS);
  assert.deepEqual(time(), [0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20], 'Saturday 2000-01-01');
});

test('CMOS RAM holds bytes and the memory-size fields', () => {
  const { rtc, r, w } = makeRtc();
  w(0x40, 0x5a);
  assert.equal(r(0x40), 0x5a);
  w(0x8f, 0x12); // bit 7 is the NMI mask, not part of the index
  assert.equal(r(0x0f), 0x12);
  rtc.setMemorySize(512 * 1024 * 1024, 1024 * 1024 * 1024);
  assert.equal(r(0x15) | (r(0x16) << 8), 640);
  assert.equal(r(0x17) | (r(0x18) << 8), 0xffff, '511 MiB of extended memory in KiB, clamped');
  assert.equal(r(0x34) | (r(0x35) << 8), (512 - 16) * 16, 'above 16 MiB in 64 KiB units');
  assert.equal(r(0x5b) | (r(0x5c) << 8) | (r(0x5d) << 16), 16384, 'above 4 GiB in 64 KiB units');
});
