// Boots the default Debian guest under the XMHF core with given hypapps and a
// shell command, for end-to-end tests of hypapps through the programmatic API.
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { defaultGuest, guestInitramfs, READY_MARKER, EXIT_MARKER, GUEST_CMDLINE, type GuestParts } from '../../src/guest/debian.js';
import { toolCommand } from '../../tools/toolchain.js';
import type { CpioEntry } from '../../src/guest/cpio.js';
import { createVm, type Vm, type VmStop, type HypappSpec, type VmDisk } from '../../src/vmm.js';
import type { Hypapp } from '../../src/hypapp/api.js';

export interface GuestRun {
  /** What the command printed (the console lines between the markers). */
  output: string;
  status: number | undefined;
  stop: VmStop;
  vm: Vm;
  events: Array<Record<string, unknown>>;
  logs: string[];
}

export async function runGuest(opts: {
  hypapps: Array<Hypapp | HypappSpec>;
  command: string;
  files?: CpioEntry[];
  timeoutMs?: number;
  /** Changes to the default guest's parts (e.g. no modules, or no hypercall tool so /init never says it is ready). */
  guest?: Partial<GuestParts>;
  /** Called with each console line as it arrives (for timing). */
  onLine?: (line: string) => void;
  /** Processors (default 1). */
  cpus?: number;
  deterministic?: boolean;
  /** Another kernel image than the default guest's vmlinux (its bzImage, say). */
  kernel?: Uint8Array;
  /** Disk images over virtio-blk (/dev/vda, ...). */
  disks?: VmDisk[];
  /** A virtio-vsock: its Unix socket's path, or true for hypapps alone. */
  vsock?: string | true;
}): Promise<GuestRun> {
  const g = defaultGuest();
  const initrd = guestInitramfs({ ...g, ...opts.guest }, opts.command, opts.files);
  let console = '', partial = '';
  const events: Array<Record<string, unknown>> = [];
  const logs: string[] = [];
  const vm = await createVm({
    kernel: opts.kernel ?? g.kernel, initrd, cmdline: `${GUEST_CMDLINE} quiet`, hypapps: opts.hypapps,
    cpus: opts.cpus, deterministic: opts.deterministic, disks: opts.disks, vsock: opts.vsock,
    serialOutput: (b) => {
      const text = Buffer.from(b).toString('latin1');
      console += text;
      partial += text;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl).replace(/\r$/, '');
        partial = partial.slice(nl + 1);
        opts.onLine?.(line);
        if (line.startsWith(`${EXIT_MARKER} `)) vm.stop('command finished');
      }
    },
    log: (line) => logs.push(line),
    onEvent: (app, r) => events.push({ hypapp: app, ...r }),
  });
  const stop = await vm.run(opts.timeoutMs ?? 150_000);
  const lines = console.replace(/\r/g, '').split('\n');
  const from = lines.findIndex((l) => l.startsWith(READY_MARKER));
  const to = lines.findIndex((l) => l.startsWith(EXIT_MARKER));
  const output = from >= 0 ? lines.slice(from + 1, to >= 0 ? to : undefined).join('\n') : '';
  const status = to >= 0 ? Number(lines[to].split(' ')[1]) : undefined;
  return { output, status, stop, vm, events, logs };
}

/** Compile a libc-free guest program (its own _start and system calls) into a static binary, with the toolchain's gcc. */
export function buildGuestProgram(source: string): Uint8Array {
  const out = join(tmpdir(), `xmhf-guest-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const gcc = toolCommand('gcc');
  const r = spawnSync(gcc.file, [...gcc.args, '-static', '-nostdlib', '-ffreestanding', '-fno-builtin', '-fno-tree-loop-distribute-patterns',
    '-fno-stack-protector', '-fno-pie', '-no-pie', '-O2', '-o', out, source], { encoding: 'utf8', env: gcc.env });
  if (r.status !== 0) throw new Error(`gcc failed on ${source}: ${r.stderr || r.error}`);
  try { return new Uint8Array(readFileSync(out)); } finally { rmSync(out, { force: true }); }
}
