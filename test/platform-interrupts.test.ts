// How interrupts reach the vCPU: ISA lines through the PIC and LINT0 in
// virtual-wire mode, or through the IOAPIC once the guest programs it (IRQ 0
// on pin 2), level-triggered lines held off until EOI, the APIC's global
// disable, self-IPIs and the TSC-deadline timer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../src/platform/device.js';
import { PcInterrupts, LAPIC_BASE, IOAPIC_BASE } from '../src/platform/interrupts.js';
import { Msr } from '../src/backend/abi.js';

function setup() {
  const clock = new ManualClock();
  const intr: boolean[] = [];
  let nmis = 0;
  const irqs = new PcInterrupts({ clock, tscHz: 1e9, setCpuIntr: (a) => intr.push(a), sendNmi: () => { nmis++; } });
  const [lapic, ioapic] = irqs.mmioDevices;
  assert.equal(lapic!.base, LAPIC_BASE);
  assert.equal(ioapic!.base, IOAPIC_BASE);
  const apicW = (off: number, v: number) => lapic!.mmioWrite(off, 4, v, 0);
  const apicR = (off: number) => lapic!.mmioRead(off, 4, 0);
  const route = (pin: number, low: number) => {
    ioapic!.mmioWrite(0, 4, 0x11 + 2 * pin, 0); ioapic!.mmioWrite(0x10, 4, 0, 0);
    ioapic!.mmioWrite(0, 4, 0x10 + 2 * pin, 0); ioapic!.mmioWrite(0x10, 4, low, 0);
  };
  const initPic = (mask: number) => {
    for (const [p, v] of [[0x20, 0x11], [0x21, 0x20], [0x21, 0x04], [0x21, 0x01], [0x21, mask]] as const) irqs.pic.ioWrite(p, 1, v);
  };
  return { clock, intr, irqs, apicW, apicR, route, initPic, nmis: () => nmis };
}

const SVR = 0xf0, EOI = 0xb0, LVT_TIMER = 0x320, LVT_LINT0 = 0x350, ICR_LOW = 0x300, IRR = 0x200;

test('in virtual-wire mode (as firmware leaves the BSP) the PIC reaches the CPU through LINT0 ExtINT', () => {
  const { irqs, intr, initPic } = setup();
  initPic(0xef); // only IRQ 4 unmasked
  irqs.isaIrq(4).set(true);
  assert.deepEqual(intr, [true]);
  assert.equal(irqs.acknowledge(), 0x24, 'the PIC\'s vector for IRQ 4');
  assert.equal(intr.at(-1), false);
});

test('the IOAPIC routes ISA IRQs as programmed; IRQ 0 arrives on pin 2; EOI goes through the LAPIC', () => {
  const { irqs, intr, apicW, apicR, route, initPic } = setup();
  initPic(0xff); // the PIC fully masked, as Linux leaves it in APIC mode
  apicW(LVT_LINT0, 0x10000);
  route(4, 0x34);
  route(2, 0x30);
  irqs.isaIrq(4).set(true);
  assert.deepEqual(intr, [true]);
  assert.equal(irqs.acknowledge(), 0x34);
  apicW(EOI, 0);
  irqs.isaIrq(4).set(false);
  irqs.isaIrq(0).set(true);
  irqs.isaIrq(0).set(false);
  assert.equal(irqs.acknowledge(), 0x30, 'the timer\'s IRQ 0 is IOAPIC pin 2 (the MADT\'s override)');
  assert.equal(apicR(IRR + 0x10) & (1 << 16), 0);
});

test('a level-triggered line (the SCI) is not re-delivered until EOI, then again while still asserted', () => {
  const { irqs, apicW, route, initPic } = setup();
  initPic(0xff);
  route(9, 0x39 | (1 << 15)); // level, active high
  const sci = irqs.isaIrq(9);
  sci.set(true);
  assert.equal(irqs.acknowledge(), 0x39);
  sci.set(false); sci.set(true); // a new edge while in service: remote IRR holds it
  assert.equal(irqs.acknowledge(), -1);
  apicW(EOI, 0);
  assert.equal(irqs.acknowledge(), 0x39, 'still asserted after EOI: delivered again');
  sci.set(false); // the handler cleared the source before its EOI
  apicW(EOI, 0);
  assert.equal(irqs.acknowledge(), -1);
});

test('with the APIC disabled in IA32_APIC_BASE the PIC drives INTR directly and the APIC page reads all ones', () => {
  const { irqs, intr, apicW, apicR, initPic } = setup();
  apicW(LVT_LINT0, 0x10000); // LINT0 masked: only a disabled APIC lets the PIC through now
  initPic(0xef);
  irqs.isaIrq(4).set(true);
  assert.deepEqual(intr, []);
  assert.equal(irqs.writeMsr(Msr.APIC_BASE, 0xfee00100n), true);
  assert.deepEqual(intr, [true]);
  assert.equal(apicR(SVR), 0xffffffff);
  assert.equal(irqs.acknowledge(), 0x24);
  assert.equal(irqs.writeMsr(Msr.APIC_BASE, 0xfee00900n), true);
  assert.equal(apicR(LVT_LINT0), 0x10000, 're-enabled from the power-on state (LVTs masked)');
});

test('a self-IPI arrives; an IPI to another APIC id does not', () => {
  const { irqs, apicW } = setup();
  apicW(SVR, 0x1ff);
  apicW(ICR_LOW, 0x40000 | 0x51); // shorthand self, fixed, vector 0x51
  assert.equal(irqs.acknowledge(), 0x51);
  apicW(0x310, 5 << 24); // destination APIC id 5
  apicW(ICR_LOW, 0x52);
  assert.equal(irqs.acknowledge(), -1);
});

test('the TSC-deadline timer raises its vector when guest time reaches the deadline; the MSR reads back until then', () => {
  const { irqs, clock, apicW, intr } = setup();
  apicW(SVR, 0x1ff);
  apicW(LVT_TIMER, (2 << 17) | 0xec);
  irqs.writeMsr(Msr.TSC_DEADLINE, 5000n);
  assert.equal(irqs.readMsr(Msr.TSC_DEADLINE), 5000n);
  clock.advanceTo(4999);
  assert.deepEqual(intr, []);
  clock.advanceTo(5000);
  assert.deepEqual(intr, [true]);
  assert.equal(irqs.readMsr(Msr.TSC_DEADLINE), 0n, 'a fired deadline reads 0');
  assert.equal(irqs.acknowledge(), 0xec);
  assert.equal(irqs.readMsr(0x10), undefined, 'other MSRs are not the wiring\'s');
});
