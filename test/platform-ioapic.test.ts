// The I/O APIC routes pins through its redirection table: masking, edge and
// level semantics with remote IRR, polarity, and register read-back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoApic } from '../src/platform/ioapic.js';

type Sent = [dest: number, destMode: string, vector: number, mode: number, level: boolean];

function setup() {
  const sent: Sent[] = [];
  const io = new IoApic({ deliver: (...args) => sent.push(args) });
  const writeReg = (reg: number, value: number) => { io.mmioWrite(0, 4, reg); io.mmioWrite(0x10, 4, value); };
  const readReg = (reg: number) => { io.mmioWrite(0, 4, reg); return io.mmioRead(0x10, 4); };
  const program = (pin: number, low: number, high = 0) => { writeReg(0x11 + pin * 2, high); writeReg(0x10 + pin * 2, low); };
  return { io, sent, writeReg, readReg, program };
}

const LEVEL = 1 << 15, MASK = 1 << 16, ACTIVE_LOW = 1 << 13, REMOTE_IRR = 1 << 14;

test('identification registers and masked reset state', () => {
  const { readReg, writeReg } = setup();
  assert.equal(readReg(1), 0x00170011);
  writeReg(0, 0x0a000000);
  assert.equal(readReg(0), 0x0a000000);
  for (let pin = 0; pin < 24; pin++) assert.equal(readReg(0x10 + pin * 2), MASK);
});

test('redirection entries read back as written (read-only bits excluded)', () => {
  const { readReg, program } = setup();
  program(5, 0x0001_a935 | (1 << 12), 0x03ffffff); // delivery status bit is read-only
  assert.equal(readReg(0x10 + 10), 0x0001_a935);
  assert.equal(readReg(0x11 + 10), 0x03000000);
});

test('a masked pin delivers nothing', () => {
  const { io, sent, program } = setup();
  program(1, MASK | 0x31);
  const line = io.irqLine(1);
  line.set(true); line.set(false);
  assert.deepEqual(sent, []);
});

test('edge pins deliver once per rising edge with their routing', () => {
  const { io, sent, program } = setup();
  program(4, 0x34 | (1 << 11) | (1 << 8), 0x02000000); // logical, lowest priority
  const line = io.irqLine(4);
  line.set(true); line.set(true); line.set(false); line.set(true);
  assert.deepEqual(sent, [[2, 'logical', 0x34, 1, false], [2, 'logical', 0x34, 1, false]]);
});

test('level pins set remote IRR and re-deliver after EOI while still high', () => {
  const { io, sent, program, readReg } = setup();
  program(9, LEVEL | 0x41, 0x01000000);
  const line = io.irqLine(9);
  line.set(true);
  line.set(true);
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0], [1, 'physical', 0x41, 0, true]);
  assert.ok(readReg(0x10 + 18) & REMOTE_IRR);
  io.eoi(0x99); // another vector's EOI changes nothing
  assert.equal(sent.length, 1);
  io.eoi(0x41);
  assert.equal(sent.length, 2);
  line.set(false);
  io.eoi(0x41);
  assert.equal(sent.length, 2);
  assert.equal(readReg(0x10 + 18) & REMOTE_IRR, 0);
});

test('unmasking an asserted level pin delivers', () => {
  const { io, sent, program } = setup();
  program(10, MASK | LEVEL | 0x50);
  io.irqLine(10).set(true);
  assert.equal(sent.length, 0);
  program(10, LEVEL | 0x50);
  assert.deepEqual(sent, [[0, 'physical', 0x50, 0, true]]);
});

test('active-low pins are asserted by a low line', () => {
  const { io, sent, program } = setup();
  const line = io.irqLine(11);
  line.set(true); // idle high before programming
  program(11, LEVEL | ACTIVE_LOW | 0x60);
  assert.equal(sent.length, 0);
  line.set(false);
  assert.equal(sent.length, 1);
});
