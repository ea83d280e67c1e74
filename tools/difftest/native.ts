// Builds the native runner (gcc, only when the C source is newer) and runs a
// batch through it: cases in on stdin, outcomes out on stdout (the binary
// protocol is described at the top of native-runner.c).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATA_SIZE, type MemRun, type Outcome, type TestCase } from './layout.js';
import { toolCommand } from '../toolchain.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SOURCE = join(ROOT, 'tools', 'difftest', 'native-runner.c');
const BINARY = join(ROOT, 'build', 'difftest', 'native-runner');
const MAGIC = 0x31544458;
const END_OF_BATCH = 0xffffffff;

/** Path of the runner, compiled first if missing or older than its source. */
export function buildNativeRunner(): string {
  if (!existsSync(BINARY) || statSync(BINARY).mtimeMs < statSync(SOURCE).mtimeMs) {
    mkdirSync(dirname(BINARY), { recursive: true });
    // Build under a private name and rename, so concurrent runs never see a half-written binary.
    const temporary = `${BINARY}.${process.pid}`;
    const gcc = toolCommand('gcc');
    execFileSync(gcc.file, [...gcc.args, '-O2', '-Wall', '-Wextra', '-Werror', '-o', temporary, SOURCE], { stdio: 'inherit', env: gcc.env });
    renameSync(temporary, BINARY);
  }
  return BINARY;
}

class Writer {
  private buf = Buffer.alloc(1 << 20);
  private pos = 0;
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
  u32(v: number): void { this.room(4); this.buf.writeUInt32LE(v >>> 0, this.pos); this.pos += 4; }
  u64(v: bigint): void { this.room(8); this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.pos); this.pos += 8; }
  bytes(b: Uint8Array): void { this.room(b.length); this.buf.set(b, this.pos); this.pos += b.length; }
  done(): Buffer { return this.buf.subarray(0, this.pos); }
}

function encodeBatch(pattern: Uint8Array, cases: TestCase[]): Buffer {
  const w = new Writer();
  w.u32(MAGIC);
  w.u32(DATA_SIZE);
  w.bytes(pattern);
  for (const c of cases) {
    w.u32(c.code.length);
    w.bytes(c.code);
    for (const v of c.init.gpr) w.u64(v);
    w.u64(c.init.rflags);
    w.u32(c.init.mxcsr);
    w.u32(c.patches.length);
    w.bytes(c.init.xmm);
    for (const p of c.patches) {
      w.u32(p.offset);
      w.u32(p.bytes.length);
      w.bytes(p.bytes);
    }
  }
  w.u32(END_OF_BATCH);
  return w.done();
}

function decodeOutcomes(out: Buffer, count: number): Outcome[] {
  let pos = 0;
  const u32 = () => { const v = out.readUInt32LE(pos); pos += 4; return v; };
  const u64 = () => { const v = out.readBigUInt64LE(pos); pos += 8; return v; };
  const bytes = (n: number) => { const v = new Uint8Array(out.subarray(pos, pos + n)); pos += n; return v; };
  const outcomes: Outcome[] = [];
  for (let i = 0; i < count; i++) {
    const vector = u32();
    u32(); // signal number: the vector says more
    const errorCode = u64();
    const faultAddr = u64();
    const gpr = Array.from({ length: 16 }, u64);
    const rip = u64();
    const rflags = u64();
    const mxcsr = u32();
    const changes = u32();
    const xmm = bytes(256);
    const memChanges: MemRun[] = [];
    for (let k = 0; k < changes; k++) {
      const offset = u32();
      memChanges.push({ offset, bytes: bytes(u32()) });
    }
    outcomes.push({ vector, errorCode, faultAddr, state: { gpr, rip, rflags, xmm, mxcsr }, memChanges });
  }
  if (pos !== out.length) throw new Error(`native runner output has ${out.length - pos} extra bytes`);
  return outcomes;
}

/** Runs every case natively, in one process. */
export function runNative(pattern: Uint8Array, cases: TestCase[]): Outcome[] {
  const result = spawnSync(buildNativeRunner(), [], { input: encodeBatch(pattern, cases), maxBuffer: 1 << 30 });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`native runner failed (status ${result.status}, signal ${result.signal}): ${result.stderr.toString()}`);
  }
  return decodeOutcomes(result.stdout, cases.length);
}
