// Debug registers and single-step: the events a debugger or a tracing hypapp is built on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reg, Exit, ExitField } from '../src/backend/abi.js';
import { longModeGuest, GUEST_CODE } from './support/long-mode-guest.js';

const CODE = GUEST_CODE, DATA = 0x200000;

const guest = (source: string) => longModeGuest(source, { exits: [1, 6] });

test('an instruction breakpoint faults before the instruction, and RF lets it run on resume', async () => {
  const { vcpu } = await guest('mov eax, 1\nmov ebx, 2\nmov ecx, 3\nud2');
  vcpu.setReg(Reg.DR0, BigInt(CODE + 5));
  vcpu.setReg(Reg.DR7, 0x1n); // L0, execute, length 1
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 1n);
  assert.equal(vcpu.getReg(Reg.RIP), BigInt(CODE + 5));
  assert.equal(vcpu.getReg(Reg.RBX), 0n, 'the instruction has not run');
  assert.equal(vcpu.getReg(Reg.DR6) & 0xfn, 1n, 'DR6.B0');
  vcpu.setReg(Reg.RFLAGS, vcpu.getReg(Reg.RFLAGS) | 0x10000n); // RF, as a debugger resumes
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 6n, 'ran on to the UD2');
  assert.equal(vcpu.getReg(Reg.RCX), 3n);
});

test('a write watchpoint traps after the writing instruction; reads do not trigger it', async () => {
  const { vcpu } = await guest(`mov rax, [${DATA + 8}]\nmov dword ptr [${DATA + 8}], 5\nmov ebx, 7\nud2`);
  vcpu.setReg(Reg.DR1, BigInt(DATA + 8));
  vcpu.setReg(Reg.DR7, (0x4n) | (0x1n << 20n) | (0x3n << 22n)); // L1, write, 4 bytes
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 1n);
  assert.equal(vcpu.getReg(Reg.RIP), BigInt(CODE + 8 + 11), 'trap: RIP after the store');
  assert.equal(vcpu.getReg(Reg.DR6) & 0xfn, 2n, 'DR6.B1');
  assert.equal(vcpu.getReg(Reg.RBX), 0n);
});

test('TF single-steps one instruction at a time', async () => {
  const { vcpu } = await guest('mov eax, 1\nmov ebx, 2\nud2');
  vcpu.setReg(Reg.RFLAGS, 0x102n);
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 1n);
  assert.equal(vcpu.getReg(Reg.RAX), 1n);
  assert.equal(vcpu.getReg(Reg.RBX), 0n);
  assert.equal(vcpu.getReg(Reg.DR6) & 0x4000n, 0x4000n, 'DR6.BS');
});
