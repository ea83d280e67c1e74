// Hypapp answers of the wrong type stop the VM with a message naming the
// hypapp, the callback and what was expected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { checkAnswer, AnswerError } from '../src/xmhf/answers.js';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');

test('each callback\'s checker accepts what the API allows and refuses the rest with what was expected', () => {
  const refused: Array<[() => unknown, RegExp]> = [
    [() => checkAnswer.onHypercall('42'), /the string "42"; expected a bigint or an integer/],
    [() => checkAnswer.onHypercall(1.5), /the number 1.5/],
    [() => checkAnswer.onHypercall(null), /answered null/],
    [() => checkAnswer.onHypercall({}), /the object \{\}/],
    [() => checkAnswer.onHypercall(Promise.resolve(1n)), /a Promise \(callbacks must answer synchronously\)/],
    [() => checkAnswer.onCrWrite(42), /the number 42; expected 'allow', 'deny', 'skip', \{ value: bigint \}/],
    [() => checkAnswer.onCpuid(null), /null; expected \{ eax, ebx, ecx, edx \}/],
    [() => checkAnswer.onCpuid('x'), /the string "x"/],
    [() => checkAnswer.onCpuid({ eax: 1, ebx: 2, ecx: 3 }), /expected \{ eax, ebx, ecx, edx \}/],
    [() => checkAnswer.onPortIo('skip', 'in'), /expected \{ value: integer \} or undefined/],
    [() => checkAnswer.onPortIo({ value: 1n }, 'in'), /expected/],
    [() => checkAnswer.onMsr({ value: 1n }, 'write'), /expected 'allow', 'deny', 'skip' or undefined/],
    [() => checkAnswer.onMsr({ value: 1 }, 'read'), /expected/],
    [() => checkAnswer.onException('allow'), /expected 'deliver', 'suppress' or undefined/],
    [() => checkAnswer.onViolation('allow'), /expected 'allow-once'/],
    [() => checkAnswer.onViolation({ inject: { vector: 300 } }), /expected/],
    [() => checkAnswer.onMmio({ value: 'x' }), /expected/],
    [() => checkAnswer.ignored(Promise.resolve()), /a Promise/],
  ];
  for (const [call, message] of refused) assert.throws(call, (e: unknown) => e instanceof AnswerError && message.test(e.message), String(call));
  assert.equal(checkAnswer.onHypercall(42), 42);
  assert.equal(checkAnswer.onHypercall(-1n), -1n);
  assert.deepEqual(checkAnswer.onCpuid({ eax: -1, ebx: 0, ecx: 0xffffffff, edx: 1 }), { eax: -1, ebx: 0, ecx: 0xffffffff, edx: 1 });
  assert.equal(checkAnswer.onPortIo('skip', 'out'), 'skip');
  assert.deepEqual(checkAnswer.onMsr({ value: 5n }, 'read'), { value: 5n });
  assert.deepEqual(checkAnswer.onViolation({ inject: { vector: 14, errorCode: 3 } }), { inject: { vector: 14, errorCode: 3 } });
  assert.deepEqual(checkAnswer.onViolation({ setprot: 0 }), { setprot: 0 });
  assert.equal(checkAnswer.ignored(undefined), undefined);
});

test('a hypapp answering CPUID with null stops the run with exit 4 and a message naming it, instead of hanging the guest', () => {
  const r = spawnSync(process.execPath, [XMHF, 'run', '--timeout', '120', '--hypapp', join(import.meta.dirname, 'fixtures', 'wrong-answer-hypapp.ts'), '--exec', 'true'],
    { encoding: 'utf8', timeout: 150_000 });
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /hypapp wrong-answer: onCpuid answered null; expected \{ eax, ebx, ecx, edx \}/);
});
