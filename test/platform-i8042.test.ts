// The i8042 keyboard controller as Linux's i8042 and atkbd drivers probe it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { I8042 } from '../src/platform/i8042.js';

const OBF = 0x01, SYS = 0x04, CMDDAT = 0x08, AUXDATA = 0x20, TIMEOUT = 0x40;

function makeKbc() {
  let resets = 0;
  const irq1: boolean[] = [], irq12: boolean[] = [];
  const kbc = new I8042({
    onReset: () => resets++,
    irq1: { set: (l) => irq1.push(l) },
    irq12: { set: (l) => irq12.push(l) },
  });
  const status = () => kbc.ioRead(0x64, 1);
  const command = (c: number) => kbc.ioWrite(0x64, 1, c);
  const writeData = (d: number) => kbc.ioWrite(0x60, 1, d);
  /** Read one byte the way i8042_wait_read does: OBF must be set. */
  const readData = () => { assert.ok(status() & OBF, 'output buffer full'); return kbc.ioRead(0x60, 1); };
  const drained = () => (status() & OBF) === 0;
  return { kbc, status, command, writeData, readData, drained, resets: () => resets, irq1, irq12 };
}

test('the controller self-test answers 0x55 and the interface tests 0x00', () => {
  const k = makeKbc();
  assert.ok(k.drained(), 'nothing to flush at power-on');
  assert.equal(k.status() & SYS, SYS, 'POST done');
  k.command(0xaa);
  assert.equal(k.status() & CMDDAT, CMDDAT);
  assert.equal(k.readData(), 0x55);
  k.command(0xab);
  assert.equal(k.readData(), 0x00);
  k.command(0xa9);
  assert.equal(k.readData(), 0x00);
  assert.ok(k.drained());
});

test('the command byte round-trips through 0x60 / 0x20, and 0xad-0xa8 flip its disable bits', () => {
  const k = makeKbc();
  k.command(0x60);
  k.writeData(0x47);
  assert.equal(k.status() & CMDDAT, 0);
  k.command(0x20);
  assert.equal(k.readData(), 0x47);
  k.command(0xad); k.command(0xa7);
  k.command(0x20);
  assert.equal(k.readData(), 0x47 | 0x10 | 0x20);
  k.command(0xae); k.command(0xa8);
  k.command(0x20);
  assert.equal(k.readData(), 0x47);
});

test('keyboard reset on the data port answers ACK then BAT OK, with IRQ 1 for each byte', () => {
  const k = makeKbc();
  k.writeData(0xff);
  assert.deepEqual(k.irq1, [true]);
  assert.equal(k.readData(), 0xfa);
  assert.deepEqual(k.irq1, [true, false, true], 'a fresh edge for the second byte');
  assert.equal(k.readData(), 0xaa);
  assert.equal(k.irq1.at(-1), false);
  assert.ok(k.drained());
});

test('keyboard commands with parameters are acknowledged twice; get-ID reports an MF2 keyboard', () => {
  const k = makeKbc();
  k.writeData(0xed); // set LEDs
  assert.equal(k.readData(), 0xfa);
  k.writeData(0x07);
  assert.equal(k.readData(), 0xfa);
  k.writeData(0xf2);
  assert.deepEqual([k.readData(), k.readData(), k.readData()], [0xfa, 0xab, 0x41], 'translated ID');
  k.writeData(0xf5);
  assert.equal(k.readData(), 0xfa);
  assert.ok(k.drained());
});

test('controller reset: 0xfe and odd pulse commands call onReset, even ones do not', () => {
  const k = makeKbc();
  k.command(0xfe);
  assert.equal(k.resets(), 1);
  k.command(0xff); // pulses nothing (bit 0 set)
  assert.equal(k.resets(), 1);
  k.command(0xf0);
  assert.equal(k.resets(), 2);
  k.command(0xd1); // write output port with the reset line low
  k.writeData(0x02);
  assert.equal(k.resets(), 3);
});

test("the aux port passes Linux's loop and IRQ tests but has no mouse behind it", () => {
  const k = makeKbc();
  // i8042_check_aux: AUX_LOOP echoes with AUXDATA set.
  k.command(0xd3);
  k.writeData(0x5a);
  assert.equal(k.status() & (OBF | AUXDATA), OBF | AUXDATA);
  assert.equal(k.readData(), 0x5a);
  // MUX detection: the third loop byte comes back unchanged, so this is not a MUX.
  for (const v of [0xf0, 0x56, 0xa4]) { k.command(0xd3); k.writeData(v); assert.equal(k.readData(), v); }
  // With AUX interrupts on, the loop byte raises IRQ 12 (the "AUX IRQ delivered" test).
  k.command(0x60);
  k.writeData(0x47 | 0x02);
  k.command(0xd3);
  k.writeData(0xa5);
  assert.deepEqual(k.irq12, [true]);
  assert.equal(k.readData(), 0xa5);
  assert.equal(k.irq12.at(-1), false);
  // psmouse's first command gets the "no device" answer: 0xfe with the timeout bit.
  k.command(0xd4);
  k.writeData(0xf2);
  assert.equal(k.status() & (AUXDATA | TIMEOUT), AUXDATA | TIMEOUT);
  assert.equal(k.readData(), 0xfe);
  assert.ok(k.drained());
  assert.deepEqual(k.irq1, [], 'no keyboard interrupts for aux traffic');
});

test('host keystrokes arrive as keyboard data, but not while the keyboard is disabled', () => {
  const k = makeKbc();
  k.kbc.keyboardInput(Uint8Array.of(0x1e, 0x9e));
  assert.deepEqual([k.readData(), k.readData()], [0x1e, 0x9e]);
  k.command(0xad);
  k.kbc.keyboardInput(Uint8Array.of(0x1e));
  assert.ok(k.drained());
});
