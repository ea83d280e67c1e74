// Benchmark workloads: 64-bit code that returns a checksum in EAX, so both
// machines can be checked to have computed the same thing.

/** `source` has an outer repeat count {{N}}; instructions grow linearly with it. */
export interface Workload { name: string; kind: string; source: string; n: number }

export function withRepeats(w: Workload, n: number): string { return w.source.replaceAll('{{N}}', String(n)); }

export const workloads: Workload[] = [
  {
    name: 'integer',
    kind: 'register arithmetic, multiply, shifts, compare-and-branch (xorshift + mix)',
    n: 40,
    source: `
workload:
  mov rax, 0x9e3779b97f4a7c15
  mov rcx, {{N}}00000
  xor r8, r8
1:
  mov rdx, rax
  shl rdx, 13
  xor rax, rdx
  mov rdx, rax
  shr rdx, 7
  xor rax, rdx
  mov rdx, rax
  shl rdx, 17
  xor rax, rdx
  imul r9, rax, 31
  add r8, r9
  cmp r9, r8
  jb 2f
  sub r8, 3
2:
  dec rcx
  jnz 1b
  mov rax, r8
  shr rax, 32
  xor eax, r8d
  ret`,
  },
  {
    name: 'memory',
    kind: 'loads and stores over 4 MiB: fill, strided read-modify-write, sum',
    n: 8,
    source: `
workload:
  mov r10, {{N}}
3:
  mov rdi, 0x1000000
  mov rcx, 524288
  mov rax, r10
1:
  mov [rdi], rax
  add rax, 0x1234567
  add rdi, 8
  dec rcx
  jnz 1b
  mov rdi, 0x1000000
  mov rcx, 65536
2:
  mov rax, [rdi]
  add rax, [rdi + 8]
  mov [rdi + 16], rax
  xor [rdi + 24], eax
  add rdi, 64
  dec rcx
  jnz 2b
  dec r10
  jnz 3b
  mov rsi, 0x1000000
  mov rcx, 524288
  xor eax, eax
4:
  add rax, [rsi]
  add rsi, 8
  dec rcx
  jnz 4b
  ret`,
  },
  {
    name: 'kernel-like',
    kind: 'calls, stack frames, pointer chasing through a linked list, byte loads, conditional moves',
    n: 40,
    source: `
/* build a 64k-node list, then walk it repeatedly calling a small function per node */
workload:
  push rbx
  push r12
  mov rdi, 0x2000000
  mov rcx, 65536
  mov rax, 12345
1:
  imul rax, rax, 1103515245
  add rax, 12345
  lea rdx, [rdi + 32]
  mov [rdi], rdx
  mov [rdi + 8], rax
  mov byte ptr [rdi + 16], al
  mov rdi, rdx
  dec rcx
  jnz 1b
  mov qword ptr [rdi - 32], 0
  xor r12, r12
  mov rbx, {{N}}
2:
  mov rdi, 0x2000000
3:
  call visit
  mov rdi, [rdi]
  test rdi, rdi
  jnz 3b
  dec rbx
  jnz 2b
  mov eax, r12d
  pop r12
  pop rbx
  ret
visit:
  push rbp
  mov rbp, rsp
  mov rax, [rdi + 8]
  movzx edx, byte ptr [rdi + 16]
  cmp rax, r12
  cmovb rax, r12
  add rax, rdx
  xor r12, rax
  pop rbp
  ret`,
  },
];
