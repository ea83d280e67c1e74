// The 16550A UART as Linux's 8250 driver and a terminal user see it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Uart16550 } from '../src/platform/uart16550.js';

const BASE = 0x3f8;
const RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

function makeUart() {
  const levels: boolean[] = [];
  const sent: number[] = [];
  let calls = 0;
  const uart = new Uart16550({
    base: BASE,
    irq: { set: (l) => levels.push(l) },
    output: (bytes) => { calls++; sent.push(...bytes); },
  });
  const r = (reg: number) => uart.ioRead(BASE + reg, 1);
  const w = (reg: number, v: number) => uart.ioWrite(BASE + reg, 1, v);
  const irqUp = () => levels.at(-1) === true;
  return { uart, r, w, sent, levels, irqUp, outputCalls: () => calls };
}

test('bytes written to THR reach the output in order; THRE and TEMT stay set', () => {
  const { r, w, sent } = makeUart();
  for (const c of 'Linux\n') w(THR, c.charCodeAt(0));
  assert.equal(String.fromCharCode(...sent), 'Linux\n');
  assert.equal(r(LSR) & 0x60, 0x60);
});

test('DLAB switches offsets 0 and 1 to the divisor latch', () => {
  const { r, w, sent } = makeUart();
  w(IER, 0x05);
  w(LCR, 0x83); // DLAB + 8N1
  w(DLL, 0x01);
  w(DLM, 0x02);
  assert.equal(r(DLL), 0x01);
  assert.equal(r(DLM), 0x02);
  assert.deepEqual(sent, [], 'divisor writes are not transmitted');
  w(LCR, 0x03);
  assert.equal(r(IER), 0x05);
  assert.equal(r(LCR), 0x03);
  w(LCR, 0x83);
  assert.equal(r(DLL) | (r(DLM) << 8), 0x0201);
});

test("Linux's autoconfig probes identify a 16550A", () => {
  const { r, w } = makeUart();
  // Scratch test: IER reads back 0 and then 0x0f.
  w(IER, 0);
  assert.equal(r(IER) & 0x0f, 0);
  w(IER, 0x0f);
  assert.equal(r(IER) & 0x0f, 0x0f);
  w(IER, 0);
  w(SCR, 0xa5);
  assert.equal(r(SCR), 0xa5);
  // Loopback test: MCR = LOOP | OUT2 | RTS gives DCD | CTS in MSR.
  w(MCR, 0x10 | 0x0a);
  assert.equal(r(MSR) & 0xf0, 0x90);
  w(MCR, 0);
  // FIFO detection: IIR bits 6-7 = 11 after enabling FIFOs (0 before).
  w(LCR, 0);
  w(FCR, 0);
  assert.equal(r(IIR) >> 6, 0);
  w(FCR, 0x01);
  assert.equal(r(IIR) >> 6, 3);
  // Not a 16750: IIR bit 5 stays clear even when the 64-byte FIFO bit is written.
  w(FCR, 0x21);
  assert.equal((r(IIR) >> 5) & 1, 0);
  // Not an XScale/16C750: IER bit 6 (UUE) does not stick.
  w(IER, 0x40);
  assert.equal(r(IER) & 0x40, 0);
  // Not a National SuperIO: with LCR = 0xe0, offset 2 does not mirror MCR's LOOP bit.
  w(LCR, 0xe0);
  const a = r(2);
  w(LCR, 0); w(MCR, 0x10); w(LCR, 0xe0);
  assert.equal((r(2) ^ a) & 0x10, 0);
  w(LCR, 0); w(MCR, 0);
  assert.notEqual(r(LSR), 0xff);
});

test('received bytes set DR and interrupt only with IER.RDI and MCR.OUT2; reading RBR drains', () => {
  const { uart, r, w, levels, irqUp } = makeUart();
  w(FCR, 0x07); // FIFOs on, trigger level 1
  w(MCR, 0x02); // RTS: the guest is ready to receive
  uart.input(Uint8Array.of(0x41, 0x42));
  assert.equal(r(LSR) & 0x01, 1);
  assert.deepEqual(levels, [], 'no interrupt with IER = 0');
  w(IER, 0x01);
  assert.deepEqual(levels, [], 'no interrupt without OUT2');
  assert.equal(r(IIR) & 0x0f, 0x04, 'IIR still reports received data');
  w(MCR, 0x0a);
  assert.ok(irqUp());
  assert.equal(r(RBR), 0x41);
  assert.ok(irqUp(), 'one byte left');
  assert.equal(r(RBR), 0x42);
  assert.equal(irqUp(), false);
  assert.equal(r(LSR) & 0x01, 0);
  assert.equal(r(IIR) & 0x0f, 0x01);
});

test('host input waits until the guest raises RTS, so the driver\'s startup FIFO clear cannot drop it', () => {
  const { uart, r, w } = makeUart();
  w(FCR, 0x01);
  uart.input(new TextEncoder().encode('ls\n'));
  assert.equal(r(LSR) & 0x01, 0, 'nothing received while RTS is down');
  w(FCR, 0x03); // what serial8250_clear_fifos does at startup
  w(MCR, 0x0b); // DTR | RTS | OUT2 when the port is opened
  let got = '';
  while (r(LSR) & 0x01) got += String.fromCharCode(r(RBR));
  assert.equal(got, 'ls\n');
});

test('a burst longer than the FIFO is delivered whole as the guest drains it', () => {
  const { uart, r, w } = makeUart();
  w(FCR, 0x01);
  w(MCR, 0x02);
  const text = 'the quick brown fox jumps over';
  uart.input(new TextEncoder().encode(text));
  let got = '';
  while (r(LSR) & 0x01) got += String.fromCharCode(r(RBR));
  assert.equal(got, text);
  assert.equal(r(LSR) & 0x02, 0, 'no overrun');
});

test('receive interrupt waits for the trigger level, reporting a character timeout below it', () => {
  const { uart, r, w } = makeUart();
  w(FCR, 0x81); // FIFOs on, trigger 8
  w(IER, 0x01);
  w(MCR, 0x02);
  uart.input(Uint8Array.of(1, 2, 3));
  assert.equal(r(IIR), 0xcc);
  uart.input(new Uint8Array(5));
  assert.equal(r(IIR), 0xc4);
});

test('THRE interrupt: raised when enabled, cleared by reading IIR, re-armed by THR write and re-enable', () => {
  const { r, w, irqUp, sent } = makeUart();
  w(MCR, 0x08);
  w(IER, 0x02);
  assert.ok(irqUp());
  assert.equal(r(IIR) & 0x0f, 0x02);
  assert.equal(irqUp(), false, 'reading IIR acknowledged THRE');
  assert.equal(r(IIR) & 0x0f, 0x01);
  w(THR, 0x58);
  assert.deepEqual(sent, [0x58]);
  assert.ok(irqUp(), 'THR is empty again after the byte went out');
  // serial8250_do_startup's THRE test: toggling IER.THRI re-asserts it.
  r(IIR);
  w(IER, 0);
  w(IER, 0x02);
  assert.equal(r(IIR) & 0x0f, 0x02);
  w(IER, 0);
  assert.equal(irqUp(), false);
});

test('interrupt priority: line status over received data over THRE over modem status', () => {
  const { r, w } = makeUart();
  w(MCR, 0x10); // loopback, so THR writes land in the receiver
  w(IER, 0x0f);
  w(THR, 1);
  w(THR, 2); // FIFOs are off: the second byte overruns the 1-byte holding register
  assert.equal(r(IIR) & 0x0f, 0x06);
  assert.equal(r(LSR) & 0x03, 0x03, 'DR and OE');
  assert.equal(r(IIR) & 0x0f, 0x04);
  assert.equal(r(RBR), 2, 'the overrunning byte replaced the first');
  assert.equal(r(IIR) & 0x0f, 0x02);
  w(MCR, 0x11); // DTR in loopback changes DSR: a modem status change
  assert.equal(r(IIR) & 0x0f, 0x00);
  assert.equal(r(MSR) & 0x22, 0x22, 'DSR and delta-DSR');
  assert.equal(r(MSR) & 0x0f, 0, 'reading MSR clears deltas');
  assert.equal(r(IIR) & 0x0f, 0x01);
});

test('loopback echoes transmitted bytes into the receiver instead of the output', () => {
  const { uart, r, w, sent } = makeUart();
  w(FCR, 0x01);
  w(MCR, 0x10);
  w(THR, 0x55);
  w(THR, 0xaa);
  uart.input(Uint8Array.of(0x99)); // the line is disconnected meanwhile
  assert.deepEqual(sent, []);
  assert.equal(r(RBR), 0x55);
  assert.equal(r(RBR), 0xaa);
  assert.equal(r(LSR) & 0x01, 0);
  w(MCR, 0x02);
  assert.equal(r(RBR), 0x99, 'host input arrives once loopback ends (with RTS up)');
  w(THR, 0x31);
  assert.deepEqual(sent, [0x31]);
});

test('FCR can reset the receive FIFO', () => {
  const { uart, r, w } = makeUart();
  w(FCR, 0x01);
  uart.input(Uint8Array.of(1, 2, 3));
  w(FCR, 0x03);
  assert.equal(r(LSR) & 0x01, 0);
});
