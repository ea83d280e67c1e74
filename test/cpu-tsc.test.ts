// The TSC as a guest reads it: from the platform's clock when the backend is
// given one (else retired instructions), moved by writes to the TSC and to
// IA32_TSC_ADJUST as the SDM describes; and the CPUID bits that describe it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reg, Exit } from '../src/backend/abi.js';
import { createSoftwareMachine } from '../src/backend/software.js';
import { assemble } from './support/asm.js';
import { testBus } from './support/machine.js';
import { enterLongMode } from './support/guest64.js';

const CODE = 0x100000;

async function guest(source: string, tsc?: () => number) {
  const machine = await createSoftwareMachine({ ramSize: 32 << 20, bus: testBus(), tsc });
  const vcpu = machine.vcpus[0];
  machine.ram.set(assemble(source, { origin: CODE }), CODE);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(CODE), rsp: 0x300000n });
  vcpu.setExceptionBitmap(1 << 6); // the programs end in UD2
  return { machine, vcpu };
}

const rdtscInto = (reg: string) => `rdtsc\nshl rdx, 32\nor rax, rdx\nmov ${reg}, rax\n`;

test('with a platform clock, RDTSC and RDMSR 0x10 read it (plus the offset the guest wrote)', async () => {
  let now = 5_000_000;
  const { vcpu } = await guest(`${rdtscInto('r8')}mov ecx, 0x10\nrdmsr\nshl rdx, 32\nor rax, rdx\nmov r9, rax\n` +
    `mov ecx, 0x10\nxor edx, edx\nmov eax, 1000\nwrmsr\n${rdtscInto('r10')}ud2`, () => now++);
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  const [r8, r9, r10] = [vcpu.getReg(Reg.R8), vcpu.getReg(Reg.R9), vcpu.getReg(Reg.R10)];
  assert.ok(r8 >= 5_000_000n && r8 < 5_000_010n, `RDTSC read the clock (${r8})`);
  assert.ok(r9 > r8 && r9 < 5_000_010n, `RDMSR 0x10 too, later (${r9})`);
  assert.ok(r10 >= 1000n && r10 < 1010n, `after writing 1000 the TSC counts on from there (${r10})`);
});

test('without a platform clock the TSC counts retired instructions', async () => {
  const { vcpu } = await guest(`${rdtscInto('r8')}nop\nnop\n${rdtscInto('r9')}ud2`);
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.R9) - vcpu.getReg(Reg.R8), 6n, 'the first RDTSC, three instructions of bookkeeping and two NOPs retired in between');
});

test('IA32_TSC_ADJUST: writing it moves the TSC by the change; writing the TSC moves it by the same amount', async () => {
  const now = 1_000_000;
  const { vcpu } = await guest(
    'mov ecx, 0x3b\nxor edx, edx\nmov eax, 500\nwrmsr\n' + rdtscInto('r8') +
    'mov ecx, 0x10\nxor edx, edx\nmov eax, 2000000\nwrmsr\nmov ecx, 0x3b\nrdmsr\nmov r9, rax\nud2', () => now);
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.R8), 1_000_500n, 'TSC = clock + TSC_ADJUST');
  assert.equal(vcpu.getReg(Reg.R9), 1_000_000n, 'the TSC write added its jump (2,000,000 - 1,000,500) to TSC_ADJUST');
});

test('CPUID advertises TSC-deadline, ARAT, the invariant TSC and TSC_ADJUST; updateCpuid adds leaves and keeps the rest', async () => {
  const t = await guest('mov eax, 1\ncpuid\nmov r8, rcx\nmov eax, 6\ncpuid\nmov r9, rax\nmov eax, 0x80000007\ncpuid\nmov r10, rdx\n' +
    'mov eax, 7\nxor ecx, ecx\ncpuid\nmov r11, rbx\nmov eax, 0x40000000\ncpuid\nmov r12, rbx\nmov eax, 0\ncpuid\nmov r13, rbx\nud2');
  t.vcpu.updateCpuid([{ leaf: 0x40000000, eax: 0x40000001, ebx: 0x12345678, ecx: 0, edx: 0 }]);
  assert.equal(t.vcpu.run(1000), Exit.EXCEPTION);
  assert.ok(t.vcpu.getReg(Reg.R8) & (1n << 24n), 'leaf 1 ECX.24 TSC-deadline');
  assert.ok(t.vcpu.getReg(Reg.R9) & (1n << 2n), 'leaf 6 EAX.2 ARAT');
  assert.ok(t.vcpu.getReg(Reg.R10) & (1n << 8n), 'leaf 0x80000007 EDX.8 invariant TSC');
  assert.ok(t.vcpu.getReg(Reg.R11) & (1n << 1n), 'leaf 7 EBX.1 TSC_ADJUST');
  assert.equal(t.vcpu.getReg(Reg.R12), 0x12345678n, 'the added leaf');
  assert.equal(t.vcpu.getReg(Reg.R13), 0x68747541n, 'leaf 0 still says "Auth"');
});
