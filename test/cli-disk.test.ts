// --disk FILE[,ro][,snapshot]: the syntax the CLI accepts, and usage errors
// (status 2) naming the value for anything else, before a VM is started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDisk, parseDisks } from '../src/cli/disks.js';
import { UsageError } from '../src/cli/usage-error.js';

test('--disk takes a file and the options ro and snapshot after it, in any order; a file name may hold commas', () => {
  assert.deepEqual(parseDisk('a.img'), { path: 'a.img', readOnly: false, snapshot: false });
  assert.deepEqual(parseDisk('/x/a.img,ro'), { path: '/x/a.img', readOnly: true, snapshot: false });
  assert.deepEqual(parseDisk('a.img,snapshot,ro'), { path: 'a.img', readOnly: true, snapshot: true });
  assert.deepEqual(parseDisk('my,disk.img,snapshot'), { path: 'my,disk.img', readOnly: false, snapshot: true });
  assert.deepEqual(parseDisks(['a.img', 'b.img,ro']).map((d) => d.path), ['a.img', 'b.img']);
});

test('unknown options, an empty option and a missing file are usage errors naming the value', () => {
  for (const [spec, message] of [
    ['a.img,rw', /--disk a\.img,rw: unknown option "rw" \(--disk FILE\[,ro\]\[,snapshot\]\)/],
    ['a.img,snap', /unknown option "snap"/],
    ['a.img,cache=none', /unknown option "cache=none"/],
    ['a.img,', /--disk a\.img,: unknown option ""/],
    [',ro', /--disk ,ro: no file/],
    ['', /--disk : no file/],
  ] as const) {
    assert.throws(() => parseDisk(spec), (e: Error) => e instanceof UsageError && message.test(e.message), spec);
  }
});
