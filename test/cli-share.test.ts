// --share's value: HOSTDIR[:TAG][,ro], the default tag, and what is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseShare, parseShares, defaultTag } from '../src/cli/shares.js';
import { UsageError } from '../src/cli/usage-error.js';

test('HOSTDIR, HOSTDIR:TAG, HOSTDIR,ro and HOSTDIR:TAG,ro', () => {
  const base = mkdtempSync(join(tmpdir(), 'xmhf-share-'));
  const dir = join(base, 'my samples');
  mkdirSync(dir);
  try {
    assert.deepEqual(parseShare(dir), { hostDir: dir, tag: 'my_samples', readOnly: false });
    assert.deepEqual(parseShare(`${dir}:s`), { hostDir: dir, tag: 's', readOnly: false });
    assert.deepEqual(parseShare(`${dir},ro`), { hostDir: dir, tag: 'my_samples', readOnly: true });
    assert.deepEqual(parseShare(`${dir}:s,ro`), { hostDir: dir, tag: 's', readOnly: true });
    assert.deepEqual(parseShares([`${dir}:a`, `${dir}:b`]).map((s) => s.tag), ['a', 'b']);
    assert.throws(() => parseShares([dir, dir]), (e: Error) => e instanceof UsageError && /already used/.test(e.message));
    assert.throws(() => parseShare(`${dir}:`), UsageError);
    assert.throws(() => parseShare(`${dir}:${'t'.repeat(65)}`), /not 1 to 64/);
    assert.throws(() => parseShare(':s'), /no directory/);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('the default tag is the base name made safe for a mount source and a /mnt entry', () => {
  assert.equal(defaultTag('/home/me/data-2024.v1'), 'data-2024.v1');
  assert.equal(defaultTag('/tmp/a b$c'), 'a_b_c');
  assert.equal(defaultTag('/'), 'share');
  assert.equal(defaultTag('/x/' + 'y'.repeat(100)).length, 64);
});
