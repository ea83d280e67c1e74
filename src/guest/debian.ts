// The default guest: Debian's own kernel and busybox-static, fetched with
// `apt-get download` into ~/.cache/xmhf-ts, the kernel extracted from its
// bzImage once (so boots skip its self-decompression), and an initramfs
// built here whose /init loads the kernel's virtio modules, runs one command
// between two markers (on a root disk when the command line names one) and powers off.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseBzImage, bzImagePayload } from '../boot/bzimage.js';
import { initramfs, S_IFDIR, S_IFREG, S_IFLNK, type CpioEntry } from './cpio.js';
import { hypercallToolElf } from './hypercall-tool.js';
import { resolveModules, VIRTIO_MODULES, OPTIONAL_VIRTIO_MODULES, SHARE_MODULES, type KernelModule } from './modules.js';
import { readCacheRecord, writeCacheRecord } from './cache-record.js';
import { ROOT_MODULES, rootSwitchScript, COMMAND_SCRIPT } from './root-disk.js';

export const READY_MARKER = 'XMHF-READY';
export const EXIT_MARKER = 'XMHF-EXIT';
/** The default guest's kernel command line (`xmhf run --exec` adds quiet); panic=-1 reboots at once on a panic, which ends the run. */
export const GUEST_CMDLINE = 'console=ttyS0 cryptomgr.notests panic=-1';

export class GuestBuildError extends Error {}

export function cacheDir(): string {
  return process.env.XMHF_CACHE ?? join(homedir(), '.cache', 'xmhf-ts');
}

const onPath = (tool: string) => !spawnSync(tool, ['--version'], { stdio: 'ignore' }).error;

/** Fail with the package to install when the host lacks `tool`. */
export function need(tool: string, pkg: string): void {
  if (!onPath(tool)) {
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
  writeCacheRecord(join(unpacked, '.done'), deb + '\n');
  log(`unpacked ${deb}`);
  return unpacked;
}

/** Where the chosen kernel package's name is recorded, so later runs need not ask apt (which takes most of a second). */
const recordedKernelPackage = () => join(cacheDir(), 'kernel-package');
/** What a kernel package the record can name looks like (linux-image-<version>-amd64). */
const KERNEL_PACKAGE = /^linux-image-[0-9][^\s/]*-amd64$/;

/** The kernel package linux-image-amd64 depends on now, as apt says. */
function aptKernelPackage(): string {
  need('apt-cache', 'apt');
  const out = spawnSync('apt-cache', ['depends', 'linux-image-amd64'], { encoding: 'utf8' }).stdout ?? '';
  const m = /Depends: (linux-image-[0-9][^\s]*-amd64)\b/.exec(out);
  if (!m) throw new GuestBuildError('apt-cache does not know linux-image-amd64 (run apt-get update, or pass --kernel)');
  return m[1];
}

/**
 * The kernel package to use: the recorded one; apt's on the first run; apt's
 * when refreshing (`xmhf guest`), saying so when that changes the kernel or
 * repairs the record. A damaged record is an error outside a refresh: using
 * apt's kernel instead would switch kernels silently.
 */
function kernelPackage(refresh: boolean, log: (line: string) => void): string {
  const path = recordedKernelPackage();
  const text = readCacheRecord(path);
  const recorded = text?.trim();
  const valid = recorded !== undefined && KERNEL_PACKAGE.test(recorded);
  const damage = text === undefined ? '' : text.trim() === '' ? 'is empty' : valid ? '' : `does not name a kernel package (${JSON.stringify(text.slice(0, 60))})`;
  if (!refresh) {
    if (valid) return recorded;
    if (damage) throw new GuestBuildError(`the cache record ${path} ${damage}; run "xmhf guest" to repair it (it records the kernel apt offers now)`);
    const pkg = aptKernelPackage();
    log(`the default guest's kernel: ${pkg} (recorded in ${path}; "xmhf guest" updates it)`);
    return pkg;
  }
  const pkg = aptKernelPackage();
  if (damage) log(`the cache record ${path} ${damage}; repaired: ${pkg}`);
  else if (valid && recorded !== pkg) log(`switching the default guest's kernel from ${recorded} to ${pkg} (linux-image-amd64 now depends on it)`);
  return pkg;
}

export interface DefaultGuest {
  /** The uncompressed kernel (vmlinux ELF with a PVH entry). */
  kernel: Uint8Array;
  busybox: Uint8Array;
  version: string;
  /** The virtio drivers, in load order (each after its dependencies). */
  modules: KernelModule[];
  /** What mounting a root disk needs besides `modules`, in load order (loaded only when the command line names a root). */
  rootModules: KernelModule[];
  /** The 9P filesystem's modules not among `modules`, in load order (loaded when the machine has a share). */
  shareModules?: KernelModule[];
  /** /bin/xmhf-hypercall (left out by boots with no XMHF core to answer it). */
  hypercallTool?: Uint8Array;
}

/**
 * Fetch and prepare the default guest's kernel and busybox (cached after the
 * first time). `refresh` asks apt which kernel linux-image-amd64 means now,
 * instead of using the one recorded in the cache.
 */
export function defaultGuest(log: (line: string) => void = () => {}, opts: { refresh?: boolean } = {}): DefaultGuest {
  const pkg = kernelPackage(opts.refresh ?? false, log);
  const version = pkg.replace(/^linux-image-/, '');
  const vmlinux = join(cacheDir(), `vmlinux-${version}`);
  const dir = fetchPackage(pkg, log);
  writeCacheRecord(recordedKernelPackage(), pkg + '\n');
  if (!existsSync(vmlinux)) {
    const bz = new Uint8Array(readFileSync(join(dir, 'boot', `vmlinuz-${version}`)));
    const payload = bzImagePayload(bz, parseBzImage(bz, `vmlinuz-${version}`));
    if (payload.format !== 'xz' && payload.format !== 'gzip') throw new GuestBuildError(`the kernel payload is ${payload.format}; only xz and gzip are extracted here`);
    // gzip is part of every Debian; xz-utils is not, so it is fetched like the kernel when missing.
    const tool = payload.format === 'gzip' ? 'gzip' : onPath('xz') ? 'xz' : join(fetchPackage('xz-utils', log), 'usr', 'bin', 'xz');
    need(tool, payload.format === 'xz' ? 'xz-utils' : 'gzip');
    log(`extracting the uncompressed kernel from vmlinuz-${version} ...`);
    // The payload ends with the decompressed size after the compressed stream: decode one stream only.
    const args = payload.format === 'xz' ? ['-dc', '--single-stream'] : ['-dc'];
    const r = spawnSync(tool, args, { input: payload.data, maxBuffer: 1 << 30 });
    if (!r.stdout || r.stdout.length === 0) throw new GuestBuildError(`${tool} could not decompress the kernel payload: ${r.stderr?.toString().trim()}`);
    const tmp = `${vmlinux}.${process.pid}.tmp`;
    writeFileSync(tmp, r.stdout);
    renameSync(tmp, vmlinux);
  }
  const bb = join(fetchPackage('busybox-static', log), 'bin', 'busybox');
  const modules = resolveModules(join(dir, 'lib', 'modules', version), VIRTIO_MODULES, OPTIONAL_VIRTIO_MODULES);
  const shareModules = resolveModules(join(dir, 'lib', 'modules', version), SHARE_MODULES)
    .filter((m) => !modules.some((v) => v.name === m.name));
  const rootModules = resolveModules(join(dir, 'lib', 'modules', version), ROOT_MODULES)
    .filter((m) => !modules.some((v) => v.name === m.name) && !shareModules.some((v) => v.name === m.name));
  const bytes = (path: string) => { const b = readFileSync(path); return new Uint8Array(b.buffer, b.byteOffset, b.length); };
  return { kernel: bytes(vmlinux), busybox: bytes(bb), version, modules, shareModules, rootModules, hypercallTool: hypercallToolElf() };
}

/** Where a module goes in the initramfs. */
const modulePath = (m: KernelModule) => `lib/modules/${m.path}`;

/** How the default guest mounts a share (xmhf run --share): `mount -t 9p -o SHARE_MOUNT_OPTIONS TAG /mnt/TAG`. */
export const SHARE_MOUNT_OPTIONS = 'trans=virtio,version=9p2000.L,msize=512000';

/**
 * Shell lines that, when the machine has a virtio 9P device (virtio ID 9),
 * load `shareModules` and mount every share at /mnt/TAG, the tags read from
 * sysfs (mount_tag holds the tag and a NUL).
 */
export function shareMountScript(shareModules: readonly string[]): string {
  if (shareModules.length === 0) return '';
  const insmod = shareModules.map((m) => `  insmod /${m} || echo "xmhf: could not load /${m}"\n`).join('');
  return `if grep -qx 0x0009 /sys/bus/virtio/devices/*/device 2>/dev/null; then
${insmod}  for t in /sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag; do
    tag=$(tr -d '\\000' < "$t")
    mkdir -p "/mnt/$tag" && mount -t 9p -o ${SHARE_MOUNT_OPTIONS} "$tag" "/mnt/$tag" || echo "xmhf: could not mount the share $tag"
  done
fi
`;
}

/**
 * /init: mount the basics, load `modules` (paths, in order), mount the host's
 * shares (loading `shareModules` for them), switch to a root disk when the
 * command line names one (loading `rootModules` for it), and run the command
 * script (commandScript), in the initramfs or on that root.
 */
export function initScript(modules: readonly string[] = [], shareModules: readonly string[] = [], rootModules: readonly string[] = []): string {
  const insmod = modules.map((m) => `insmod /${m} || echo "xmhf: could not load /${m}"\n`).join('');
  return `#!/bin/sh
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin
${insmod}${shareMountScript(shareModules)}${rootModules.length > 0 ? rootSwitchScript(rootModules) : ''}exec /bin/sh ${COMMAND_SCRIPT}
`;
}

/**
 * The command script: announce readiness, run `command` (or a shell), report
 * its status, and power off. It runs under the initramfs's busybox sh or a
 * root disk's /bin/sh, so busybox's own tools are called through busybox.
 */
export function commandScript(command?: string): string {
  // The interactive shell gets the console as its controlling terminal (setsid, then cttyhack opens it), so Ctrl-C reaches its commands.
  const run = command === undefined ? 'busybox setsid busybox cttyhack ${XMHF_SHELL:-sh}' : `sh -c ${shellQuote(command)}`;
  return `#!/bin/sh
# Tell the hypervisor the guest has booted (hypapps such as kguard arm here, after the modules).
command -v xmhf-hypercall >/dev/null && xmhf-hypercall ready >/dev/null
echo "${READY_MARKER} $(cut -d' ' -f1 /proc/uptime)"
${run}
echo "${EXIT_MARKER} $?"
busybox poweroff -f
`;
}

function shellQuote(s: string): string { return `'${s.replace(/'/g, `'\\''`)}'`; }

/** What goes into the default guest's initramfs besides /init. */
export type GuestParts = Pick<DefaultGuest, 'busybox' | 'hypercallTool'> & {
  modules?: readonly KernelModule[]; shareModules?: readonly KernelModule[]; rootModules?: readonly KernelModule[];
};

/**
 * The initramfs for the default guest running `command`, with `modules` under
 * /lib/modules. Stored, not deflated (gzip level 0): inflating it cost the
 * guest about 40 million instructions per boot, copying costs next to none.
 * `extra` adds files (tests put their guest programs there); their parent
 * directories are made for them.
 */
export function guestInitramfs(guest: GuestParts, command?: string, extra: CpioEntry[] = []): Uint8Array {
  const { busybox, modules = [], shareModules = [], rootModules = [], hypercallTool } = guest;
  // Every file's parent directories, made once (bin and dev are listed below).
  const dirs = new Set<string>();
  for (const path of [...modules, ...shareModules, ...rootModules].map(modulePath).concat(extra.map((e) => e.path))) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  dirs.delete('bin');
  dirs.delete('dev');
  const entries: CpioEntry[] = [
    { path: 'bin', mode: S_IFDIR | 0o755 },
    { path: 'bin/busybox', mode: S_IFREG | 0o755, data: busybox },
    ...(hypercallTool ? [{ path: 'bin/xmhf-hypercall', mode: S_IFREG | 0o755, data: hypercallTool }] : []),
    { path: 'bin/sh', mode: S_IFLNK | 0o777, data: 'busybox' },
    { path: 'dev', mode: S_IFDIR | 0o755 },
    ...[...dirs].sort().map((path) => ({ path, mode: S_IFDIR | 0o755 })),
    ...[...modules, ...shareModules, ...rootModules].map((m) => ({ path: modulePath(m), mode: S_IFREG | 0o644, data: m.data })),
    { path: 'init', mode: S_IFREG | 0o755, data: initScript(modules.map(modulePath), shareModules.map(modulePath), rootModules.map(modulePath)) },
    { path: COMMAND_SCRIPT.slice(1), mode: S_IFREG | 0o755, data: commandScript(command) },
    ...extra.filter((e) => !dirs.has(e.path)),
  ];
  return initramfs(entries, { level: 0 });
}
