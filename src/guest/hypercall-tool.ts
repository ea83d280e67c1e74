// /bin/xmhf-hypercall, the default guest's hypercall tool, written here in
// x86-64 assembly and emitted as a tiny static ELF (no compiler needed):
//
//   xmhf-hypercall NAME|NUMBER [ARG...]
//
// A NUMBER or ARG is decimal, hex with 0x (or 0X), optionally negative;
// ARG may be @TEXT, which passes the address of the string TEXT. A NAME is
// resolved with the core's function 0 (CoreHypercall.RESOLVE); the call
// goes out as VMCALL with RAX = function, RBX, RCX, RDX, RSI = up to four
// arguments (docs/hypapps.md), and RAX is printed in signed decimal.
// Exit status: 0 after a call; 1 when no hypapp answers the NAME (the name
// is resolved before the arguments are read); 2 for a bad command line.
//
//   xmhf-hypercall vsock-connect PORT    (connect to the host, CID 2)
//   xmhf-hypercall vsock-listen PORT     (accept one connection)
//
// A virtio-vsock stream: standard input goes to the socket until its end,
// the sending side is shut down, then what the peer sends goes to standard
// output until it closes (a request and its answer, as a test exchanges
// messages with a host program). Status 1 if the socket calls fail.
import { Asm, mem, ripLabel, type Assembled } from './asm64.js';
import { staticElf, STATIC_ELF_CODE } from './static-elf.js';
import { CoreHypercall, HYPERCALL_ENOSYS } from '../hypapp/api.js';

export const HYPERCALL_USAGE = 'usage: xmhf-hypercall NAME|NUMBER [ARG...] (up to 4 arguments: numbers or @TEXT)\n' +
  '       xmhf-hypercall vsock-connect|vsock-listen PORT\n';
const MAX_ARGS = 4;
const SYS_READ = 0, SYS_WRITE = 1, SYS_EXIT = 60;
const SYS_SOCKET = 41, SYS_CONNECT = 42, SYS_ACCEPT = 43, SYS_SHUTDOWN = 48, SYS_BIND = 49, SYS_LISTEN = 50;
const AF_VSOCK = 40, SOCK_STREAM = 1, SHUT_WR = 1;
/** struct sockaddr_vm: family (16 bits), reserved (16), port (32), cid (32), zero (32). */
const SOCKADDR_VM_BYTES = 16;
const VMADDR_CID_HOST = 2, VMADDR_CID_ANY = 0xffffffff;
const STDIN = 0, EXIT_SOCKET = 1;
/** The copy buffer of the vsock modes, on the stack. */
const COPY_BYTES = 4096;
const STDOUT = 1, STDERR = 2;
const EXIT_NO_ANSWER = 1, EXIT_USAGE = 2;
/** Stack scratch below the initial stack pointer: the four arguments, then the decimal digits of the result. */
const ARGS_BYTES = 8 * MAX_ARGS, DIGITS_BYTES = 32, SCRATCH = ARGS_BYTES + DIGITS_BYTES;
const ch = (c: string) => c.charCodeAt(0);

/**
 * Registers the main line keeps: rbp = the initial stack pointer (argc, then
 * argv[]), r12 = &argv[argc], r13 = next argument slot, r14 = function number,
 * r15 = the scratch area (arguments at +0, digits up to +SCRATCH), rbx = &argv[i].
 */
export function assembleHypercallTool(): Assembled {
  const a = new Asm(STATIC_ELF_CODE);

  a.label('_start')
    .mov('rbp', 'rsp')
    .alu('sub', 'rsp', SCRATCH)
    .mov('r15', 'rsp')
    .mov('rax', mem('rbp'))                      // argc
    .alu('cmp', 'rax', 2).jcc('jl', 'usage')
    .alu('cmp', 'rax', 2 + MAX_ARGS).jcc('jg', 'usage')
    .shl('rax', 3)
    .lea('r12', mem('rbp', 8))
    .alu('add', 'r12', 'rax')                    // r12 = &argv[argc]
    .alu('xor', 'eax', 'eax');
  for (let i = 0; i < MAX_ARGS; i++) a.mov(mem('r15', 8 * i), 'rax');
  a.mov('r13', 'r15')

    // vsock-connect / vsock-listen PORT: the socket modes.
    .mov('rsi', mem('rbp', 16)).lea('rdi', ripLabel('vsock_connect_text')).call('streq')
    .test('eax', 'eax').jcc('jne', 'vsock_connect')
    .mov('rsi', mem('rbp', 16)).lea('rdi', ripLabel('vsock_listen_text')).call('streq')
    .test('eax', 'eax').jcc('jne', 'vsock_listen')

    // The function: a number, or a name the core resolves.
    .mov('rsi', mem('rbp', 16))                  // argv[1]
    .call('number')
    .mov('r14', 'rax')
    .test('edx', 'edx').jcc('jne', 'arguments')
    .mov('eax', CoreHypercall.RESOLVE)
    .mov('rbx', mem('rbp', 16))
    .vmcall()
    .mov('r14', 'rax')
    .alu('cmp', 'rax', Number(HYPERCALL_ENOSYS)).jcc('je', 'no_answer')

    // The arguments: @TEXT passes the address of TEXT, anything else must be a number.
    .label('arguments')
    .lea('rbx', mem('rbp', 24))                  // &argv[2]
    .label('next_argument')
    .alu('cmp', 'rbx', 'r12').jcc('jae', 'make_call')
    .mov('rsi', mem('rbx'))
    .movzxByte('eax', mem('rsi'))
    .alu('cmp', 'eax', ch('@')).jcc('jne', 'numeric_argument')
    .lea('rax', mem('rsi', 1))
    .jmp('store_argument')
    .label('numeric_argument')
    .call('number')
    .test('edx', 'edx').jcc('je', 'not_a_number')
    .label('store_argument')
    .mov(mem('r13'), 'rax')
    .alu('add', 'r13', 8)
    .alu('add', 'rbx', 8)
    .jmp('next_argument')

    .label('make_call')
    .mov('rax', 'r14')
    .mov('rbx', mem('r15', 0))
    .mov('rcx', mem('r15', 8))
    .mov('rdx', mem('r15', 16))
    .mov('rsi', mem('r15', 24))
    .vmcall()

    // RAX in signed decimal: digits written backwards from the end of the scratch area.
    .mov('r8', 'rax')
    .test('rax', 'rax').jcc('jns', 'magnitude')
    .neg('rax')                                  // as unsigned, so the most negative value prints too
    .label('magnitude')
    .lea('rsi', mem('r15', SCRATCH - 2))
    .mov('ecx', ch('\n'))
    .mov(mem('rsi'), 'cl')
    .alu('xor', 'ecx', 'ecx')
    .mov(mem('rsi', 1), 'cl')                    // NUL after the newline
    .mov('ecx', 10)
    .label('next_digit')
    .alu('xor', 'edx', 'edx')
    .div('rcx')
    .alu('add', 'edx', ch('0'))
    .alu('sub', 'rsi', 1)
    .mov(mem('rsi'), 'dl')
    .test('rax', 'rax').jcc('jne', 'next_digit')
    .test('r8', 'r8').jcc('jns', 'print')
    .alu('sub', 'rsi', 1)
    .mov('edx', ch('-'))
    .mov(mem('rsi'), 'dl')
    .label('print')
    .mov('edi', STDOUT)
    .call('write_string')
    .mov('edi', 0)
    .label('exit')                               // edi = status
    .mov('eax', SYS_EXIT)
    .syscall()
    .hlt()

    .label('usage')
    .mov('edi', STDERR)
    .lea('rsi', ripLabel('usage_text')).call('write_string')
    .mov('edi', EXIT_USAGE)
    .jmp('exit')

    .label('no_answer')
    .mov('edi', STDERR)
    .lea('rsi', ripLabel('no_answer_text')).call('write_string')
    .mov('rsi', mem('rbp', 16)).call('write_string')
    .lea('rsi', ripLabel('quote_newline')).call('write_string')
    .mov('edi', EXIT_NO_ANSWER)
    .jmp('exit')

    .label('not_a_number')
    .mov('edi', STDERR)
    .lea('rsi', ripLabel('not_a_number_text')).call('write_string')
    .mov('rsi', mem('rbx')).call('write_string')
    .lea('rsi', ripLabel('newline')).call('write_string')
    .mov('edi', EXIT_USAGE)
    .jmp('exit')

    // write_string: write(rdi, rsi, strlen(rsi)). Keeps rdi, rbx and r12-r15.
    .label('write_string')
    .mov('rdx', 'rsi')
    .label('find_end')
    .movzxByte('eax', mem('rdx'))
    .test('eax', 'eax').jcc('je', 'found_end')
    .alu('add', 'rdx', 1)
    .jmp('find_end')
    .label('found_end')
    .alu('sub', 'rdx', 'rsi')
    .mov('eax', SYS_WRITE)
    .syscall()
    .ret()

    // number: rsi = string -> rax = its value, edx = 1 if it is a number (else rax = edx = 0).
    // Decimal, or hex after 0x/0X, after an optional '-'; at least one digit; wraps modulo 2^64.
    // Uses rcx (base), rdi (negative?), r8 (digit count).
    .label('number')
    .alu('xor', 'eax', 'eax')
    .alu('xor', 'edi', 'edi')
    .alu('xor', 'r8d', 'r8d')
    .mov('ecx', 10)
    .movzxByte('edx', mem('rsi'))
    .alu('cmp', 'edx', ch('-')).jcc('jne', 'prefix')
    .mov('edi', 1)
    .alu('add', 'rsi', 1)
    .label('prefix')
    .movzxByte('edx', mem('rsi'))
    .alu('cmp', 'edx', ch('0')).jcc('jne', 'next_char')
    .movzxByte('edx', mem('rsi', 1))
    .alu('or', 'edx', 0x20)                      // 'X' -> 'x'
    .alu('cmp', 'edx', ch('x')).jcc('jne', 'next_char')
    .mov('ecx', 16)
    .alu('add', 'rsi', 2)
    .label('next_char')
    .movzxByte('edx', mem('rsi'))
    .test('edx', 'edx').jcc('je', 'end_of_number')
    .alu('sub', 'edx', ch('0'))
    .alu('cmp', 'edx', 9).jcc('jbe', 'accumulate') // '0'..'9' (unsigned: below '0' wraps high)
    .alu('cmp', 'ecx', 16).jcc('jne', 'bad_number')
    .movzxByte('edx', mem('rsi'))
    .alu('or', 'edx', 0x20)                      // 'A'..'F' -> 'a'..'f'
    .alu('sub', 'edx', ch('a'))
    .alu('cmp', 'edx', 5).jcc('ja', 'bad_number')
    .alu('add', 'edx', 10)
    .label('accumulate')
    .imul('rax', 'rcx')
    .alu('add', 'rax', 'rdx')
    .alu('add', 'rsi', 1)
    .alu('add', 'r8d', 1)
    .jmp('next_char')
    .label('end_of_number')
    .test('r8d', 'r8d').jcc('je', 'bad_number')
    .test('edi', 'edi').jcc('je', 'is_number')
    .neg('rax')
    .label('is_number')
    .mov('edx', 1)
    .ret()
    .label('bad_number')
    .alu('xor', 'eax', 'eax')
    .alu('xor', 'edx', 'edx')
    .ret()

    // ---- the vsock modes. r14 = port, r13 = the socket, rbx = the copy buffer, r15 = the sockaddr_vm ----
    .label('vsock_connect')
    .call('vsock_socket')
    .mov('eax', VMADDR_CID_HOST).call('vsock_address')
    .mov('eax', SYS_CONNECT).mov('rdi', 'r13').mov('rsi', 'r15').mov('edx', SOCKADDR_VM_BYTES).syscall()
    .test('rax', 'rax').jcc('js', 'vsock_failed')
    .jmp('vsock_copy')

    .label('vsock_listen')
    .call('vsock_socket')
    .mov('eax', VMADDR_CID_ANY).call('vsock_address')
    .mov('eax', SYS_BIND).mov('rdi', 'r13').mov('rsi', 'r15').mov('edx', SOCKADDR_VM_BYTES).syscall()
    .test('rax', 'rax').jcc('js', 'vsock_failed')
    .mov('eax', SYS_LISTEN).mov('rdi', 'r13').mov('esi', 1).syscall()
    .test('rax', 'rax').jcc('js', 'vsock_failed')
    .mov('eax', SYS_ACCEPT).mov('rdi', 'r13').alu('xor', 'esi', 'esi').alu('xor', 'edx', 'edx').syscall()
    .test('rax', 'rax').jcc('js', 'vsock_failed')
    .mov('r13', 'rax')

    // Standard input to the socket until its end, shut the sending side, then the socket to standard output.
    .label('vsock_copy')
    .mov('eax', COPY_BYTES)
    .alu('sub', 'rsp', 'rax')
    .mov('rbx', 'rsp')
    .label('copy_in')
    .mov('eax', SYS_READ).mov('edi', STDIN).mov('rsi', 'rbx').mov('edx', COPY_BYTES).syscall()
    .test('rax', 'rax').jcc('jle', 'copy_in_done')
    .mov('rdx', 'rax').mov('rdi', 'r13').mov('rsi', 'rbx').call('write_all')
    .test('rax', 'rax').jcc('js', 'vsock_failed')
    .jmp('copy_in')
    .label('copy_in_done')
    .mov('eax', SYS_SHUTDOWN).mov('rdi', 'r13').mov('esi', SHUT_WR).syscall()
    .label('copy_out')
    .mov('eax', SYS_READ).mov('rdi', 'r13').mov('rsi', 'rbx').mov('edx', COPY_BYTES).syscall()
    .test('rax', 'rax').jcc('jle', 'copy_out_done')
    .mov('rdx', 'rax').mov('edi', STDOUT).mov('rsi', 'rbx').call('write_all')
    .test('rax', 'rax').jcc('js', 'vsock_failed')
    .jmp('copy_out')
    .label('copy_out_done')
    .mov('edi', 0)
    .jmp('exit')

    .label('vsock_failed')
    .mov('edi', STDERR)
    .lea('rsi', ripLabel('vsock_failed_text')).call('write_string')
    .mov('edi', EXIT_SOCKET)
    .jmp('exit')

    // vsock_socket: argc must be 3 and argv[2] a port: r14 = port, r13 = a new AF_VSOCK stream socket.
    .label('vsock_socket')
    .mov('rax', mem('rbp'))
    .alu('cmp', 'rax', 3).jcc('jne', 'usage')
    .mov('rsi', mem('rbp', 24))
    .call('number')
    .test('edx', 'edx').jcc('je', 'usage')
    .mov('r14', 'rax')
    .mov('eax', SYS_SOCKET).mov('edi', AF_VSOCK).mov('esi', SOCK_STREAM).alu('xor', 'edx', 'edx').syscall()
    .test('rax', 'rax').jcc('js', 'vsock_failed')
    .mov('r13', 'rax')
    .ret()

    // vsock_address: eax = CID -> the sockaddr_vm for (CID, r14) at r15.
    .label('vsock_address')
    .mov(mem('r15', 8), 'rax')                   // cid, then 32 zero bits
    .mov('rax', 'r14')
    .shl('rax', 32)
    .alu('or', 'rax', AF_VSOCK)                  // family, reserved 0, port
    .mov(mem('r15'), 'rax')
    .ret()

    // write_all: write(rdi, rsi, rdx) until all is written; rax < 0 on error. Keeps rdi, rbx and r12-r15.
    .label('write_all')
    .mov('eax', SYS_WRITE)
    .syscall()
    .test('rax', 'rax').jcc('js', 'write_all_done')
    .alu('add', 'rsi', 'rax')
    .alu('sub', 'rdx', 'rax')
    .jcc('jne', 'write_all')
    .label('write_all_done')
    .ret()

    // streq: rsi, rdi = strings -> eax = 1 if equal, else 0. Uses ecx, edx, r8, r9.
    .label('streq')
    .mov('r8', 'rsi')
    .mov('r9', 'rdi')
    .label('streq_next')
    .movzxByte('ecx', mem('r8'))
    .movzxByte('edx', mem('r9'))
    .alu('cmp', 'ecx', 'edx').jcc('jne', 'streq_differ')
    .test('ecx', 'ecx').jcc('je', 'streq_same')
    .alu('add', 'r8', 1)
    .alu('add', 'r9', 1)
    .jmp('streq_next')
    .label('streq_same')
    .mov('eax', 1)
    .ret()
    .label('streq_differ')
    .alu('xor', 'eax', 'eax')
    .ret()

    .asciz('vsock_connect_text', 'vsock-connect')
    .asciz('vsock_listen_text', 'vsock-listen')
    .asciz('vsock_failed_text', 'xmhf-hypercall: a vsock socket call failed\n')
    .asciz('usage_text', HYPERCALL_USAGE)
    .asciz('no_answer_text', 'xmhf-hypercall: no hypapp answers "')
    .asciz('quote_newline', '"\n')
    .asciz('newline', '\n')
    .asciz('not_a_number_text', 'xmhf-hypercall: not a number: ');
  return a.assemble();
}

/** The tool as the executable file the guest runs. */
export function hypercallToolElf(): Uint8Array {
  return staticElf(assembleHypercallTool().code);
}
