/*
 * xmhf-hypercall NAME|NUMBER [ARG...]: make a hypercall to xmhf-ts from a
 * guest shell and print the result (RAX) in decimal.
 *
 * ABI (docs/hypapps.md): RAX = function number, RBX, RCX, RDX, RSI = up to
 * four arguments, VMCALL, result in RAX; -38 (-ENOSYS) if nobody answers.
 * Function 0 resolves a name (RBX = address of the string) to its number.
 * An argument is a number (decimal, or hex with 0x, may be negative) or
 * @TEXT, which passes the address of the string TEXT.
 *
 * Freestanding (no libc): built with gcc -static -nostdlib for the initramfs.
 */
typedef unsigned long u64;

static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
static void out(int fd, const char *s) {
  long n = 0;
  while (s[n]) n++;
  sys3(1, fd, (long)s, n);
}
static void quit(int status) { sys3(60, status, 0, 0); for (;;) {} }

static long vmcall(long fn, long a0, long a1, long a2, long a3) {
  long r;
  __asm__ volatile("vmcall" : "=a"(r) : "a"(fn), "b"(a0), "c"(a1), "d"(a2), "S"(a3) : "memory");
  return r;
}

/* Parse a number; returns 0 and sets *ok = 0 if s is not one. */
static long number(const char *s, int *ok) {
  int neg = 0, base = 10, digits = 0;
  u64 v = 0;
  if (*s == '-') { neg = 1; s++; }
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) { base = 16; s += 2; }
  for (; *s; s++, digits++) {
    int d;
    if (*s >= '0' && *s <= '9') d = *s - '0';
    else if (base == 16 && *s >= 'a' && *s <= 'f') d = *s - 'a' + 10;
    else if (base == 16 && *s >= 'A' && *s <= 'F') d = *s - 'A' + 10;
    else { *ok = 0; return 0; }
    v = v * base + d;
  }
  *ok = digits > 0;
  return neg ? -(long)v : (long)v;
}

static void print_long(long v) {
  char buf[24];
  int i = 23;
  u64 u = v < 0 ? -(u64)v : (u64)v;
  buf[i] = 0;
  do { buf[--i] = '0' + u % 10; u /= 10; } while (u);
  if (v < 0) buf[--i] = '-';
  out(1, buf + i);
  out(1, "\n");
}

#define ENOSYS_RESULT (-38)

__attribute__((used)) void start_c(long *sp) {
  int argc = (int)sp[0];
  char **argv = (char **)(sp + 1);
  long args[4] = {0, 0, 0, 0};
  int ok, i;
  long fn;
  if (argc < 2 || argc > 6) {
    out(2, "usage: xmhf-hypercall NAME|NUMBER [ARG...] (up to 4 arguments: numbers or @TEXT)\n");
    quit(2);
  }
  fn = number(argv[1], &ok);
  if (!ok) {
    fn = vmcall(0, (long)argv[1], 0, 0, 0);
    if (fn == ENOSYS_RESULT) {
      out(2, "xmhf-hypercall: no hypapp answers \"");
      out(2, argv[1]);
      out(2, "\"\n");
      quit(1);
    }
  }
  for (i = 2; i < argc; i++) {
    if (argv[i][0] == '@') { args[i - 2] = (long)(argv[i] + 1); continue; }
    args[i - 2] = number(argv[i], &ok);
    if (!ok) {
      out(2, "xmhf-hypercall: not a number: ");
      out(2, argv[i]);
      out(2, "\n");
      quit(2);
    }
  }
  print_long(vmcall(fn, args[0], args[1], args[2], args[3]));
  quit(0);
}

__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call start_c\n hlt\n");
