// The ACPI PM block: always in ACPI mode, and S5 powers the machine off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcpiPm } from '../src/platform/acpi-pm.js';
import { PM1A_CNT_PORT, PM1A_EVT_PORT } from '../src/platform/acpi.js';

test('writing SLP_TYP 5 with SLP_EN to PM1a control powers off; other sleep types do not', () => {
  let off = 0;
  const pm = new AcpiPm(() => off++);
  assert.equal(pm.ioRead(PM1A_CNT_PORT, 2) & 1, 1, 'SCI_EN: already in ACPI mode');
  pm.ioWrite(PM1A_CNT_PORT, 2, (3 << 10) | (1 << 13));
  assert.equal(off, 0, 'S3 is not power-off');
  pm.ioWrite(PM1A_CNT_PORT, 2, (5 << 10) | (1 << 13) | 1); // what Linux's acpi_hw_legacy_sleep writes for S5
  assert.equal(off, 1);
  assert.equal(pm.ioRead(PM1A_CNT_PORT, 2) & (1 << 13), 0, 'SLP_EN reads as zero');
});

test('a power-button press sets its status bit and raises the SCI only while enabled', () => {
  const sci: boolean[] = [];
  const pm = new AcpiPm(() => {}, { set: (level) => sci.push(level) });
  pm.pressPowerButton();
  assert.equal(pm.ioRead(PM1A_EVT_PORT, 2) & 0x100, 0x100, 'PWRBTN_STS');
  assert.equal(sci.at(-1), false, 'not enabled: no SCI');
  pm.ioWrite(PM1A_EVT_PORT + 2, 2, 0x0100);
  assert.equal(pm.ioRead(PM1A_EVT_PORT, 4) >>> 16, 0x0100, 'PWRBTN_EN reads back');
  assert.equal(sci.at(-1), true, 'enabling raises the SCI');
  pm.ioWrite(PM1A_EVT_PORT, 2, 0x0100);
  assert.equal(pm.ioRead(PM1A_EVT_PORT, 2) & 0x100, 0, 'write-one-to-clear');
  assert.equal(sci.at(-1), false, 'and the SCI drops');
});
