// The decoded-block cache: code changed by the guest or the host is decoded
// again, blocks decoded in one code size are not reused in another, and the
// instruction count and budget stay exact across blocks left midway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reg, Seg, Exit, ExitField } from '../src/backend/abi.js';
import { assemble } from './support/asm.js';
import { longModeGuest, GUEST_CODE } from './support/long-mode-guest.js';

const CODE = GUEST_CODE, DATA = 0x200000;

const guest = (source: string) => longModeGuest(source, { exits: [6, 14] });

for (const store of ['mov byte ptr [rax + 1], 7', 'mov ecx, 7\n  mov dword ptr [rax + 1], ecx']) {
  test(`a store to the very next instruction takes effect (${store.split('\n')[0]})`, async () => {
    const { vcpu } = await guest(`
      lea rax, [rip + target]
      ${store}
    target:
      mov ebx, 1
      ud2`);
    // Run the code once unchanged first, so its block is cached, then patch on the second pass.
    assert.equal(vcpu.run(1000), Exit.EXCEPTION);
    assert.equal(vcpu.getReg(Reg.RBX), 7n);
  });
}

test('a loop that patches its own body sees each new version', async () => {
  const { vcpu } = await guest(`
    xor ebx, ebx
    mov ecx, 5
    lea rdx, [rip + body]
  1:
  body:
    add ebx, 1
    inc byte ptr [rdx + 2]
    dec ecx
    jnz 1b
    ud2`);
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RBX), 1n + 2n + 3n + 4n + 5n);
});

test('code the host rewrites between runs is decoded again', async () => {
  const { machine, vcpu } = await guest('mov ebx, 1\nud2');
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RBX), 1n);
  machine.ram.set(assemble('mov ebx, 2\nud2', { origin: CODE }), CODE);
  machine.notifyRamWritten(CODE, 16);
  vcpu.setReg(Reg.RIP, BigInt(CODE));
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RBX), 2n);
});

test('the same bytes run as 64-bit code, then as 32-bit compatibility-mode code', async () => {
  // 48 89 c3: MOV RBX, RAX in 64-bit mode; DEC EAX then MOV EBX, EAX in 32-bit code.
  const { machine, vcpu } = await guest('');
  machine.ram.set([0x48, 0x89, 0xc3, 0x0f, 0x0b], CODE);
  vcpu.setReg(Reg.RAX, 10n);
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RBX), 10n);
  vcpu.setSeg(Seg.CS, { selector: 0x10, base: 0n, limit: 0xffffffff, attr: 0xcf9b }); // D=1, L=0
  vcpu.setReg(Reg.RIP, BigInt(CODE));
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.getReg(Reg.RBX), 9n);
});

test('the budget is exact in instructions, and a fault midway through a block counts only what retired', async () => {
  const body = Array.from({ length: 40 }, (_, i) => `add eax, ${i + 1}`).join('\n');
  const { vcpu } = await guest(`${body}\nmov rcx, 0x7fff00000000
mov rbx, [rcx]\nud2`);
  let runs = 0;
  for (const step of [1, 2, 3, 5, 7, 11]) {
    const before = vcpu.getReg(Reg.INSTRET);
    assert.equal(vcpu.run(step), Exit.BUDGET);
    assert.equal(vcpu.getReg(Reg.INSTRET) - before, BigInt(step));
    runs += step;
  }
  let sum = 0;
  for (let i = 1; i <= runs; i++) sum += i;
  assert.equal(vcpu.getReg(Reg.RAX), BigInt(sum));
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 14n);
  assert.equal(vcpu.getReg(Reg.INSTRET), 41n, 'the faulting load did not retire');
  assert.equal(vcpu.getReg(Reg.RAX), BigInt((40 * 41) / 2));
});

test('an instruction that crosses into the next page runs between blocks', async () => {
  const { machine, vcpu } = await guest('');
  // MOV RBX, imm64 (10 bytes) starting 4 bytes before a page boundary, then UD2.
  const at = DATA - 4;
  machine.ram.set([0x48, 0xbb, 1, 2, 3, 4, 5, 6, 7, 8, 0x0f, 0x0b], at);
  machine.ram.set(assemble(`mov eax, 1\njmp ${'0x' + at.toString(16)}`, { origin: CODE }), CODE);
  assert.equal(vcpu.run(100), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 6n);
  assert.equal(vcpu.getReg(Reg.RBX), 0x0807060504030201n);
  assert.equal(vcpu.getReg(Reg.RIP), BigInt(DATA + 6));
});

test('a rotate whose flags a later instruction overwrites still shows them at a fault, an exit or a budget stop in between', async () => {
  // ROL EAX, 1 of 0x80000000 sets CF and OF; ADD later overwrites both.
  const { vcpu } = await guest(`
    mov eax, 0x80000000
    xor edx, edx
    rol eax, 1
    mov rcx, 0x7fff00000000
    mov ebx, [rcx]
    add edx, 1
    ud2`);
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(vcpu.exitField(ExitField.NUMBER), 14n);
  assert.equal(vcpu.getReg(Reg.RFLAGS) & 0x801n, 0x801n, 'CF and OF from the rotate at the fault');

  const t = await guest('mov eax, 0x80000000\nxor edx, edx\nrol eax, 1\nadd edx, 1\nud2');
  assert.equal(t.vcpu.run(3), Exit.BUDGET);
  assert.equal(t.vcpu.getReg(Reg.RFLAGS) & 0x801n, 0x801n, 'CF and OF from the rotate after a budget stop');
  assert.equal(t.vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(t.vcpu.getReg(Reg.RFLAGS) & 0x8d5n, 0n, 'then ADD of 0 + 1 clears CF, OF, ZF, SF, PF... (PF: 1 has odd parity)');
});

test('the platform sees the exact instruction count from inside an MMIO access in the middle of a block', async () => {
  const { vcpu, bus } = await guest('nop\nnop\nnop\nmov rcx, 0xfee00000\nmov eax, [rcx]\nnop\nud2');
  let seen = -1n;
  bus.mmioRead = () => { seen = vcpu.getReg(Reg.INSTRET); return 0x1234; };
  assert.equal(vcpu.run(1000), Exit.EXCEPTION);
  assert.equal(seen, 4n, 'four instructions retired before the load');
  assert.equal(vcpu.getReg(Reg.RAX), 0x1234n);
});
