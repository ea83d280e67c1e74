// xmhf run --exec's standard output: a megabyte without a newline arrives
// complete (the filter was quadratic: 800 KB took minutes), and a reader that
// goes away (| head -1) ends the run quietly with status 141, as a shell
// reports a command SIGPIPE ended, instead of a Node stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');

test('a megabyte of output without a newline arrives complete', () => {
  const size = 1_000_000;
  const started = performance.now();
  const r = spawnSync(process.execPath, [XMHF, 'run', '--timeout', '240', '--exec', `head -c ${size} /dev/zero | tr '\\0' x`], {
    encoding: 'utf8', timeout: 270_000, maxBuffer: 16 << 20,
  });
  assert.equal(r.status, 0, `status ${r.status}; stderr: ${r.stderr}`);
  assert.equal(r.stdout.length, size);
  assert.match(r.stdout, /^x+$/);
  console.log(`# ${size} bytes without a newline: ${((performance.now() - started) / 1000).toFixed(1)} s`);
});

test('when the reader of the output goes away, the run ends quietly with status 141', async () => {
  const child = spawn(process.execPath, [XMHF, 'run', '--timeout', '150', '--exec', 'seq 1 20000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '', first = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    first += s;
    if (first.includes('\n')) child.stdout.destroy(); // as head -1 does
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  assert.equal(first.split('\n')[0], '1');
  assert.equal(status, 141, `stderr: ${stderr}`);
  assert.equal(stderr, '', 'no message, no stack trace');
});
