// Emulation failures say what they were: an instruction set CPUID advertises
// but this CPU lacks, or a CR4 bit it does not implement, stops the run with
// the reason, the mode and RIP at the instruction; the host carries on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reg, Seg, Exit, ExitField, EmulationFailure } from '../src/backend/abi.js';
import { longModeGuest, GUEST_CODE } from './support/long-mode-guest.js';
import { assemble } from './support/asm.js';
import { testMachine } from './support/machine.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const UD = 6, GP = 13;

test('MOVBE runs into #UD while CPUID does not advertise it, and is an emulation failure once it does', async () => {
  const program = 'movbe eax, [rsp]\nhlt';
  const plain = await longModeGuest(program, { exits: [UD] });
  assert.equal(plain.vcpu.run(10), Exit.EXCEPTION);
  assert.equal(plain.vcpu.exitField(ExitField.NUMBER), BigInt(UD));

  const { vcpu } = await longModeGuest(program, { exits: [UD] });
  const leaf1 = vcpu.cpuid(1, 0);
  vcpu.updateCpuid([{ ...leaf1, ecx: leaf1.ecx | (1 << 22) }]);
  assert.equal(vcpu.run(10), Exit.EMULATION_FAILURE);
  assert.equal(vcpu.exitField(ExitField.NUMBER), BigInt(EmulationFailure.OPCODE));
  assert.equal(vcpu.getReg(Reg.RIP), BigInt(GUEST_CODE), 'RIP at the instruction');
  assert.equal(vcpu.emulationFailure(), '64-bit mode, CPL 0: opcode 0f 38 f0 (MOVBE) is not implemented, though CPUID advertises MOVBE');
  // The vCPU is still usable: the host can move the guest on.
  vcpu.setReg(Reg.RIP, BigInt(GUEST_CODE) + 5n);
  assert.equal(vcpu.run(10), Exit.HALTED);
});

test('an AVX (VEX) instruction with AVX advertised, from 32-bit user code under long mode', async () => {
  const { machine, vcpu } = await longModeGuest('hlt', { cpl: 3, exits: [UD, GP] });
  machine.ram.set([0xc5, 0xf8, 0x77, 0xf4], GUEST_CODE); // VZEROUPPER
  machine.notifyRamWritten(GUEST_CODE, 4);
  const leaf1 = vcpu.cpuid(1, 0);
  vcpu.updateCpuid([{ ...leaf1, ecx: leaf1.ecx | (1 << 28) }]);
  vcpu.setSeg(Seg.CS, { selector: 0x23, base: 0n, limit: 0xffffffff, attr: 0xcffb });
  assert.equal(vcpu.run(10), Exit.EMULATION_FAILURE);
  assert.equal(vcpu.emulationFailure(), 'compatibility mode (32-bit code), CPL 3: opcode VEX c5 (AVX) is not implemented, though CPUID advertises AVX');
});

test('a guest MOV to CR4 setting OSXSAVE (not implemented) is an emulation failure naming the bit, in any mode', async () => {
  const { vcpu } = await longModeGuest('mov rax, cr4\nbts rax, 18\nmov cr4, rax\nhlt', { exits: [GP] });
  assert.equal(vcpu.run(10), Exit.EMULATION_FAILURE);
  assert.equal(vcpu.emulationFailure(), '64-bit mode, CPL 0: MOV to CR4 setting bit 18 (OSXSAVE), which this CPU does not implement');
  assert.equal(vcpu.getReg(Reg.RIP), BigInt(GUEST_CODE) + 8n, 'at the MOV to CR4');

  // The same from 32-bit protected mode.
  const { machine, vcpu: v32 } = await testMachine();
  machine.ram.set(assemble('mov eax, cr4\nor eax, 0x400000\nmov cr4, eax\nhlt', { origin: 0x1000, bits: 32 }), 0x1000);
  v32.setReg(Reg.CR0, 0x11n);
  v32.setSeg(Seg.CS, { selector: 8, base: 0n, limit: 0xffffffff, attr: 0xc09b });
  v32.setSeg(Seg.SS, { selector: 16, base: 0n, limit: 0xffffffff, attr: 0xc093 });
  v32.setReg(Reg.RIP, 0x1000n);
  assert.equal(v32.run(10), Exit.EMULATION_FAILURE);
  assert.equal(v32.emulationFailure(), '32-bit protected mode, CPL 0: MOV to CR4 setting bit 22 (PKE), which this CPU does not implement');
});

test('a CR4 write a hypervisor completes with an unimplemented bit is reported by the next run, the MOV not retired', async () => {
  const { vcpu } = await longModeGuest('mov rax, cr4\nbts rax, 12\nmov cr4, rax\nhlt', { exits: [GP] });
  vcpu.setControls(16 /* CR4_WRITE_EXITING */);
  assert.equal(vcpu.run(10), Exit.CR_WRITE);
  const at = vcpu.getReg(Reg.RIP);
  vcpu.completeCrWrite(4, vcpu.exitField(ExitField.VALUE));
  assert.equal(vcpu.run(10), Exit.EMULATION_FAILURE);
  assert.equal(vcpu.getReg(Reg.RIP), at);
  assert.match(vcpu.emulationFailure(), /MOV to CR4 setting bit 12 \(LA57\)/);
});

test('a reserved CR4 bit is still the architectural #GP', async () => {
  const { vcpu } = await longModeGuest('mov rax, cr4\nbts rax, 15\nmov cr4, rax\nhlt', { exits: [GP] });
  assert.equal(vcpu.run(10), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), BigInt(GP));
});

test('end to end: a hypapp advertising PKU makes the kernel set CR4.PKE; the run stops with RIP, bytes, mode and reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-pke-'));
  try {
    const hypapp = join(dir, 'pke.ts');
    writeFileSync(hypapp, `import { defineHypapp } from 'xmhf-ts/hypapp';
export default defineHypapp({
  name: 'pke',
  init(x) { x.interceptCpuid(); },
  onCpuid(x, q) { return q.leaf === 7 && q.subleaf === 0 ? { ...q.result, ecx: q.result.ecx | (1 << 3) } : undefined; },
});
`);
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'bin', 'xmhf.js'), 'run', '--hypapp', hypapp, '--timeout', '120', '--exec', 'echo never'],
      { encoding: 'utf8', timeout: 150_000 });
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.stdout, /never/);
    assert.match(r.stderr, /emulation failure at RIP 0xffffffff[0-9a-f]+, instruction bytes 0f 22 [0-9a-f ]+, in 64-bit mode, CPL 0: MOV to CR4 setting bit 22 \(PKE\), which this CPU does not implement/);
    assert.doesNotMatch(r.stderr, /unreachable|    at /, 'no trap message or stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a deferred emulation failure belongs to its vCPU: another vCPU running first does not take it', async () => {
  const { createSoftwareMachine } = await import('../src/backend/software.js');
  const { testBus } = await import('./support/machine.js');
  const { enterLongMode } = await import('./support/guest64.js');
  const machine = await createSoftwareMachine({ ramSize: 32 << 20, bus: testBus(), vcpus: 2 });
  const [bsp, ap] = machine.vcpus;
  machine.ram.set(assemble('mov rax, cr4\nbts rax, 12\nmov cr4, rax\nhlt', { origin: GUEST_CODE }), GUEST_CODE);
  enterLongMode(machine, bsp, { cpl: 0, rip: BigInt(GUEST_CODE), rsp: 0x300000n });
  bsp.setControls(16 /* CR4_WRITE_EXITING */);
  assert.equal(bsp.run(10), Exit.CR_WRITE);
  bsp.completeCrWrite(4, bsp.exitField(ExitField.VALUE));
  assert.equal(ap.run(10), Exit.HALTED, 'the AP waits for SIPI, as before');
  assert.equal(bsp.run(10), Exit.EMULATION_FAILURE);
  assert.match(bsp.emulationFailure(), /bit 12 \(LA57\)/);
});
