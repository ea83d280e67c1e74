// Checks a hypapp's answer against what its callback may return. Hypapps are
// plain JavaScript at run time: a typo'd verdict, a Promise from an async
// handler or a float where a register value belongs must stop the VM with a
// message naming the hypapp, the callback and what was expected, never
// corrupt the guest (a null CPUID answer once zeroed every leaf and hung it).
import type {
  HypercallResult, PortIoResult, MmioResult, CpuidResult, MsrResult, CrWriteResult, ExceptionResult, ViolationResult,
} from '../hypapp/api.js';

/** What a callback answered does not fit its type: the hub stops the VM with this message. */
export class AnswerError extends Error {}

/** Every callback's answer checker, by callback name. Each returns the answer with its type, or throws AnswerError. */
export const checkAnswer = {
  onHypercall(r: unknown): HypercallResult {
    if (r === undefined || typeof r === 'bigint') return r;
    if (typeof r === 'number' && Number.isSafeInteger(r)) return r;
    return wrong(r, 'a bigint or an integer (the guest\'s RAX), or undefined to pass the call on');
  },
  onPortIo(r: unknown, direction: 'in' | 'out'): PortIoResult {
    if (r === undefined) return r;
    if (r === 'skip' && direction === 'out') return r;
    if (isValue(r, 'number')) return r;
    return wrong(r, direction === 'in' ? '{ value: integer } or undefined' : "{ value: integer }, 'skip' or undefined");
  },
  onMmio(r: unknown): MmioResult {
    if (r === undefined || r === 'skip' || isValue(r, 'number')) return r as MmioResult;
    return wrong(r, "{ value: integer }, 'skip' or undefined");
  },
  onCpuid(r: unknown): CpuidResult {
    if (r === undefined) return r;
    if (isObject(r) && (['eax', 'ebx', 'ecx', 'edx'] as const).every((k) => isUint32(r[k]))) {
      return { eax: r.eax as number, ebx: r.ebx as number, ecx: r.ecx as number, edx: r.edx as number };
    }
    return wrong(r, '{ eax, ebx, ecx, edx } of 32-bit integers, or undefined for the usual answer');
  },
  onMsr(r: unknown, direction: 'read' | 'write'): MsrResult {
    if (r === undefined || r === 'allow' || r === 'deny' || r === 'skip') return r;
    if (direction === 'read' && isValue(r, 'bigint')) return r;
    return wrong(r, direction === 'read' ? "'allow', 'deny', 'skip', { value: bigint } or undefined" : "'allow', 'deny', 'skip' or undefined");
  },
  onCrWrite(r: unknown): CrWriteResult {
    if (r === undefined || r === 'allow' || r === 'deny' || r === 'skip' || isValue(r, 'bigint')) return r as CrWriteResult;
    return wrong(r, "'allow', 'deny', 'skip', { value: bigint } or undefined");
  },
  onException(r: unknown): ExceptionResult {
    if (r === undefined || r === 'deliver' || r === 'suppress') return r;
    return wrong(r, "'deliver', 'suppress' or undefined");
  },
  onViolation(r: unknown): ViolationResult {
    if (r === undefined || r === 'allow-once' || r === 'skip') return r;
    if (isObject(r)) {
      if (typeof r.stop === 'string') return { stop: r.stop };
      if (Number.isInteger(r.setprot)) return { setprot: r.setprot as number };
      const inject = r.inject;
      if (isObject(inject) && Number.isInteger(inject.vector) && (inject.vector as number) >= 0 && (inject.vector as number) < 32
        && (inject.errorCode === undefined || isUint32(inject.errorCode))) {
        return { inject: { vector: inject.vector as number, errorCode: inject.errorCode as number | undefined } };
      }
    }
    return wrong(r, "'allow-once', 'skip', { setprot }, { inject: { vector, errorCode? } }, { stop } or undefined");
  },
  /** Callbacks whose answer the core ignores: only a Promise (an async handler) is wrong, its work would run later. */
  ignored(r: unknown): void {
    if (isThenable(r)) wrong(r, 'nothing (callbacks run synchronously while the guest waits; an async handler finishes too late)');
  },
};

function wrong(r: unknown, expected: string): never {
  throw new AnswerError(`answered ${describe(r)}; expected ${expected}`);
}

/** The answer as a person reads it in an error message. */
export function describe(r: unknown): string {
  if (isThenable(r)) return 'a Promise (callbacks must answer synchronously)';
  if (r === null) return 'null';
  if (typeof r === 'string') return `the string ${JSON.stringify(r.length > 40 ? `${r.slice(0, 40)}...` : r)}`;
  if (typeof r === 'number') return `the number ${r}`;
  if (typeof r === 'bigint') return `the bigint ${r}`;
  if (typeof r === 'object') {
    let text: string;
    try { text = JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)); } catch { text = '[object]'; }
    return `the object ${text.length > 60 ? `${text.slice(0, 60)}...` : text}`;
  }
  return `a ${typeof r}`;
}

function isObject(r: unknown): r is Record<string, unknown> {
  return typeof r === 'object' && r !== null;
}

function isThenable(r: unknown): boolean {
  return isObject(r) && typeof r.then === 'function';
}

function isUint32(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 32;
}

function isValue(r: unknown, type: 'number' | 'bigint'): r is { value: never } {
  if (!isObject(r) || isThenable(r)) return false;
  return type === 'number' ? isUint32(r.value) : typeof r.value === 'bigint';
}
