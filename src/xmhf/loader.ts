// Loads hypapps named on the command line: a shipped hypapp by name
// ("hello"), a TypeScript or JavaScript file by path, or an npm package.
// The module's default export is a hypapp or a factory taking its options.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Hypapp, HypappFactory } from '../hypapp/api.js';
import type { HypappSpec } from './vm.js';
import { errorMessage } from '../error-message.js';

const here = dirname(fileURLToPath(import.meta.url));
const SHIPPED = join(here, '..', '..', 'hypapps');

export class HypappLoadError extends Error {}

let hookRegistered = false;
function registerApiResolution(): void {
  if (hookRegistered) return;
  hookRegistered = true;
  register(pathToFileURL(join(here, 'resolve-hook.mjs')), {
    data: { apiUrl: pathToFileURL(join(here, '..', 'hypapp', 'api.ts')).href },
  });
}

/** The file a hypapp reference names. */
function resolveHypapp(ref: string, cwd = process.cwd()): string {
  for (const ext of ['.ts', '.js', '.mjs']) {
    const shipped = join(SHIPPED, `${ref}${ext}`);
    if (/^[a-z][a-z0-9-]*$/.test(ref) && existsSync(shipped)) return shipped;
  }
  const path = resolve(cwd, ref);
  if (existsSync(path)) return path;
  try {
    return createRequire(join(cwd, 'package.json')).resolve(ref);
  } catch {
    const shipped = ['hello', 'syscalls', 'kguard'].join(', ');
    throw new HypappLoadError(`--hypapp ${ref}: no such file, package or shipped hypapp (shipped: ${shipped})`);
  }
}

/** Import a hypapp module and instantiate it with `options`. */
export async function loadHypapp(ref: string, options: Record<string, string> = {}): Promise<HypappSpec> {
  const file = resolveHypapp(ref);
  registerApiResolution();
  let mod: { default?: unknown; hypapp?: unknown };
  try {
    mod = await import(`${pathToFileURL(file).href}?xmhf-hypapp`);
  } catch (e) {
    throw new HypappLoadError(`--hypapp ${ref}: ${file} failed to load: ${errorMessage(e)}`);
  }
  const exported = mod.default ?? mod.hypapp;
  const app = typeof exported === 'function' ? (exported as HypappFactory)(options) : exported;
  if (!app || typeof app !== 'object' || typeof (app as Hypapp).name !== 'string') {
    throw new HypappLoadError(`--hypapp ${ref}: ${file} must export default a hypapp (an object with a "name") or a function returning one`);
  }
  return { app: app as Hypapp, source: readFileSync(file), options };
}

/**
 * Options from `--hypapp-opt NAME.key=value` flags: NAME is the hypapp's
 * reference as given to --hypapp (or its shipped name).
 */
export function parseHypappOptions(flags: string[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const f of flags) {
    const m = /^([^.=]+)\.([^=]+)=(.*)$/s.exec(f);
    if (!m) throw new HypappLoadError(`--hypapp-opt ${f}: expected NAME.key=value (for example kguard.arm=ready)`);
    const o = out.get(m[1]) ?? {};
    o[m[2]] = m[3];
    out.set(m[1], o);
  }
  return out;
}

/** A JSON config: { "hypapps": [ { "hypapp": "hello", "options": { ... } } ] }. */
export function readHypappConfig(path: string): Array<{ ref: string; options: Record<string, string> }> {
  let json: unknown;
  try { json = JSON.parse(readFileSync(path, 'utf8')); } catch (e) {
    throw new HypappLoadError(`--hypapp-config ${path}: ${errorMessage(e)}`);
  }
  const list = (json as { hypapps?: unknown }).hypapps;
  if (!Array.isArray(list)) throw new HypappLoadError(`--hypapp-config ${path}: expected { "hypapps": [ { "hypapp": "...", "options": {...} } ] }`);
  return list.map((h, i) => {
    const ref = (h as { hypapp?: unknown }).hypapp;
    if (typeof ref !== 'string') throw new HypappLoadError(`--hypapp-config ${path}: hypapps[${i}].hypapp must be a string`);
    const options = Object.fromEntries(Object.entries((h as { options?: object }).options ?? {}).map(([k, v]) => [k, String(v)]));
    return { ref, options };
  });
}
