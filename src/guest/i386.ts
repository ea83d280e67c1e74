// 32-bit (i386) Debian packages: Debian's 686 and 686-pae kernels and
// busybox-static:i386, fetched with `apt-get download` into
// ~/.cache/xmhf-ts/packages-i386 (apart from the amd64 packages, whose .deb
// files share these names) and unpacked with `dpkg-deb -x`. apt only sees
// them once the host has the i386 architecture configured
// (`dpkg --add-architecture i386 && apt-get update`).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, GuestBuildError, need } from './debian.js';

/** Debian's 32-bit kernel flavours: 2-level paging (686) and PAE paging (686-pae). */
export type I386Flavour = '686' | '686-pae';

const packagesDir = () => join(cacheDir(), 'packages-i386');

/** Why i386 packages cannot be fetched on this host, or undefined when apt knows the architecture. */
export function i386ArchitectureMissing(): string | undefined {
  const r = spawnSync('dpkg', ['--print-foreign-architectures'], { encoding: 'utf8' });
  if (r.error) return 'dpkg is not installed';
  if (!r.stdout.split(/\s+/).includes('i386')) {
    return 'the i386 architecture is not configured (as root: dpkg --add-architecture i386 && apt-get update)';
  }
  return undefined;
}

/** Write `text` to `path` so readers see either nothing or all of it. */
function writeAtomically(path: string, text: string | Uint8Array): void {
  writeFileSync(`${path}.${process.pid}.tmp`, text);
  renameSync(`${path}.${process.pid}.tmp`, path);
}

/**
 * Download the i386 package `pkg` (once) and unpack it; returns the unpack
 * directory. Each process downloads and unpacks into its own temporary
 * directory and renames the result into place, so test files fetching the
 * same package at once never see half of it.
 */
export function fetchI386Package(pkg: string, log: (line: string) => void = () => {}): string {
  const dir = packagesDir();
  const unpacked = join(dir, `${pkg}.d`);
  if (existsSync(join(unpacked, '.done'))) return unpacked;
  const missing = i386ArchitectureMissing();
  if (missing) throw new GuestBuildError(`cannot fetch ${pkg}:i386: ${missing}`);
  need('apt-get', 'apt');
  need('dpkg-deb', 'dpkg');
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, `.${pkg}-`));
  try {
    log(`downloading ${pkg}:i386 with apt-get ...`);
    const r = spawnSync('apt-get', ['download', `${pkg}:i386`], { cwd: work, encoding: 'utf8' });
    if (r.status !== 0) throw new GuestBuildError(`apt-get download ${pkg}:i386 failed: ${(r.stderr || String(r.error)).trim().split('\n').at(-1)}`);
    const deb = readdirSync(work).find((f) => f.endsWith('_i386.deb'));
    if (!deb) throw new GuestBuildError(`apt-get download ${pkg}:i386 left no .deb`);
    const x = spawnSync('dpkg-deb', ['-x', deb, 'root'], { cwd: work, encoding: 'utf8' });
    if (x.status !== 0) throw new GuestBuildError(`dpkg-deb -x ${deb} failed: ${x.stderr.trim()}`);
    writeFileSync(join(work, 'root', '.done'), deb + '\n');
    try {
      renameSync(join(work, 'root'), unpacked);
    } catch (e) {
      // Another process put it there first: theirs is as good as ours.
      if (!existsSync(join(unpacked, '.done'))) throw e;
    }
    log(`unpacked ${deb}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return unpacked;
}

/** Where the package a flavour's meta-package pointed at is recorded, so later runs need not ask apt. */
const recordedKernelPackage = (flavour: I386Flavour) => join(packagesDir(), `kernel-package-${flavour}`);

/** The versioned kernel package linux-image-<flavour>:i386 depends on (linux-image-6.1.0-57-686). */
function kernelPackage(flavour: I386Flavour, refresh: boolean): string {
  const record = recordedKernelPackage(flavour);
  if (!refresh && existsSync(record)) {
    const pkg = readFileSync(record, 'utf8').trim();
    if (existsSync(join(packagesDir(), `${pkg}.d`, '.done'))) return pkg;
  }
  const missing = i386ArchitectureMissing();
  if (missing) throw new GuestBuildError(`cannot find linux-image-${flavour}:i386: ${missing}`);
  need('apt-cache', 'apt');
  const out = spawnSync('apt-cache', ['depends', `linux-image-${flavour}:i386`], { encoding: 'utf8' }).stdout ?? '';
  const m = new RegExp(`Depends: (linux-image-[0-9][^\\s:]*-${flavour})(:i386)?\\s`).exec(out);
  if (!m) throw new GuestBuildError(`apt-cache does not know linux-image-${flavour}:i386 (run apt-get update)`);
  return m[1];
}

export interface I386Kernel {
  /** The bzImage exactly as Debian ships it (/boot/vmlinuz-<version>). */
  bzImage: Uint8Array;
  /** E.g. 6.1.0-57-686-pae. */
  version: string;
}

const bytes = (path: string) => { const b = readFileSync(path); return new Uint8Array(b.buffer, b.byteOffset, b.length); };

/** Debian's 32-bit kernel of `flavour` (fetched once; `refresh` asks apt for the current version). */
export function i386Kernel(flavour: I386Flavour, log: (line: string) => void = () => {}, opts: { refresh?: boolean } = {}): I386Kernel {
  mkdirSync(packagesDir(), { recursive: true });
  const pkg = kernelPackage(flavour, opts.refresh ?? false);
  const dir = fetchI386Package(pkg, log);
  writeAtomically(recordedKernelPackage(flavour), pkg + '\n');
  const version = pkg.replace(/^linux-image-/, '');
  return { bzImage: bytes(join(dir, 'boot', `vmlinuz-${version}`)), version };
}

/** Debian's busybox-static:i386: a static 32-bit glibc busybox. */
export function i386Busybox(log: (line: string) => void = () => {}): Uint8Array {
  return bytes(join(fetchI386Package('busybox-static', log), 'bin', 'busybox'));
}

export interface I386Guest {
  kernels: Record<I386Flavour, string>;
  /** An initramfs of the 32-bit busybox whose /init gives a shell on the console, then powers off. */
  initrd: string;
}

/**
 * Fetch both 32-bit kernels and busybox-static:i386 and write an initramfs
 * for them into the cache: the files `xmhf run --kernel --initrd` boots.
 */
export function prepareI386Guest(initramfsFor: (busybox: Uint8Array) => Uint8Array, log: (line: string) => void = () => {}): I386Guest {
  const kernels = {} as Record<I386Flavour, string>;
  for (const flavour of ['686', '686-pae'] as const) {
    const k = i386Kernel(flavour, log, { refresh: true });
    kernels[flavour] = join(packagesDir(), `linux-image-${k.version}.d`, 'boot', `vmlinuz-${k.version}`);
  }
  const initrd = join(packagesDir(), 'initrd-busybox-i386.img');
  writeAtomically(initrd, initramfsFor(i386Busybox(log)));
  return { kernels, initrd };
}
