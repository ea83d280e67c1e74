// Fetching i386 packages: on a host without the i386 architecture the fetch
// says what to run instead of failing inside apt, and an unpacked package in
// the cache is used without asking apt again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchI386Package, i386ArchitectureMissing, i386Busybox } from '../src/guest/i386.js';

/** Run `body` with XMHF_CACHE at a fresh directory and, first on PATH, a dpkg that reports no foreign architectures. */
function withoutI386<T>(body: (cache: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-i386-'));
  const saved = { PATH: process.env.PATH, XMHF_CACHE: process.env.XMHF_CACHE };
  try {
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin', 'dpkg'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, 'bin', 'dpkg'), 0o755);
    process.env.PATH = `${join(dir, 'bin')}:${saved.PATH}`;
    process.env.XMHF_CACHE = join(dir, 'cache');
    return body(join(dir, 'cache'));
  } finally {
    process.env.PATH = saved.PATH;
    if (saved.XMHF_CACHE === undefined) delete process.env.XMHF_CACHE; else process.env.XMHF_CACHE = saved.XMHF_CACHE;
    rmSync(dir, { recursive: true, force: true });
  }
}

test('without the i386 architecture, fetching says how to configure it', () => {
  withoutI386(() => {
    assert.match(i386ArchitectureMissing() ?? '', /dpkg --add-architecture i386 && apt-get update/);
    assert.throws(() => i386Busybox(), /cannot fetch busybox-static:i386: the i386 architecture is not configured/);
  });
});

test('a package already unpacked in the cache is used as it is, with or without apt', () => {
  withoutI386((cache) => {
    const unpacked = join(cache, 'packages-i386', 'busybox-static.d');
    mkdirSync(join(unpacked, 'bin'), { recursive: true });
    writeFileSync(join(unpacked, 'bin', 'busybox'), 'cached busybox');
    writeFileSync(join(unpacked, '.done'), 'busybox-static_1_i386.deb\n');
    assert.equal(fetchI386Package('busybox-static'), unpacked);
    assert.equal(Buffer.from(i386Busybox()).toString(), 'cached busybox');
  });
});
