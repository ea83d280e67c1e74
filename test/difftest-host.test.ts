// The differential tester knows its host: it reads CPUID natively and
// compares results the architecture leaves to the implementation only where
// the host's CPUID says how that host behaves.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assumeHost, hostCpu, nativeCpuid, traitsFromCpuid, x87PointerRule, type HostCpu, type HostTrait } from '../tools/difftest/host.js';
import { compareOutcomes } from '../tools/difftest/compare.js';
import { CODE_BASE, DATA_SIZE, type Outcome, type TestCase } from '../tools/difftest/layout.js';

const isX86Linux = process.arch === 'x64' && process.platform === 'linux';
const str4 = (s: string) => s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24);
const vendorLeaf = (v: string) => ({ eax: 0x20, ebx: str4(v.slice(0, 4)), edx: str4(v.slice(4, 8)), ecx: str4(v.slice(8, 12)) });
const none = { eax: 0, ebx: 0, ecx: 0, edx: 0 };

after(() => assumeHost(undefined));

test('traits from CPUID: a Sapphire Rapids-class Intel, an EPYC', () => {
  // Leaf 7: EBX bits 6 (FDP_EXCPTN_ONLY) and 13 (FCS/FDS deprecated), EDX bit 4 (FSRM); subleaf 1 EAX bits 10-12.
  const spr = traitsFromCpuid(vendorLeaf('GenuineIntel'), { eax: 2, ebx: (1 << 6) | (1 << 13), ecx: 0, edx: 1 << 4 }, { eax: 7 << 10, ebx: 0, ecx: 0, edx: 0 });
  assert.equal(spr.vendor, 'GenuineIntel');
  assert.deepEqual([...spr.traits].sort(), ['fast-short-rep', 'intel', 'x87-pointers-zeroed']);
  const epyc = traitsFromCpuid(vendorLeaf('AuthenticAMD'), { eax: 1, ebx: 1 << 9, ecx: 0, edx: 0 }, none);
  assert.equal(epyc.vendor, 'AuthenticAMD');
  assert.deepEqual([...epyc.traits], []);
  assert.deepEqual([...traitsFromCpuid(vendorLeaf('GenuineIntel'), none, { eax: 1 << 11, ebx: 0, ecx: 0, edx: 0 }).traits].sort(), ['fast-short-rep', 'intel']);
});

test('the host\'s CPUID is read by executing CPUID natively; its vendor is the one Linux reports', { skip: !isX86Linux && 'needs an x86-64 Linux host' }, () => {
  const [leaf0] = nativeCpuid([[0, 0]]);
  assert.ok(leaf0.eax >= 1, 'a highest basic leaf');
  const reported = /^vendor_id\s*:\s*(\S+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  assert.equal(hostCpu().vendor, reported);
});

/** A one-instruction case and the two outcomes, differing as `change` says. */
function outcomes(change: (native: Outcome, ours: Outcome) => void): { tc: TestCase; native: Outcome; ours: Outcome } {
  const gpr = Array.from({ length: 16 }, () => 0n);
  const state = () => ({ gpr: [...gpr], rip: BigInt(CODE_BASE) + 4n, rflags: 0x202n, xmm: new Uint8Array(256), mxcsr: 0x1f80 });
  const native: Outcome = { vector: 6, errorCode: 0n, faultAddr: 0n, state: state(), memChanges: [] };
  const ours: Outcome = { vector: 6, errorCode: 0n, faultAddr: 0n, state: state(), memChanges: [] };
  change(native, ours);
  const tc: TestCase = {
    id: 0, category: 'rules', insns: ['x'], code: new Uint8Array(4), insnEnds: [2],
    init: { ...state(), rip: BigInt(CODE_BASE) }, patches: [], undefinedFlags: 0, undefinedRegs: 0,
  };
  return { tc, native, ours };
}

const host = (...traits: HostTrait[]): HostCpu => ({ vendor: 'test', traits: new Set(traits) });
const pattern = new Uint8Array(DATA_SIZE);

test('fast short REP: the upper halves of RCX/RSI/RDI are compared only on hosts without it', () => {
  const upper = 0xffffffff00000000n;
  const { tc, native, ours } = outcomes((n, o) => { n.state.gpr[1] = 0n; o.state.gpr[1] = 0x1234_5678_0000_0000n; });
  tc.hostRules = [{ when: 'fast-short-rep', ignore: { regBits: [[1, upper], [6, upper], [7, upper]] } }];
  assumeHost(host('fast-short-rep'));
  assert.deepEqual(compareOutcomes(tc, pattern, native, ours), []);
  assumeHost(host());
  assert.deepEqual(compareOutcomes(tc, pattern, native, ours).map((d) => d.what), ['rcx']);
  // The low half is compared on every host.
  ours.state.gpr[1] = 5n;
  assumeHost(host('fast-short-rep'));
  assert.deepEqual(compareOutcomes(tc, pattern, native, ours).map((d) => d.what), ['rcx (bits 0x00000000ffffffff)']);
});

test('Intel\'s undefined SHLD results are compared only on Intel hosts', () => {
  const { tc, native, ours } = outcomes((n, o) => { n.state.gpr[0] = 0x6781n; o.state.gpr[0] = 0x2345n; });
  tc.undefinedRegs = 1;
  tc.undefinedFlags = 0x8d5;
  tc.hostRules = [{ when: 'intel', compare: { regs: 1, flags: 0x8c5 } }];
  assumeHost(host());
  assert.deepEqual(compareOutcomes(tc, pattern, native, ours), []);
  assumeHost(host('intel'));
  assert.deepEqual(compareOutcomes(tc, pattern, native, ours).map((d) => d.what), ['rax']);
});

test('FNSTENV pointer fields are compared only on hosts that store them', () => {
  const image = (fill: number) => Uint8Array.from({ length: 28 }, (_, i) => (i >= 12 && i < 18) || (i >= 20 && i < 26) ? fill : 0x11);
  const { tc, native, ours } = outcomes((n, o) => {
    n.memChanges = [{ offset: 0x200, bytes: image(0) }];
    o.memChanges = [{ offset: 0x200, bytes: image(0x77) }];
  });
  tc.hostRules = [x87PointerRule(0x200, 32)];
  assumeHost(host('x87-pointers-zeroed'));
  assert.deepEqual(compareOutcomes(tc, pattern, native, ours), []);
  assumeHost(host());
  assert.equal(compareOutcomes(tc, pattern, native, ours).length, 2, 'FIP+FCS and FDP+FDS differ');
  // FOP (bytes 18-19) stays compared.
  ours.memChanges[0].bytes[18] = 0x99;
  assumeHost(host('x87-pointers-zeroed'));
  assert.equal(compareOutcomes(tc, pattern, native, ours).length, 1);
});
