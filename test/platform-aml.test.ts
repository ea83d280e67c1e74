// The AML encoder's building blocks, against the byte forms in ACPI 6.5 chapter 20.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buffer, eisaId, integer, name, nameString, packageOf, scope, string } from '../src/platform/aml.js';

test('integers take the smallest encoding; strings end in NUL', () => {
  assert.deepEqual(integer(0), [0x00]);
  assert.deepEqual(integer(1), [0x01]);
  assert.deepEqual(integer(0xab), [0x0a, 0xab]);
  assert.deepEqual(integer(0x1234), [0x0b, 0x34, 0x12]);
  assert.deepEqual(integer(0xfebfffff), [0x0c, 0xff, 0xff, 0xbf, 0xfe]);
  assert.deepEqual(integer(2 ** 40), [0x0e, 0, 0, 0, 0, 0, 1, 0, 0]);
  assert.throws(() => integer(-1), RangeError);
  assert.deepEqual(string('AB'), [0x0d, 0x41, 0x42, 0x00]);
});

test('name paths: root and parent prefixes, padding, dual and multi segment prefixes', () => {
  assert.deepEqual(nameString('_S5'), [0x5f, 0x53, 0x35, 0x5f]);
  assert.deepEqual(nameString('\\_SB'), [0x5c, 0x5f, 0x53, 0x42, 0x5f]);
  assert.deepEqual(nameString('\\_SB.PCI0'), [0x5c, 0x2e, ...'_SB_PCI0'].map((c) => (typeof c === 'string' ? c.charCodeAt(0) : c)));
  assert.deepEqual(nameString('A.B.C').slice(0, 2), [0x2f, 3]);
  assert.deepEqual(nameString('\\'), [0x5c, 0x00]);
  assert.throws(() => nameString('lower'), RangeError);
});

test('package lengths use one, two or three bytes as the contents grow', () => {
  const body = (n: number) => scope('X', [new Array(n).fill(0xa3)]);
  assert.deepEqual(body(10).slice(0, 2), [0x10, 1 + 4 + 10]);
  const two = body(100); // 1 + 4 + 100 + 1 length byte = 106 with two length bytes
  assert.deepEqual(two.slice(0, 3), [0x10, 0x40 | (106 & 0xf), 106 >> 4]);
  const three = body(5000); // 4 + 5000 + 3 = 5007
  assert.deepEqual(three.slice(0, 4), [0x10, 0x80 | (5007 & 0xf), (5007 >> 4) & 0xff, 5007 >> 12]);
  assert.equal(three.length, 1 + 5007);
});

test('packages, buffers, names and EISA ids', () => {
  assert.deepEqual(packageOf([integer(5), integer(0)]), [0x12, 0x05, 0x02, 0x0a, 0x05, 0x00]);
  assert.deepEqual(buffer([1, 2]), [0x11, 0x05, 0x0a, 0x02, 1, 2]);
  assert.deepEqual(name('_UID', integer(0)), [0x08, 0x5f, 0x55, 0x49, 0x44, 0x00]);
  assert.deepEqual(eisaId('PNP0A03'), [0x0c, 0x41, 0xd0, 0x0a, 0x03]); // iasl's encoding of EisaId("PNP0A03")
});
