// The default guest: Debian's own kernel and busybox-static, fetched with
// `apt-get download` into ~/.cache/xmhf-ts, the kernel extracted from its
// bzImage once (so boots skip its self-decompression), and an initramfs
// built here whose /init runs one command between two markers.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { parseBzImage, bzImagePayload } from '../boot/bzimage.js';
import { initramfs, S_IFDIR, S_IFREG, S_IFLNK, type CpioEntry } from './cpio.js';

export const READY_MARKER = 'XMHF-READY';
export const EXIT_MARKER = 'XMHF-EXIT';

export class GuestBuildError extends Error {}

export function cacheDir(): string {
  return process.env.XMHF_CACHE ?? join(homedir(), '.cache', 'xmhf-ts');
}

function need(tool: string, pkg: string): void {
  if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) {
    throw new GuestBuildError(`building the default guest needs "${tool}" (apt-get install ${pkg}); or pass --kernel and --initrd files`);
  }
}

/** Download `pkg` (once) and unpack it; returns the unpack directory. */
function fetchPackage(pkg: string, log: (line: string) => void): string {
  const dir = join(cacheDir(), 'packages');
  mkdirSync(dir, { recursive: true });
  const unpacked = join(dir, `${pkg}.d`);
  if (existsSync(join(unpacked, '.done'))) return unpacked;
  need('apt-get', 'apt');
  need('dpkg-deb', 'dpkg');
  log(`downloading ${pkg} with apt-get ...`);
  const r = spawnSync('apt-get', ['download', pkg], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new GuestBuildError(`apt-get download ${pkg} failed: ${r.stderr.trim().split('\n').at(-1)}`);
  const deb = readdirSync(dir).filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb')).sort().at(-1);
  if (!deb) throw new GuestBuildError(`apt-get download ${pkg} left no .deb in ${dir}`);
  execFileSync('dpkg-deb', ['-x', join(dir, deb), unpacked]);
  writeFileSync(join(unpacked, '.done'), deb + '\n');
  log(`unpacked ${deb}`);
  return unpacked;
}

/** The kernel package linux-image-amd64 points at (linux-image-<version>-amd64). */
function kernelPackage(): string {
  need('apt-cache', 'apt');
  const out = spawnSync('apt-cache', ['depends', 'linux-image-amd64'], { encoding: 'utf8' }).stdout ?? '';
  const m = /Depends: (linux-image-[0-9][^\s]*-amd64)\b/.exec(out);
  if (!m) throw new GuestBuildError('apt-cache does not know linux-image-amd64 (run apt-get update, or pass --kernel)');
  return m[1];
}

export interface DefaultGuest {
  /** The uncompressed kernel (vmlinux ELF with a PVH entry). */
  kernel: Uint8Array;
  busybox: Uint8Array;
  version: string;
  /** /bin/xmhf-hypercall, when the host could build it. */
  hypercallTool?: Uint8Array;
}

const HYPERCALL_SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'xmhf-hypercall.c');

/** Compile a libc-free guest program (its own _start and syscalls) into a static binary at `out`. */
export function buildFreestanding(source: string, out: string): ReturnType<typeof spawnSync> {
  return spawnSync('gcc', ['-static', '-nostdlib', '-ffreestanding', '-fno-builtin', '-fno-tree-loop-distribute-patterns',
    '-fno-stack-protector', '-fno-pie', '-no-pie', '-O2', '-o', out, source], { encoding: 'utf8' });
}

/**
 * The guest's hypercall tool (xmhf-hypercall.c), built once with the host's
 * gcc as a static, libc-free binary. Without gcc the guest runs without it.
 */
export function hypercallTool(log: (line: string) => void = () => {}): Uint8Array | undefined {
  const source = readFileSync(HYPERCALL_SOURCE);
  const out = join(cacheDir(), `xmhf-hypercall-${createHash('sha256').update(source).digest('hex').slice(0, 16)}`);
  if (existsSync(out)) return new Uint8Array(readFileSync(out));
  mkdirSync(cacheDir(), { recursive: true });
  const r = buildFreestanding(HYPERCALL_SOURCE, out + '.tmp');
  if (r.error || r.status !== 0) {
    log(`the guest will have no xmhf-hypercall tool: building it needs gcc (apt-get install gcc)${r.stderr ? `: ${String(r.stderr).trim()}` : ''}`);
    return undefined;
  }
  renameSync(out + '.tmp', out);
  log('built the guest\'s xmhf-hypercall tool');
  return new Uint8Array(readFileSync(out));
}

/** Fetch and prepare the default guest's kernel and busybox (cached after the first time). */
export function defaultGuest(log: (line: string) => void = () => {}): DefaultGuest {
  const pkg = kernelPackage();
  const version = pkg.replace(/^linux-image-/, '');
  const vmlinux = join(cacheDir(), `vmlinux-${version}`);
  if (!existsSync(vmlinux)) {
    const dir = fetchPackage(pkg, log);
    const bz = new Uint8Array(readFileSync(join(dir, 'boot', `vmlinuz-${version}`)));
    const payload = bzImagePayload(bz, parseBzImage(bz, `vmlinuz-${version}`));
    if (payload.format !== 'xz' && payload.format !== 'gzip') throw new GuestBuildError(`the kernel payload is ${payload.format}; only xz and gzip are extracted here`);
    const tool = payload.format === 'xz' ? 'xz' : 'gzip';
    need(tool, tool === 'xz' ? 'xz-utils' : 'gzip');
    log(`extracting the uncompressed kernel from vmlinuz-${version} ...`);
    // The payload ends with the decompressed size after the compressed stream: decode one stream only.
    const args = tool === 'xz' ? ['-dc', '--single-stream'] : ['-dc'];
    const r = spawnSync(tool, args, { input: payload.data, maxBuffer: 1 << 30 });
    if (!r.stdout || r.stdout.length === 0) throw new GuestBuildError(`${tool} could not decompress the kernel payload: ${r.stderr?.toString().trim()}`);
    writeFileSync(vmlinux + '.tmp', r.stdout);
    renameSync(vmlinux + '.tmp', vmlinux);
  }
  const bb = join(fetchPackage('busybox-static', log), 'bin', 'busybox');
  return {
    kernel: new Uint8Array(readFileSync(vmlinux)), busybox: new Uint8Array(readFileSync(bb)), version,
    hypercallTool: hypercallTool(log),
  };
}

/** /init: mount the basics, announce readiness, run `command` (or a shell), report its status, and reset. */
export function initScript(command?: string): string {
  const run = command === undefined ? 'sh' : `sh -c ${shellQuote(command)}`;
  return `#!/bin/sh
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin
# Tell the hypervisor the guest has booted (hypapps such as kguard arm here).
[ -x /bin/xmhf-hypercall ] && /bin/xmhf-hypercall ready >/dev/null
echo "${READY_MARKER} $(cut -d' ' -f1 /proc/uptime)"
${run}
echo "${EXIT_MARKER} $?"
reboot -f
`;
}

function shellQuote(s: string): string { return `'${s.replace(/'/g, `'\\''`)}'`; }

/** The initramfs for the default guest running `command`. */
export function guestInitramfs(busybox: Uint8Array, command?: string, hypercallTool?: Uint8Array, extra: CpioEntry[] = []): Uint8Array {
  return initramfs([
    { path: 'bin', mode: S_IFDIR | 0o755 },
    { path: 'bin/busybox', mode: S_IFREG | 0o755, data: busybox },
    ...(hypercallTool ? [{ path: 'bin/xmhf-hypercall', mode: S_IFREG | 0o755, data: hypercallTool }] : []),
    { path: 'bin/sh', mode: S_IFLNK | 0o777, data: 'busybox' },
    { path: 'dev', mode: S_IFDIR | 0o755 },
    { path: 'init', mode: S_IFREG | 0o755, data: initScript(command) },
    ...extra,
  ]);
}
