// Interrupts between the processors of a multi-CPU PC: each CPU has its own
// local APIC behind the same MMIO page, IPIs reach the CPUs the ICR names
// (physical and logical flat/cluster destinations, the self/all/all-but-self
// shorthands, fixed, lowest priority, NMI, INIT and SIPI), the IOAPIC routes
// a pin to any CPU, and each APIC's TSC-deadline timer is its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../src/platform/device.js';
import { PcInterrupts } from '../src/platform/interrupts.js';
import { Msr } from '../src/backend/abi.js';

const SVR = 0xf0, EOI = 0xb0, ID = 0x20, LDR = 0xd0, DFR = 0xe0, TPR = 0x80, ICR_LOW = 0x300, ICR_HIGH = 0x310, LVT_TIMER = 0x320;
const FIXED = 0, LOWEST = 1 << 8, NMI = 4 << 8, INIT = 5 << 8, SIPI = 6 << 8;
const LOGICAL = 1 << 11, ASSERT = 1 << 14, LEVEL_TRIGGER = 1 << 15;
const SELF = 1 << 18, ALL = 2 << 18, ALL_BUT_SELF = 3 << 18;

function setup(cpus = 4) {
  const clock = new ManualClock();
  const log: string[] = [];
  const irqs = new PcInterrupts({
    clock, tscHz: 1e9, cpus,
    setCpuIntr: (a, cpu) => log.push(`intr${cpu}=${a ? 1 : 0}`),
    sendNmi: (cpu) => log.push(`nmi${cpu}`),
    sendInit: (cpu) => log.push(`init${cpu}`),
    sendSipi: (cpu, v) => log.push(`sipi${cpu}:${v.toString(16)}`),
  });
  const [lapic, ioapic] = irqs.mmioDevices;
  const apicW = (cpu: number, off: number, v: number) => lapic!.mmioWrite(off, 4, v, cpu);
  const apicR = (cpu: number, off: number) => lapic!.mmioRead(off, 4, cpu);
  for (let c = 0; c < cpus; c++) apicW(c, SVR, 0x1ff);
  /** Send from `cpu` to destination `dest` with ICR low bits `low`. */
  const ipi = (cpu: number, dest: number, low: number) => { apicW(cpu, ICR_HIGH, dest << 24); apicW(cpu, ICR_LOW, low); };
  /** Which CPUs have `vector` to take now (each takes it and signals its end of interrupt). */
  const takers = (vector: number) => Array.from({ length: cpus }, (_, c) => c).filter((c) => {
    const took = irqs.acknowledge(c) === vector;
    if (took) apicW(c, EOI, 0);
    return took;
  });
  return { clock, log, irqs, apicW, apicR, ipi, takers, ioapic: ioapic! };
}

test('each CPU reads its own APIC id through the same page', () => {
  const { apicR } = setup();
  assert.deepEqual([0, 1, 2, 3].map((c) => apicR(c, ID) >>> 24), [0, 1, 2, 3]);
});

test('a fixed IPI to a physical APIC id reaches that CPU only; 0xff reaches every CPU', () => {
  const { ipi, takers } = setup();
  ipi(0, 2, FIXED | 0x41);
  assert.deepEqual(takers(0x41), [2]);
  ipi(0, 0xff, FIXED | 0x42);
  assert.deepEqual(takers(0x42), [0, 1, 2, 3]);
});

test('shorthands: self, all including self, all but self', () => {
  const { ipi, takers } = setup();
  ipi(1, 0, SELF | 0x43);
  assert.deepEqual(takers(0x43), [1]);
  ipi(1, 0, ALL | 0x44);
  assert.deepEqual(takers(0x44), [0, 1, 2, 3]);
  ipi(1, 0, ALL_BUT_SELF | 0x45);
  assert.deepEqual(takers(0x45), [0, 2, 3]);
});

test('logical destinations: flat model matches LDR bits, cluster model matches cluster and member bits', () => {
  const { apicW, ipi, takers } = setup();
  // Flat: CPU c has logical id 1 << c.
  for (let c = 0; c < 4; c++) apicW(c, LDR, (1 << c) << 24);
  ipi(0, 0b1010, LOGICAL | 0x46);
  assert.deepEqual(takers(0x46), [1, 3]);
  // Cluster: CPUs 0,1 in cluster 1 (members 1, 2), CPUs 2,3 in cluster 2 (members 1, 2).
  for (let c = 0; c < 4; c++) { apicW(c, DFR, 0x0fffffff); apicW(c, LDR, ((c < 2 ? 0x10 : 0x20) | (1 << (c & 1))) << 24); }
  ipi(0, 0x23, LOGICAL | 0x47);
  assert.deepEqual(takers(0x47), [2, 3]);
  ipi(0, 0x12, LOGICAL | 0x48);
  assert.deepEqual(takers(0x48), [1]);
});

test('lowest priority goes to one CPU of the destination set: the one with the lowest task priority', () => {
  const { apicW, ipi, takers } = setup();
  for (let c = 0; c < 4; c++) apicW(c, LDR, (1 << c) << 24);
  apicW(1, TPR, 0x20);
  ipi(0, 0b0110, LOGICAL | LOWEST | 0x49);
  assert.deepEqual(takers(0x49), [2]);
});

test('NMI, INIT and SIPI IPIs reach the CPU as signals; INIT de-assert does nothing; a CPU does not INIT itself', () => {
  const { ipi, log } = setup();
  ipi(0, 3, NMI);
  ipi(0, 1, INIT | ASSERT | LEVEL_TRIGGER);
  ipi(0, 1, INIT | LEVEL_TRIGGER); // the de-assert message
  ipi(0, 1, SIPI | 0x9a);
  ipi(0, 0, ALL | INIT | ASSERT);
  assert.deepEqual(log, ['nmi3', 'init1', 'sipi1:9a', 'init1', 'init2', 'init3']);
});

test('INIT resets the target APIC but keeps its id', () => {
  const { apicW, apicR, ipi } = setup();
  apicW(2, TPR, 0x30);
  ipi(0, 2, INIT | ASSERT);
  assert.equal(apicR(2, TPR), 0);
  assert.equal(apicR(2, SVR), 0xff, 'software-disabled after INIT');
  assert.equal(apicR(2, ID) >>> 24, 2);
});

test('the IOAPIC routes a pin to the CPU its redirection entry names; INTR rises on that CPU', () => {
  const { irqs, ioapic, log, takers } = setup();
  const pin = 5;
  // The 8259s initialised and fully masked, as Linux leaves them in APIC mode.
  for (const [p, v] of [[0x20, 0x11], [0x21, 0x20], [0x21, 0x04], [0x21, 0x01], [0x21, 0xff]] as const) irqs.pic.ioWrite(p, 1, v);
  ioapic.mmioWrite(0, 4, 0x11 + 2 * pin, 0); ioapic.mmioWrite(0x10, 4, 3 << 24, 0); // physical destination 3
  ioapic.mmioWrite(0, 4, 0x10 + 2 * pin, 0); ioapic.mmioWrite(0x10, 4, 0x55, 0);
  irqs.isaIrq(pin).set(true);
  assert.deepEqual(log, ['intr3=1']);
  assert.deepEqual(takers(0x55), [3]);
});

test('each CPU has its own TSC-deadline timer', () => {
  const { irqs, clock, apicW, log } = setup(2);
  for (const c of [0, 1]) apicW(c, LVT_TIMER, (2 << 17) | 0xec);
  irqs.writeMsr(Msr.TSC_DEADLINE, 100n, 0);
  irqs.writeMsr(Msr.TSC_DEADLINE, 50n, 1);
  assert.equal(irqs.readMsr(Msr.TSC_DEADLINE, 0), 100n);
  clock.advanceTo(60);
  assert.deepEqual(log, ['intr1=1']);
  clock.advanceTo(100);
  assert.deepEqual(log, ['intr1=1', 'intr0=1']);
});
