// Runs difftest cases natively: the host CPU is the oracle.
//
// Code and data live at fixed addresses (the same guest-physical addresses
// the emulated side uses). For each case the initial registers are loaded by
// a small trampoline that jumps to the case; the case ends with `ud2`, and
// the SIGILL handler (or SIGSEGV/SIGBUS/SIGFPE/SIGTRAP for a fault on the
// way) records the ucontext and siglongjmps back. All handlers run on an
// alternate stack, so the case's own stack (inside the data region) is
// untouched. A per-case CPU-time timer turns a runaway case into a TIMEOUT result.
//
// Batch protocol (little endian), stdin:
//   u32 magic 'XDT1', u32 dataSize, u8 pattern[dataSize]
//   per case: u32 codeLen (0xffffffff ends the batch), u8 code[codeLen],
//             u64 gpr[16], u64 rflags, u32 mxcsr, u32 patchCount, u8 xmm[256],
//             patchCount x (u32 offset, u32 len, u8 bytes[len])
// stdout, per case:
//   u32 vector, u32 signo, u64 errorCode, u64 faultAddr,
//   u64 gpr[16], u64 rip, u64 rflags, u32 mxcsr, u32 changeCount, u8 xmm[256],
//   changeCount x (u32 offset, u32 len, u8 bytes[len])  -- data bytes that differ
//                                                         from the initial image
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE_BASE 0x1000000UL
#define CODE_SIZE 0x10000UL
#define DATA_BASE 0x2000000UL
#define DATA_SIZE 0x10000UL
// Reserved inaccessible so that cases can fault on it deliberately.
#define UNMAPPED_BASE 0x10000000000UL
#define UNMAPPED_SIZE 0x10000UL
#define MAGIC 0x31544458u /* "XDT1" */
#define VECTOR_TIMEOUT 256u
#define TIMEOUT_USEC 200000

// Loaded by enter_case; layout shared with the assembly below.
struct entry_state {
  uint64_t gpr[16];  // 0
  uint64_t rip;      // 128
  uint64_t rflags;   // 136
  uint32_t mxcsr;    // 144
  uint32_t pad[3];
  uint8_t xmm[256];  // 160
} __attribute__((aligned(16)));
struct entry_state entry_state __attribute__((used));

struct result {
  uint32_t vector, signo;
  uint64_t error_code, fault_addr;
  uint64_t gpr[16], rip, rflags;
  uint32_t mxcsr;
  uint8_t xmm[256];
};

// Loads every register from entry_state and jumps to the case; never returns.
// The stack pointer is loaded last, after POPFQ, and the jump reads memory
// through RIP, so no register is needed once the case's values are in place.
extern void enter_case(void) __attribute__((noreturn));
__asm__(
  ".text\n"
  ".globl enter_case\n"
  "enter_case:\n"
  ".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
  "  movdqu entry_state+160+\\i*16(%rip), %xmm\\i\n"
  ".endr\n"
  "  ldmxcsr entry_state+144(%rip)\n"
  "  pushq entry_state+136(%rip)\n"
  "  popfq\n"
  "  movq entry_state+0(%rip), %rax\n"
  "  movq entry_state+8(%rip), %rcx\n"
  "  movq entry_state+16(%rip), %rdx\n"
  "  movq entry_state+24(%rip), %rbx\n"
  "  movq entry_state+40(%rip), %rbp\n"
  "  movq entry_state+48(%rip), %rsi\n"
  "  movq entry_state+56(%rip), %rdi\n"
  "  movq entry_state+64(%rip), %r8\n"
  "  movq entry_state+72(%rip), %r9\n"
  "  movq entry_state+80(%rip), %r10\n"
  "  movq entry_state+88(%rip), %r11\n"
  "  movq entry_state+96(%rip), %r12\n"
  "  movq entry_state+104(%rip), %r13\n"
  "  movq entry_state+112(%rip), %r14\n"
  "  movq entry_state+120(%rip), %r15\n"
  "  movq entry_state+32(%rip), %rsp\n"
  "  jmp *entry_state+128(%rip)\n");

static sigjmp_buf case_exit;
static volatile sig_atomic_t in_case;
static struct result result;

// ucontext greg index of each of our GPRs (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15).
static const int greg_index[16] = {
  REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
  REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

static void on_signal(int signo, siginfo_t *info, void *ucv) {
  // The case may have set RFLAGS.AC, which the kernel leaves set in the
  // handler; clear it before any C code can make an unaligned access.
  __asm__ volatile("pushfq; andq $~0x40000, (%%rsp); popfq" ::: "memory", "cc");
  if (!in_case) {
    if (signo == SIGVTALRM) return;
    signal(signo, SIG_DFL);  // a fault in the runner itself: die on re-execution
    return;
  }
  in_case = 0;
  ucontext_t *uc = ucv;
  greg_t *g = uc->uc_mcontext.gregs;
  result.signo = (uint32_t)signo;
  result.vector = signo == SIGVTALRM ? VECTOR_TIMEOUT : (uint32_t)g[REG_TRAPNO];
  result.error_code = (uint64_t)g[REG_ERR];
  result.fault_addr = signo == SIGSEGV || signo == SIGBUS ? (uint64_t)info->si_addr : 0;
  for (int i = 0; i < 16; i++) result.gpr[i] = (uint64_t)g[greg_index[i]];
  result.rip = (uint64_t)g[REG_RIP];
  result.rflags = (uint64_t)g[REG_EFL];
  result.mxcsr = uc->uc_mcontext.fpregs->mxcsr;
  memcpy(result.xmm, uc->uc_mcontext.fpregs->_xmm, sizeof result.xmm);
  siglongjmp(case_exit, 1);
}

static void die(const char *what) {
  fprintf(stderr, "native-runner: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void map_fixed(uintptr_t addr, size_t size, int prot) {
  void *p = mmap((void *)addr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED || (uintptr_t)p != addr) die("mmap at a fixed address");
}

static void install_handlers(void) {
  static uint8_t alt_stack[1 << 16];
  stack_t ss = { .ss_sp = alt_stack, .ss_size = sizeof alt_stack, .ss_flags = 0 };
  if (sigaltstack(&ss, NULL) != 0) die("sigaltstack");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigfillset(&sa.sa_mask);
  const int signals[] = { SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP, SIGVTALRM };
  for (unsigned i = 0; i < sizeof signals / sizeof signals[0]; i++)
    if (sigaction(signals[i], &sa, NULL) != 0) die("sigaction");
}

// ---- batch input ----
static uint8_t *input;
static size_t input_len, input_pos;

static void read_all_input(void) {
  size_t cap = 1 << 20;
  input = malloc(cap);
  for (;;) {
    if (input_len == cap) input = realloc(input, cap *= 2);
    if (!input) die("realloc");
    ssize_t n = read(0, input + input_len, cap - input_len);
    if (n < 0) { if (errno == EINTR) continue; die("read"); }
    if (n == 0) break;
    input_len += (size_t)n;
  }
}

static const uint8_t *take(size_t n) {
  if (input_pos + n > input_len) { fprintf(stderr, "native-runner: truncated batch\n"); exit(2); }
  const uint8_t *p = input + input_pos;
  input_pos += n;
  return p;
}
static uint32_t take32(void) { uint32_t v; memcpy(&v, take(4), 4); return v; }
static uint64_t take64(void) { uint64_t v; memcpy(&v, take(8), 8); return v; }

// ---- batch output ----
static void put(const void *p, size_t n) {
  if (fwrite(p, 1, n, stdout) != n) die("write");
}
static void put32(uint32_t v) { put(&v, 4); }
static void put64(uint64_t v) { put(&v, 8); }

// Writes the runs of data bytes that differ from the initial image.
static void put_changes(const uint8_t *now, const uint8_t *initial) {
  uint32_t count = 0;
  for (size_t i = 0; i < DATA_SIZE; i++) {
    if (now[i] == initial[i]) continue;
    count++;
    while (i < DATA_SIZE && now[i] != initial[i]) i++;
  }
  put32(count);
  put(result.xmm, sizeof result.xmm);
  for (size_t i = 0; i < DATA_SIZE; i++) {
    if (now[i] == initial[i]) continue;
    size_t start = i;
    while (i < DATA_SIZE && now[i] != initial[i]) i++;
    put32((uint32_t)start);
    put32((uint32_t)(i - start));
    put(now + start, i - start);
  }
}

int main(void) {
  uint8_t *code = (uint8_t *)CODE_BASE, *data = (uint8_t *)DATA_BASE;
  map_fixed(CODE_BASE, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC);
  map_fixed(DATA_BASE, DATA_SIZE, PROT_READ | PROT_WRITE);
  map_fixed(UNMAPPED_BASE, UNMAPPED_SIZE, PROT_NONE);
  install_handlers();
  read_all_input();

  if (take32() != MAGIC) { fprintf(stderr, "native-runner: bad magic\n"); return 2; }
  if (take32() != DATA_SIZE) { fprintf(stderr, "native-runner: data size mismatch\n"); return 2; }
  const uint8_t *pattern = take(DATA_SIZE);
  static uint8_t initial[DATA_SIZE];
  size_t prev_code_len = 0;

  for (;;) {
    uint32_t code_len = take32();
    if (code_len == 0xffffffffu) break;
    if (code_len > CODE_SIZE) { fprintf(stderr, "native-runner: code too large\n"); return 2; }
    memset(code, 0, prev_code_len);
    memcpy(code, take(code_len), code_len);
    prev_code_len = code_len;

    for (int i = 0; i < 16; i++) entry_state.gpr[i] = take64();
    entry_state.rip = CODE_BASE;
    entry_state.rflags = take64();
    entry_state.mxcsr = take32();
    uint32_t patches = take32();
    memcpy(entry_state.xmm, take(256), 256);
    memcpy(initial, pattern, DATA_SIZE);
    for (uint32_t i = 0; i < patches; i++) {
      uint32_t off = take32(), len = take32();
      if ((uint64_t)off + len > DATA_SIZE) { fprintf(stderr, "native-runner: patch out of range\n"); return 2; }
      memcpy(initial + off, take(len), len);
    }
    memcpy(data, initial, DATA_SIZE);

    memset(&result, 0, sizeof result);
    struct itimerval timer = { .it_value = { .tv_sec = 0, .tv_usec = TIMEOUT_USEC } };
    if (sigsetjmp(case_exit, 1) == 0) {
      setitimer(ITIMER_VIRTUAL, &timer, NULL);
      in_case = 1;
      enter_case();
    }
    struct itimerval off = { 0 };
    setitimer(ITIMER_VIRTUAL, &off, NULL);

    put32(result.vector);
    put32(result.signo);
    put64(result.error_code);
    put64(result.fault_addr);
    for (int i = 0; i < 16; i++) put64(result.gpr[i]);
    put64(result.rip);
    put64(result.rflags);
    put32(result.mxcsr);
    put_changes(data, initial);
  }
  if (fflush(stdout) != 0) die("flush");
  return 0;
}
