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
    data: {
      apiUrl: pathToFileURL(join(here, '..', 'hypapp', 'api.ts')).href,
      linuxUrl: pathToFileURL(join(here, '..', 'linux', 'index.ts')).href,
    },
  });
}

/** The file a hypapp reference names. */
export function resolveHypapp(ref: string, cwd = process.cwd()): string {
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
  let app: unknown = exported;
  if (typeof exported === 'function') {
    try {
      app = (exported as HypappFactory)(options);
    } catch (e) {
      throw new HypappLoadError(`--hypapp ${ref}: its factory threw: ${errorMessage(e)}`);
    }
  }
  if (!app || typeof app !== 'object' || typeof (app as Hypapp).name !== 'string') {
    const got = typeof exported === 'function' ? `its factory returned ${describe(app)}` : `it exports ${describe(exported)}`;
    throw new HypappLoadError(`--hypapp ${ref}: ${file} must export default a hypapp (an object with a "name") or a function returning one; ${got}`);
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

/** What a value is, for messages about values of the wrong kind. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object without a string "name"';
  return typeof v === 'string' ? `a string` : typeof v === 'undefined' ? 'nothing' : `a ${typeof v}`;
}

const CONFIG_SHAPE = '{ "hypapps": [ { "hypapp": "...", "options": { "key": "value" } } ] }';

/**
 * The hypapps a JSON config names (`text`, read from `path`), in order:
 * { "hypapps": [ { "hypapp": "hello", "options": { ... } } ] }. Option values
 * are strings, numbers or booleans (given to the hypapp as strings).
 */
export function parseHypappConfig(text: string, path: string): Array<{ ref: string; options: Record<string, string> }> {
  const fail = (why: string): never => { throw new HypappLoadError(`--hypapp-config ${path}: ${why}`); };
  let json: unknown;
  try { json = JSON.parse(text); } catch (e) {
    fail(`not JSON: ${errorMessage(e)}`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(json)) return fail(`expected ${CONFIG_SHAPE}, got ${describe(json)}`);
  const list = json.hypapps;
  if (!Array.isArray(list)) return fail(`expected ${CONFIG_SHAPE}; "hypapps" is ${list === undefined ? 'missing' : `not an array`}`);
  return list.map((h: unknown, i) => {
    if (!isObject(h)) return fail(`hypapps[${i}] must be an object { "hypapp": "...", "options": {...} }`);
    const ref = h.hypapp;
    if (typeof ref !== 'string' || ref === '') return fail(`hypapps[${i}].hypapp must be a hypapp reference (a non-empty string)`);
    const given = h.options ?? {};
    if (!isObject(given)) return fail(`hypapps[${i}].options must be an object of option names to values`);
    const options: Record<string, string> = {};
    for (const [k, v] of Object.entries(given)) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
        fail(`hypapps[${i}].options.${k} must be a string, number or boolean`);
      }
      options[k] = String(v);
    }
    return { ref, options };
  });
}
