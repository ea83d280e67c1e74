// The GNU toolchain the tests and tools spawn (as, ld, gcc, objcopy,
// objdump): the host's when all of it is on PATH, otherwise Debian's own
// packages that scripts/toolchain.ts (run by `npm test`'s pretest) unpacked
// into <cache>/toolchain. This module says which, and how to run each tool.
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { cacheDir } from '../src/guest/debian.js';

export const TOOLCHAIN_TOOLS = ['as', 'ld', 'gcc', 'objcopy', 'objdump'] as const;
export type ToolName = (typeof TOOLCHAIN_TOOLS)[number];

/** The Debian packages whose dependency closure provides the tools, C headers and C start files. */
export const TOOLCHAIN_PACKAGES = ['binutils', 'gcc', 'libc6-dev'] as const;

/** Debian's multiarch directory name, under which the libraries live. */
const MULTIARCH = 'x86_64-linux-gnu';

/** Where the packages are unpacked: a sysroot (usr/bin, usr/lib, usr/include, lib, ...). */
export const toolchainRoot = (): string => join(cacheDir(), 'toolchain', 'root');
/** Written into the root last, so a half-unpacked tree is never used. */
export const TOOLCHAIN_COMPLETE = '.complete';

/** The executable `name` on PATH, if any. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try { accessSync(file, constants.X_OK); return file; } catch { /* next */ }
  }
  return undefined;
}

/** Every tool on PATH: use the host's. */
export const hostHasToolchain = (): boolean => TOOLCHAIN_TOOLS.every((t) => findOnPath(t));
export const unpackedToolchainReady = (): boolean => existsSync(join(toolchainRoot(), TOOLCHAIN_COMPLETE));

export interface ToolCommand {
  /** The executable to spawn. */
  file: string;
  /** Arguments that go before the caller's (gcc's --sysroot for the unpacked toolchain). */
  args: string[];
  env: NodeJS.ProcessEnv;
}

export class ToolchainMissingError extends Error {}

/** How to run `tool`: spawn `file` with `[...args, ...yours]` and `env`. */
export function toolCommand(tool: ToolName): ToolCommand {
  if (hostHasToolchain()) return { file: tool, args: [], env: process.env };
  const root = toolchainRoot();
  if (!unpackedToolchainReady()) {
    const missing = TOOLCHAIN_TOOLS.filter((t) => !findOnPath(t)).join(', ');
    throw new ToolchainMissingError(`${missing} not on PATH and no toolchain unpacked in ${root}: `
      + `run \`node --import tsx scripts/toolchain.ts\` (npm test does), or apt-get install ${TOOLCHAIN_PACKAGES.join(' ')}`);
  }
  const libs = [join(root, 'usr', 'lib', MULTIARCH), join(root, 'lib', MULTIARCH)];
  const env = {
    ...process.env,
    // gcc finds as, ld and its own cc1 relative to itself or on PATH; the tools' shared libraries come from the root.
    PATH: [join(root, 'usr', 'bin'), process.env.PATH].filter(Boolean).join(delimiter),
    LD_LIBRARY_PATH: [...libs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(delimiter),
  };
  // Headers, start files and libc come from the root too (it links the installed packages' files in).
  const args = tool === 'gcc' ? [`--sysroot=${root}`] : [];
  return { file: join(root, 'usr', 'bin', tool), args, env };
}

/** Why `tool` cannot run here, or false when it can (for node:test's `skip`). */
export function toolUnavailable(tool: ToolName): string | false {
  try { toolCommand(tool); return false; } catch (e) { return (e as Error).message; }
}
