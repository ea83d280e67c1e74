// The --exec output filter: what the command prints passes, boot messages and
// markers do not, and its cost grows linearly with the output, also when the
// output has no newlines (it was quadratic: 800 KB took minutes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExecOutputFilter } from '../src/cli/exec-output.js';
import { READY_MARKER, EXIT_MARKER } from '../src/guest/debian.js';

const encoder = new TextEncoder();

/** Feed `serial` to a filter in chunks of `chunk` bytes, as the UART delivers it. */
function filter(serial: string, chunk = 16): { out: string; status?: number } {
  let out = '', status: number | undefined;
  const f = new ExecOutputFilter((text) => { out += text; }, (s) => { status = s; });
  const bytes = encoder.encode(serial);
  for (let i = 0; i < bytes.length; i += chunk) f.push(bytes.subarray(i, i + chunk));
  return { out, status };
}

test('only the command\'s output passes: boot messages and markers are dropped, CRLF becomes LF, the status is reported', () => {
  for (const chunk of [1, 3, 64]) {
    const r = filter(`[    0.1] booting\r\n${READY_MARKER} 1.23\r\nhello\r\nwörld\r\n${EXIT_MARKER} 7\r\nreboot: Power down\r\n`, chunk);
    assert.equal(r.out, 'hello\nwörld\n', `in chunks of ${chunk} bytes`);
    assert.equal(r.status, 7);
  }
});

test('output without a final newline comes before the exit marker on its line, and is kept', () => {
  for (const chunk of [1, 4, 64]) {
    const r = filter(`${READY_MARKER} 1\r\nno newline, CR\r${EXIT_MARKER} 0\r\n`, chunk);
    assert.equal(r.out, 'no newline, CR\r', `in chunks of ${chunk} bytes`);
    assert.equal(r.status, 0);
  }
});

test('the marker text inside the output is output when it does not end the line', () => {
  for (const chunk of [1, 5, 64]) {
    const r = filter(`${READY_MARKER} 1\r\nsay ${EXIT_MARKER} 3 twice, XMHF-EX\r\n${EXIT_MARKER} 1\r\n`, chunk);
    assert.equal(r.out, `say ${EXIT_MARKER} 3 twice, XMHF-EX\n`, `in chunks of ${chunk} bytes`);
    assert.equal(r.status, 1);
  }
});

test('4 MB of output without a newline passes complete, in linear time', { timeout: 60_000 }, () => {
  const size = 4 * 1024 * 1024;
  const started = performance.now();
  const r = filter(`${READY_MARKER} 1\r\n${'x'.repeat(size)}${EXIT_MARKER} 0\r\n`, 64);
  const ms = performance.now() - started;
  assert.equal(r.out.length, size);
  assert.ok(/^x+$/.test(r.out), 'only the command\'s bytes');
  assert.equal(r.status, 0);
  console.log(`# 4 MiB without newlines in 64-byte chunks: ${ms.toFixed(0)} ms`);
});
