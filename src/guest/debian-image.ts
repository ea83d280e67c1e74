// `xmhf image debian`: a Debian root filesystem image from Debian's own
// packages. apt (with the host's configured sources) resolves and downloads
// the packages' dependency closure against a private, empty dpkg status, so
// the host's installed set does not matter; the packages are unpacked without
// running maintainer scripts, given the little configuration a system booted
// straight into a command needs, and written as ext4 with `mke2fs -d` (no
// root mounts, no loop devices). Cached by the exact package versions.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { basename, join } from 'node:path';
import { cacheDir, GuestBuildError } from './debian.js';
import { readCacheRecord, writeCacheRecord } from './cache-record.js';
import { MERGED_USR_DIRS, ROOT_CONFIG_FILES } from './debian-root-config.js';

/** What a researcher needs to run a Python workload, and little else. */
export const DEFAULT_IMAGE_PACKAGES = [
  'base-files', 'bash', 'dash', 'coreutils', 'grep', 'sed', 'findutils', 'procps', 'util-linux', 'mount', 'python3',
] as const;

/** Changes whenever the way an image is made changes, so older cached images are not reused. */
const IMAGE_LAYOUT = 1;
/** Free space left in an image sized automatically, beyond what its files use. */
const AUTO_FREE_BYTES = 512 * 2 ** 20;
const MIB = 2 ** 20;

export interface ImagePackage { name: string; version: string }

export interface DebianImageOptions {
  packages?: readonly string[];
  /** Image size in bytes; default: the files plus AUTO_FREE_BYTES. */
  size?: number;
  log?: (line: string) => void;
}

export interface DebianImage { path: string; packages: ImagePackage[]; built: boolean }

const imagesDir = () => join(cacheDir(), 'images');
/** The record naming the image `--disk debian` means: the last one `xmhf image debian` built or found. */
const currentImageRecord = () => join(imagesDir(), 'debian');

function needTool(tool: string, pkg: string): void {
  if (spawnSync(tool, ['--help'], { stdio: 'ignore' }).error) throw new GuestBuildError(`building the Debian image needs "${tool}" (apt-get install ${pkg})`);
}

/** apt's options that make it resolve and download against an empty system into our own directories. */
function aptPrivate(work: string): string[] {
  const opts = [
    '-o', `Dir::State::status=${join(work, 'status')}`,
    '-o', `Dir::Cache=${work}`,
    '-o', `Dir::Cache::archives=${join(work, 'archives')}`,
    '-o', 'APT::Install-Recommends=false',
    '-o', 'Debug::NoLocking=true',
  ];
  // As root apt downloads as the user _apt, who cannot write into root's home: download as root instead.
  if (process.getuid?.() === 0) opts.push('-o', 'APT::Sandbox::User=root');
  return opts;
}

function aptWorkDir(): string {
  const work = join(imagesDir(), 'apt');
  mkdirSync(join(work, 'archives', 'partial'), { recursive: true });
  if (!existsSync(join(work, 'status'))) writeFileSync(join(work, 'status'), '');
  return work;
}

/** The packages `wanted` bring in, with their versions, as apt would install them on an empty system. */
export function resolvePackages(wanted: readonly string[]): ImagePackage[] {
  needTool('apt-get', 'apt');
  const r = spawnSync('apt-get', ['install', '-s', '-q', ...aptPrivate(aptWorkDir()), ...wanted], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n').filter((l) => l.startsWith('E:')).join('; ') || `status ${r.status}`;
    throw new GuestBuildError(`apt cannot resolve the image's packages (${wanted.join(', ')}): ${why}`);
  }
  const packages: ImagePackage[] = [];
  for (const m of r.stdout.matchAll(/^Inst (\S+) \((\S+) /gm)) packages.push({ name: m[1], version: m[2] });
  return packages.sort((a, b) => a.name.localeCompare(b.name));
}

/** The cache key: the exact package set, the size and how images are made. */
export function imageKey(packages: readonly ImagePackage[], size: number | undefined): string {
  const text = JSON.stringify({ layout: IMAGE_LAYOUT, size: size ?? 'auto', packages: packages.map((p) => `${p.name}=${p.version}`) });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** The image `--disk debian` names, or undefined when none has been built. */
export function currentDebianImage(): string | undefined {
  const name = readCacheRecord(currentImageRecord())?.trim();
  if (!name || !/^debian-[0-9a-f]{16}\.img$/.test(name)) return undefined;
  const path = join(imagesDir(), name);
  return existsSync(path) ? path : undefined;
}

/** Build (or find in the cache) the image of `packages` and make it the one `--disk debian` names. */
export async function debianImage(o: DebianImageOptions = {}): Promise<DebianImage> {
  const log = o.log ?? (() => {});
  const wanted = o.packages ?? DEFAULT_IMAGE_PACKAGES;
  log(`resolving ${wanted.join(', ')} with apt ...`);
  const packages = resolvePackages(wanted);
  const name = `debian-${imageKey(packages, o.size)}.img`;
  const path = join(imagesDir(), name);
  if (existsSync(path)) {
    writeCacheRecord(currentImageRecord(), name + '\n');
    log(`${packages.length} packages, the same versions as the cached image ${path}: reused`);
    return { path, packages, built: false };
  }
  const mke2fs = sbinTool('mke2fs');
  const root = process.getuid?.() === 0;
  const tools = [['dpkg-deb', 'dpkg'], ['tar', 'tar'], [mke2fs, 'e2fsprogs'], ...(root ? [] : [['fakeroot', 'fakeroot']])];
  for (const [tool, pkg] of tools) needTool(tool, pkg);
  const started = Date.now();
  const debs = await download(packages, log);
  const building = `${path}.${process.pid}`;
  const tree = `${building}.d`;
  try {
    rmSync(tree, { recursive: true, force: true });
    unpack(debs, tree, root, log);
    configure(tree);
    compilePython(tree, log);
    const used = treeBytes(tree);
    const size = o.size ?? Math.ceil((used * 1.15 + AUTO_FREE_BYTES) / MIB) * MIB;
    log(`writing ${(size / MIB).toFixed(0)} MiB ext4 image (${(used / MIB).toFixed(0)} MiB of files) ...`);
    makeExt4(mke2fs, tree, building, size, root);
    renameSync(building, path);
  } finally {
    rmSync(tree, { recursive: true, force: true });
    rmSync(building, { force: true });
    rmSync(fakerootState(tree), { force: true });
  }
  writeCacheRecord(currentImageRecord(), name + '\n');
  dropOlder(name, debs);
  log(`built ${path} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return { path, packages, built: true };
}

/**
 * Keep the cache bounded: only the image just built (the one `--disk debian`
 * names now) and the packages it was built from stay.
 */
function dropOlder(image: string, debs: readonly string[]): void {
  for (const f of readdirSync(imagesDir())) {
    if (/^debian-[0-9a-f]{16}\.img$/.test(f) && f !== image) rmSync(join(imagesDir(), f), { force: true });
  }
  const archives = join(aptWorkDir(), 'archives');
  const keep = new Set(debs.map((d) => basename(d)));
  for (const f of readdirSync(archives)) if (f.endsWith('.deb') && !keep.has(f)) rmSync(join(archives, f), { force: true });
}

/** Download the packages' .debs (apt keeps those it already has); returns their paths. */
async function download(packages: readonly ImagePackage[], log: (line: string) => void): Promise<string[]> {
  const work = aptWorkDir();
  const archives = join(work, 'archives');
  const debName = (p: ImagePackage) => `${p.name}_${p.version.replace(/:/g, '%3a')}_`;
  const have = () => readdirSync(archives).filter((f) => f.endsWith('.deb'));
  const find = (p: ImagePackage) => have().find((f) => f.startsWith(debName(p)));
  const missing = packages.filter((p) => !find(p));
  if (missing.length > 0) {
    log(`downloading ${missing.length} of ${packages.length} packages with apt-get ...`);
    const args = ['install', '-d', '-y', '-q', ...aptPrivate(work), ...missing.map((p) => `${p.name}=${p.version}`)];
    await new Promise<void>((resolve, reject) => {
      const child = spawn('apt-get', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let got = 0, err = '', partial = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop()!;
        for (const line of lines) {
          // Get:N URI SUITE/COMPONENT ARCH PACKAGE ARCH VERSION [SIZE]
          const m = /^Get:\d+ .* (\S+) \S+ \S+ \[([^\]]+)\]$/.exec(line);
          if (m) log(`  [${++got}/${missing.length}] ${m[1]} (${m[2]})`);
        }
      });
      child.stderr.setEncoding('utf8').on('data', (text: string) => { err += text; });
      child.on('error', reject);
      child.on('exit', (status) => status === 0 ? resolve()
        : reject(new GuestBuildError(`apt-get could not download the image's packages: ${err.trim().split('\n').filter((l) => l.startsWith('E:')).join('; ') || `status ${status}`}`)));
    });
  }
  return packages.map((p) => {
    const deb = find(p);
    if (!deb) throw new GuestBuildError(`apt-get left no .deb of ${p.name} ${p.version} in ${archives}`);
    return join(archives, deb);
  });
}

/** Run `argv` (under fakeroot as a user, so files keep the packages' owners), failing with its message. */
function run(argv: string[], root: boolean, fakerootState?: string, input?: string): void {
  const [file, args] = root ? [argv[0], argv.slice(1)] : ['fakeroot', ['-i', fakerootState!, '-s', fakerootState!, '--', ...argv]];
  const r = spawnSync(file, args, { encoding: 'utf8', input, maxBuffer: 1 << 26 });
  if (r.error || r.status !== 0) {
    throw new GuestBuildError(`${argv[0]} failed: ${(r.stderr || String(r.error ?? `status ${r.status}`)).trim().split('\n').slice(-3).join(' / ')}`);
  }
}

/** fakeroot's record of the owners it pretended to set, kept beside the tree. */
const fakerootState = (tree: string) => `${tree}.fakeroot`;

/**
 * Unpack every package into `tree` (data only: no maintainer scripts). The
 * merged-/usr symlinks come first and tar keeps them, as debootstrap lays out bookworm.
 */
function unpack(debs: readonly string[], tree: string, root: boolean, log: (line: string) => void): void {
  mkdirSync(tree, { recursive: true });
  for (const dir of MERGED_USR_DIRS) {
    mkdirSync(join(tree, 'usr', dir), { recursive: true });
    symlinkSync(`usr/${dir}`, join(tree, dir));
  }
  const state = fakerootState(tree);
  if (!root) writeFileSync(state, '');
  log(`unpacking ${debs.length} packages ...`);
  debs.forEach((deb, i) => {
    run(['sh', '-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x --keep-directory-symlink -f - -C "$2"', 'unpack', deb, tree], root, state);
    if ((i + 1) % 20 === 0 && i + 1 < debs.length) log(`  unpacked ${i + 1}/${debs.length}`);
  });
}

/** The configuration maintainer scripts and an installer would have written. */
function configure(tree: string): void {
  for (const [path, { text, mode }] of Object.entries(ROOT_CONFIG_FILES)) {
    const at = join(tree, path);
    mkdirSync(join(at, '..'), { recursive: true });
    rmSync(at, { force: true });
    writeFileSync(at, text, { mode });
  }
  for (const dir of ['proc', 'sys', 'dev', 'run', 'tmp', 'root', 'mnt', 'var/tmp']) mkdirSync(join(tree, dir), { recursive: true, mode: 0o755 });
  for (const dir of ['tmp', 'var/tmp']) spawnSync('chmod', ['1777', join(tree, dir)]);
  // Debian's /bin/sh is dash (dash's postinst makes the link).
  if (existsSync(join(tree, 'usr/bin/dash')) && !existsSync(join(tree, 'usr/bin/sh'))) symlinkSync('dash', join(tree, 'usr/bin/sh'));
}

/**
 * Byte-compile the Python standard library, as python3's postinst does, with
 * the image's own interpreter run through its own dynamic loader: without
 * .pyc files every run on a snapshot disk would compile the modules it imports again.
 */
function compilePython(tree: string, log: (line: string) => void): void {
  const libs = readdirSync(join(tree, 'usr/lib')).filter((d) => /^python3\.\d+$/.test(d));
  const loader = join(tree, 'usr/lib64/ld-linux-x86-64.so.2');
  for (const lib of libs) {
    const python = join(tree, 'usr/bin', lib);
    if (!existsSync(python) || !existsSync(loader)) continue;
    log(`byte-compiling ${lib}'s standard library ...`);
    const r = spawnSync(loader, ['--library-path', join(tree, 'usr/lib/x86_64-linux-gnu'), python, '-E', '-s', '-m', 'compileall', '-q', '-j', '0',
      '-s', tree, '-p', '/', '-x', '/(test|idlelib|lib2to3/tests)/', join(tree, 'usr/lib', lib)],
    { encoding: 'utf8', env: { PYTHONHOME: join(tree, 'usr'), PATH: process.env.PATH ?? '' }, maxBuffer: 1 << 26 });
    if (r.status !== 0) log(`  could not byte-compile ${lib} (${(r.stderr || String(r.error)).trim().split('\n').at(-1)}); the guest compiles what it imports`);
  }
}

function treeBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += treeBytes(p) + 4096;
    else total += e.isFile() ? Math.ceil(lstatSync(p).size / 4096) * 4096 : 4096;
  }
  return total;
}

/** ext4 features every 6.x kernel mounts, fixed here rather than taken from the host's /etc/mke2fs.conf. */
const MKE2FS_CONF = `[defaults]
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
`;

/** `tool` from PATH, else from /usr/sbin or /sbin (a user's PATH often lacks them). */
export function sbinTool(tool: string): string {
  if (!spawnSync(tool, ['-V'], { stdio: 'ignore' }).error) return tool;
  return ['/usr/sbin', '/sbin'].map((d) => join(d, tool)).find((p) => existsSync(p)) ?? tool;
}

/** Write `tree` as an ext4 image of `size` bytes at `image`. */
function makeExt4(mke2fs: string, tree: string, image: string, size: number, root: boolean): void {
  const conf = `${image}.mke2fs.conf`;
  writeFileSync(conf, MKE2FS_CONF);
  try {
    const args = [mke2fs, '-q', '-F', '-t', 'ext4', '-L', 'debian', '-E', 'root_owner=0:0', '-d', tree, image, `${size / 1024}k`];
    const env = `MKE2FS_CONFIG=${conf}`;
    run(['env', env, ...args], root, fakerootState(tree));
  } catch (e) {
    const tooSmall = /No space|Could not allocate|too many|enough space/i.test((e as Error).message);
    throw tooSmall ? new GuestBuildError(`--size ${(size / MIB).toFixed(0)}M is too small for the image's files (${(treeBytes(tree) / MIB).toFixed(0)} MiB)`) : e;
  } finally {
    rmSync(conf, { force: true });
    rmSync(fakerootState(tree), { force: true });
  }
  if (statSync(image).size !== size) throw new GuestBuildError(`mke2fs wrote ${statSync(image).size} bytes, not ${size}`);
}
