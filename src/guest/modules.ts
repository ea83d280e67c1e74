// Picks kernel modules out of an unpacked kernel package and orders them for
// loading: each module after the ones its .modinfo depends= names, worked out
// here because the package ships no modules.dep for modprobe.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, basename } from 'node:path';
import { parseModInfo } from './modinfo.js';

/** The virtio drivers the default guest loads; virtio_rng only where the kernel has it. */
export const VIRTIO_MODULES = [
  'virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'virtio_mmio',
  'virtio_blk', 'virtio_net', 'virtio_console', 'virtio_balloon',
  'vsock', 'vmw_vsock_virtio_transport_common', 'vmw_vsock_virtio_transport',
] as const;
export const OPTIONAL_VIRTIO_MODULES = ['virtio_rng'] as const;
/** Host folders (virtio-9p): the 9P filesystem and its virtio transport; loaded only when a 9P device is present. */
export const SHARE_MODULES = ['9pnet_virtio', '9p'] as const;

export class ModuleResolveError extends Error {}

const SIGNATURE_MARKER = new TextEncoder().encode('~Module signature appended~\n');
/** struct module_signature: algo, hash, id_type, signer_len, key_id_len, pad[3], sig_len (big-endian). */
const MODULE_SIGNATURE_SIZE = 12;
const PKEY_ID_PKCS7 = 2;

/**
 * The module without its appended signature, or as it is if unsigned. Our
 * guest's kernel verifies signed modules in software (SHA-256 and RSA-4096
 * in generic C): 130 million of the 150 million instructions its 13 virtio
 * modules cost to load. The files come from a package apt has verified, so
 * the initramfs carries them unsigned (the kernel notes it as taint E).
 */
export function stripModuleSignature(data: Uint8Array): Uint8Array {
  const end = data.length - SIGNATURE_MARKER.length;
  if (end < MODULE_SIGNATURE_SIZE || !SIGNATURE_MARKER.every((b, i) => data[end + i] === b)) return data;
  const sig = new DataView(data.buffer, data.byteOffset + end - MODULE_SIGNATURE_SIZE, MODULE_SIGNATURE_SIZE);
  const sigLen = sig.getUint32(8, false);
  const length = end - MODULE_SIGNATURE_SIZE - sigLen;
  if (sig.getUint8(2) !== PKEY_ID_PKCS7 || length <= 0) throw new ModuleResolveError('malformed module signature');
  return data.subarray(0, length);
}

export interface KernelModule {
  name: string;
  /** Path under the modules directory (lib/modules/<version>), e.g. "kernel/drivers/virtio/virtio.ko". */
  path: string;
  depends: string[];
  /** The module file without its signature (see stripModuleSignature). */
  data: Uint8Array;
}

/** A module's name from its file name, as the kernel derives it (dashes become underscores). */
export function moduleNameOf(file: string): string {
  return basename(file).replace(/\.ko$/, '').replace(/-/g, '_');
}

/** Every .ko under `modulesDir`, by module name: from modules.order (a list of them all) if there is one, else by walking kernel/. */
function indexModules(modulesDir: string): Map<string, string> {
  const index = new Map<string, string>();
  const order = join(modulesDir, 'modules.order');
  if (existsSync(order)) {
    for (const line of readFileSync(order, 'utf8').split('\n')) {
      if (line.endsWith('.ko')) index.set(moduleNameOf(line), line);
    }
    if (index.size > 0) return index;
  }
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.ko')) index.set(moduleNameOf(entry.name), relative(modulesDir, p));
    }
  };
  walk(join(modulesDir, 'kernel'));
  return index;
}

/** Modules compiled into the kernel (modules.builtin), which need no loading. */
function builtinModules(modulesDir: string): Set<string> {
  const file = join(modulesDir, 'modules.builtin');
  if (!existsSync(file)) return new Set();
  return new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean).map(moduleNameOf));
}

/**
 * Order `names` so that each comes after everything it depends on: a depth-
 * first walk in the given order, so the result is deterministic. Throws on a
 * dependency cycle or a dependency `depends` does not know.
 */
export function loadOrder(names: readonly string[], depends: (name: string) => readonly string[] | undefined): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new ModuleResolveError(`module dependency cycle: ${[...path, name].join(' -> ')}`);
    const deps = depends(name);
    if (deps === undefined) throw new ModuleResolveError(`module ${name} (needed by ${path.at(-1) ?? 'the guest'}) is not in the kernel package`);
    state.set(name, 'visiting');
    for (const d of deps) visit(d, [...path, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const n of names) visit(n, []);
  return order;
}

/**
 * The modules `wanted` and `optional` (skipped if absent) name, with their
 * dependencies, from `modulesDir` (an unpacked lib/modules/<version>), in load order.
 * Modules built into the kernel are left out.
 */
export function resolveModules(modulesDir: string, wanted: readonly string[], optional: readonly string[] = []): KernelModule[] {
  if (!existsSync(join(modulesDir, 'kernel')) || !statSync(join(modulesDir, 'kernel')).isDirectory()) {
    throw new ModuleResolveError(`${modulesDir} has no kernel/ directory of modules`);
  }
  const index = indexModules(modulesDir);
  const builtin = builtinModules(modulesDir);
  const loaded = new Map<string, KernelModule>();
  const load = (name: string): KernelModule | undefined => {
    if (loaded.has(name)) return loaded.get(name);
    const path = index.get(name);
    if (!path) return undefined;
    const file = readFileSync(join(modulesDir, path));
    const data = stripModuleSignature(new Uint8Array(file.buffer, file.byteOffset, file.length));
    const info = parseModInfo(data);
    if (info.name !== name) throw new ModuleResolveError(`${path} says its name is ${info.name}, not ${name}`);
    const m = { name, path, depends: info.depends.filter((d) => !builtin.has(d)), data };
    loaded.set(name, m);
    return m;
  };
  const roots = [...wanted, ...optional.filter((n) => index.has(n))].filter((n) => !builtin.has(n));
  const order = loadOrder(roots, (name) => load(name)?.depends);
  return order.map((name) => loaded.get(name)!);
}
