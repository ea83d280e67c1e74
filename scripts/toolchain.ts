// `npm test`'s toolchain step (node --import tsx scripts/toolchain.ts): when
// as, ld, gcc, objcopy or objdump is missing from PATH, fetch Debian's own
// binutils, gcc and libc6-dev with `apt-get download` (no root needed) and
// unpack them into <cache>/toolchain/root, which tools/toolchain.ts then
// hands to everything that spawns those tools. Does nothing when the host has
// them or the tree is already there.
//
// Only the packages dpkg says are not installed are downloaded; the files of
// the installed ones (libc6, libgcc-s1, ...) are linked into the tree, so it
// is a complete sysroot for gcc --sysroot.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import {
  TOOLCHAIN_COMPLETE, TOOLCHAIN_PACKAGES, TOOLCHAIN_TOOLS, findOnPath, hostHasToolchain, toolchainRoot, unpackedToolchainReady,
} from '../tools/toolchain.js';

const log = (line: string) => process.stderr.write(`toolchain: ${line}\n`);

function fail(why: string): never {
  log(why);
  log(`install them instead: apt-get install ${TOOLCHAIN_PACKAGES.join(' ')}`);
  process.exit(1);
}

function run(file: string, args: string[], cwd?: string): string {
  const r = spawnSync(file, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error || r.status !== 0) fail(`${file} ${args.slice(0, 3).join(' ')} ... failed: ${(r.stderr || String(r.error)).trim().split('\n').at(-1)}`);
  return r.stdout;
}

/** The packages TOOLCHAIN_PACKAGES need, by Depends and Pre-Depends, for this machine's architecture. */
function closure(): string[] {
  const out = run('apt-cache', ['depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks',
    '--no-replaces', '--no-enhances', ...TOOLCHAIN_PACKAGES]);
  // Package names start a line; "<name>" is a virtual package, "name:arch" another architecture's.
  return [...new Set(out.split('\n').filter((l) => /^[a-z0-9][a-z0-9+.-]*$/.test(l)))].sort();
}

function installedPackages(): Set<string> {
  const out = run('dpkg-query', ['-W', '-f', '${Package} ${db:Status-Abbrev}\n']);
  return new Set(out.split('\n').filter((l) => / ii/.test(l)).map((l) => l.split(' ')[0]));
}

/** Download (once) the .deb of each package into `dir`; returns their paths. */
function download(packages: string[], dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const have = (pkg: string) => readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  const needed = packages.filter((p) => !have(p));
  if (needed.length) {
    log(`downloading ${needed.length} packages with apt-get download: ${needed.join(' ')}`);
    run('apt-get', ['download', ...needed], dir);
  }
  return packages.map((p) => {
    const deb = have(p);
    if (!deb) fail(`apt-get download ${p} left no .deb in ${dir}`);
    return join(dir, deb);
  });
}

/** Link the files of installed `packages` into `root` (not their documentation or configuration). */
function linkInstalled(packages: string[], root: string): void {
  if (!packages.length) return;
  const out = run('dpkg-query', ['-L', ...packages]);
  for (const path of out.split('\n')) {
    if (!path.startsWith('/') || /^\/(usr\/share|etc)\//.test(path)) continue;
    let isDir: boolean;
    try { isDir = lstatSync(path).isDirectory(); } catch { continue; }
    const at = join(root, path);
    if (isDir || existsSync(at)) continue;
    mkdirSync(dirname(at), { recursive: true });
    try { symlinkSync(path, at); } catch { /* another package listed it too */ }
  }
}

/** Absolute symlinks in the unpacked packages point at the host; point them into the tree (relatively, so it can move). */
function reRootSymlinks(dir: string, root: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const at = join(dir, entry.name);
    if (entry.isDirectory()) { reRootSymlinks(at, root); continue; }
    if (!entry.isSymbolicLink()) continue;
    const target = readlinkSync(at);
    if (!target.startsWith('/')) continue;
    const inside = join(root, target);
    if (!existsSync(inside)) continue;
    unlinkSync(at);
    symlinkSync(relative(dirname(at), inside), at);
  }
}

function main(): void {
  if (hostHasToolchain() || unpackedToolchainReady()) return;
  log(`${TOOLCHAIN_TOOLS.filter((t) => !findOnPath(t)).join(', ')} not on PATH: unpacking Debian's ${TOOLCHAIN_PACKAGES.join(', ')} into ${toolchainRoot()}`);
  for (const tool of ['apt-cache', 'apt-get', 'dpkg-deb', 'dpkg-query']) {
    if (!findOnPath(tool)) fail(`${tool} is not on PATH either, so the toolchain cannot be fetched`);
  }
  const started = Date.now();
  const all = closure();
  const installed = installedPackages();
  const missing = all.filter((p) => !installed.has(p));
  const root = toolchainRoot();
  const debs = download(missing, join(dirname(root), 'debs'));
  // Unpack beside the final place and rename, so a concurrent or interrupted run never leaves a half tree in use.
  const building = `${root}.${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  for (const deb of debs) execFileSync('dpkg-deb', ['-x', deb, building]);
  reRootSymlinks(building, building);
  linkInstalled(all.filter((p) => installed.has(p)), building);
  writeFileSync(join(building, TOOLCHAIN_COMPLETE), `${missing.join('\n')}\n`);
  rmSync(root, { recursive: true, force: true });
  renameSync(building, root);
  log(`unpacked ${missing.length} packages (${all.length - missing.length} already installed) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main();
