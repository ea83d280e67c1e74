// The 8259A pair delivers ISA IRQs to the CPU the way Linux expects after init_8259A.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pic8259Pair } from '../src/platform/pic8259.js';

const MASTER_CMD = 0x20, MASTER_IMR = 0x21, SLAVE_CMD = 0xa0, SLAVE_IMR = 0xa1;

/** A PIC pair programmed as Linux's init_8259A does (vectors 0x30/0x38, normal EOI), all IRQs unmasked. */
function linuxPic(autoEoi = false) {
  const intr: boolean[] = [];
  const pic = new Pic8259Pair({ onIntr: (a) => intr.push(a) });
  const out = (port: number, v: number) => pic.ioWrite(port, 1, v);
  out(MASTER_IMR, 0xff);
  out(SLAVE_IMR, 0xff);
  out(MASTER_CMD, 0x11); // ICW1: edge, cascade, ICW4 follows
  out(MASTER_IMR, 0x30); // ICW2: vector base
  out(MASTER_IMR, 1 << 2); // ICW3: slave on IR2
  out(MASTER_IMR, autoEoi ? 0x03 : 0x01); // ICW4: 8086 mode
  out(SLAVE_CMD, 0x11);
  out(SLAVE_IMR, 0x38);
  out(SLAVE_IMR, 2); // ICW3: cascade identity
  out(SLAVE_IMR, 0x01);
  out(MASTER_IMR, 0x00);
  out(SLAVE_IMR, 0x00);
  return { pic, intr, out, inb: (port: number) => pic.ioRead(port, 1) };
}

function pulse(pic: Pic8259Pair, irq: number) {
  const line = pic.irqLine(irq);
  line.set(true);
  line.set(false);
}

test('after Linux init, IRQs arrive at ICW2 vectors in fixed priority order, one at a time until EOI', () => {
  const { pic, intr, out } = linuxPic();
  assert.deepEqual(intr, []);
  pulse(pic, 4);
  pulse(pic, 1);
  pulse(pic, 0);
  assert.deepEqual(intr, [true]);
  assert.equal(pic.acknowledge(), 0x30);
  assert.deepEqual(intr, [true, false], 'IRQ 0 in service blocks lower priorities');
  out(MASTER_CMD, 0x60); // specific EOI for IR0, as Linux's mask_and_ack does
  assert.deepEqual(intr, [true, false, true]);
  assert.equal(pic.acknowledge(), 0x31);
  out(MASTER_CMD, 0x20); // non-specific EOI
  assert.equal(pic.acknowledge(), 0x34);
  out(MASTER_CMD, 0x20);
  assert.equal(pic.intrAsserted, false);
  assert.equal(pic.acknowledge(), -1, 'no INTA answer when INT was never raised');
});

test('a higher-priority request interrupts a lower one in service; EOI lets lower ones through', () => {
  const { pic, out } = linuxPic();
  pulse(pic, 5);
  assert.equal(pic.acknowledge(), 0x35);
  pulse(pic, 6);
  assert.equal(pic.intrAsserted, false, 'IRQ 6 waits behind IRQ 5');
  pulse(pic, 3);
  assert.equal(pic.intrAsserted, true, 'IRQ 3 preempts IRQ 5');
  assert.equal(pic.acknowledge(), 0x33);
  out(MASTER_CMD, 0x20); // EOI clears the highest in service: IR3
  assert.equal(pic.intrAsserted, false, 'IRQ 5 still in service');
  out(MASTER_CMD, 0x20);
  assert.equal(pic.acknowledge(), 0x36);
});

test('masked IRQs are not delivered until unmasked; IMR reads back', () => {
  const { pic, out, inb } = linuxPic();
  out(MASTER_IMR, 0x02);
  pulse(pic, 1);
  assert.equal(pic.intrAsserted, false);
  assert.equal(inb(MASTER_IMR), 0x02);
  assert.equal(inb(MASTER_CMD) & 0x02, 0x02, 'the request is latched in IRR');
  out(MASTER_IMR, 0x00);
  assert.equal(pic.intrAsserted, true);
  assert.equal(pic.acknowledge(), 0x31);
});

test('OCW3 selects IRR or ISR for reads at the command port', () => {
  const { pic, out, inb } = linuxPic();
  pulse(pic, 3);
  assert.equal(inb(MASTER_CMD), 0x08); // IRR by default
  pic.acknowledge();
  out(MASTER_CMD, 0x0b); // read ISR
  assert.equal(inb(MASTER_CMD), 0x08);
  out(MASTER_CMD, 0x0a); // read IRR
  assert.equal(inb(MASTER_CMD), 0x00);
});

test('an edge request latches on the rising edge only; a held line does not re-request', () => {
  const { pic, out } = linuxPic();
  const line = pic.irqLine(4);
  line.set(true);
  assert.equal(pic.acknowledge(), 0x34);
  out(MASTER_CMD, 0x20);
  assert.equal(pic.intrAsserted, false, 'no new edge');
  line.set(false);
  line.set(true);
  assert.equal(pic.acknowledge(), 0x34);
});

test('a level-triggered line (ELCR) re-requests after EOI while still high, and stops when it drops', () => {
  const { pic, out, inb } = linuxPic();
  pic.ioWrite(0x4d1, 1, 0x02); // IRQ 9 level-triggered, as ACPI SCI would be
  assert.equal(inb(0x4d1), 0x02);
  const sci = pic.irqLine(9);
  sci.set(true);
  assert.equal(pic.acknowledge(), 0x39);
  out(SLAVE_CMD, 0x61);
  out(MASTER_CMD, 0x62);
  assert.equal(pic.intrAsserted, true, 'line still high: requests again');
  assert.equal(pic.acknowledge(), 0x39);
  sci.set(false);
  out(SLAVE_CMD, 0x20);
  out(MASTER_CMD, 0x20);
  assert.equal(pic.intrAsserted, false);
});

test('ELCR bits for IRQ 0, 1, 2, 8 and 13 stay edge', () => {
  const { pic, inb } = linuxPic();
  pic.ioWrite(0x4d0, 1, 0xff);
  pic.ioWrite(0x4d1, 1, 0xff);
  assert.equal(inb(0x4d0), 0xf8);
  assert.equal(inb(0x4d1), 0xde);
});

test('ICW1 LTIM makes every input level-triggered', () => {
  const pic = new Pic8259Pair({ onIntr: () => {} });
  for (const v of [0x19, 0x40, 0x04, 0x01, 0x00]) pic.ioWrite(v === 0x19 ? 0x20 : 0x21, 1, v);
  pic.irqLine(3).set(true);
  assert.equal(pic.acknowledge(), 0x43);
  pic.ioWrite(0x20, 1, 0x20);
  assert.equal(pic.acknowledge(), 0x43);
});

test('the cascade delivers slave IRQs 8-15 through IR2 with the slave vector and priority', () => {
  const { pic, out } = linuxPic();
  pulse(pic, 12);
  pulse(pic, 3);
  pulse(pic, 8);
  // Slave requests rank at IR2: above IRQ 3.
  assert.equal(pic.acknowledge(), 0x38);
  out(SLAVE_CMD, 0x60);
  out(MASTER_CMD, 0x62);
  assert.equal(pic.acknowledge(), 0x3c);
  out(SLAVE_CMD, 0x20);
  out(MASTER_CMD, 0x20);
  assert.equal(pic.acknowledge(), 0x33);
});

test('a masked slave IRQ or a masked cascade input is not delivered', () => {
  const { pic, out } = linuxPic();
  out(SLAVE_IMR, 1 << 6);
  pulse(pic, 14);
  assert.equal(pic.intrAsserted, false);
  out(SLAVE_IMR, 0);
  out(MASTER_IMR, 1 << 2);
  assert.equal(pic.intrAsserted, false);
  out(MASTER_IMR, 0);
  assert.equal(pic.acknowledge(), 0x3e);
});

test('spurious IRQ 7: a level request that vanishes before INTA yields vector base+7 without ISR', () => {
  const { pic, intr, out, inb } = linuxPic();
  pic.ioWrite(0x4d0, 1, 0x20); // IRQ 5 level
  const line = pic.irqLine(5);
  line.set(true);
  line.set(false);
  assert.deepEqual(intr, [true, false]);
  assert.equal(pic.acknowledge(), 0x37);
  out(MASTER_CMD, 0x0b);
  assert.equal(inb(MASTER_CMD), 0, 'nothing in service (so Linux treats IRQ 7 as spurious)');
});

test('spurious IRQ 15: a slave request that vanishes after the master chose IR2', () => {
  const { pic, out, inb } = linuxPic();
  pic.ioWrite(0x4d1, 1, 0x08); // IRQ 11 level
  const line = pic.irqLine(11);
  line.set(true);
  // The slave's request disappears, but the master already latched the cascade edge.
  line.set(false);
  assert.equal(pic.acknowledge(), 0x3f);
  out(SLAVE_CMD, 0x0b);
  assert.equal(inb(SLAVE_CMD), 0);
  out(MASTER_CMD, 0x0b);
  assert.equal(inb(MASTER_CMD), 0x04, 'the master has IR2 in service: Linux EOIs the master only');
});

test('onIntr follows the INT output up and down', () => {
  const { pic, intr, out } = linuxPic();
  pulse(pic, 0);
  pulse(pic, 1);
  pic.acknowledge();
  out(MASTER_CMD, 0x20);
  pic.acknowledge();
  out(MASTER_CMD, 0x20);
  assert.deepEqual(intr, [true, false, true, false]);
});

test('auto-EOI mode leaves nothing in service', () => {
  const { pic, inb, out } = linuxPic(true);
  pulse(pic, 2 + 1);
  pulse(pic, 4);
  assert.equal(pic.acknowledge(), 0x33);
  assert.equal(pic.acknowledge(), 0x34);
  out(MASTER_CMD, 0x0b);
  assert.equal(inb(MASTER_CMD), 0);
});

test('poll command returns 0x80 | IR and acknowledges', () => {
  const { pic, out, inb } = linuxPic();
  pulse(pic, 6);
  out(MASTER_CMD, 0x0c);
  assert.equal(inb(MASTER_CMD), 0x86);
  assert.equal(pic.intrAsserted, false);
  out(MASTER_CMD, 0x0b);
  assert.equal(inb(MASTER_CMD), 0x40);
  out(MASTER_CMD, 0x0c);
  assert.equal(inb(MASTER_CMD), 0);
});

test('rotate on non-specific EOI makes the serviced IR lowest priority', () => {
  const { pic, out } = linuxPic();
  pulse(pic, 1);
  assert.equal(pic.acknowledge(), 0x31);
  pulse(pic, 0);
  pulse(pic, 4);
  out(MASTER_CMD, 0xa0); // rotate on non-specific EOI: IR1 becomes lowest, IR2 highest
  assert.equal(pic.acknowledge(), 0x34);
});

test('irqLine rejects numbers outside 0-15', () => {
  const { pic } = linuxPic();
  assert.throws(() => pic.irqLine(16), RangeError);
});
