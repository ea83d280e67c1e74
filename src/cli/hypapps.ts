// The hypapps `xmhf run` loads: --hypapp references and --hypapp-config
// entries, in that order, each with its --hypapp-opt options. Files are
// checked (regular, bounded) before they are imported or parsed.
import { basename } from 'node:path';
import type { HypappSpec } from '../xmhf/vm.js';
import { loadHypapp, resolveHypapp, parseHypappOptions, parseHypappConfig, HypappLoadError } from '../xmhf/loader.js';
import { readInputFile, checkInputFile } from './input-file.js';

/** Largest hypapp module file loaded (a hypapp is source code; anything bigger is a mistake). */
const HYPAPP_MAX_BYTES = 16 * 1024 * 1024;
/** Largest --hypapp-config file read. */
const CONFIG_MAX_BYTES = 1024 * 1024;

export interface HypappFlags {
  /** --hypapp references, in load order. */
  hypapps?: string[];
  /** --hypapp-opt NAME.key=value flags. */
  hypappOptions?: string[];
  hypappConfig?: string;
}

/**
 * Load the hypapps the flags name, each with its options. `--hypapp-opt`
 * names a hypapp by its reference or by that reference's file name without
 * extension (`kguard` for `--hypapp ./hypapps/kguard.ts`).
 */
export async function loadHypapps(o: HypappFlags): Promise<HypappSpec[]> {
  const wanted = (o.hypapps ?? []).map((ref) => ({ ref, flag: '--hypapp', options: {} as Record<string, string> }));
  if (o.hypappConfig) {
    const text = new TextDecoder().decode(readInputFile('--hypapp-config', o.hypappConfig, CONFIG_MAX_BYTES, 'a hypapp config can be'));
    wanted.push(...parseHypappConfig(text, o.hypappConfig).map((h) => ({ ...h, flag: `--hypapp-config ${o.hypappConfig}: hypapp` })));
  }
  const flags = parseHypappOptions(o.hypappOptions ?? []);
  const specs: HypappSpec[] = [];
  for (const w of wanted) {
    const keys = [w.ref, basename(w.ref).replace(/\.[cm]?[jt]s$/, '')];
    const options = Object.assign({ ...w.options }, ...keys.map((k) => flags.get(k) ?? {}));
    for (const k of keys) flags.delete(k);
    checkInputFile(w.flag, resolveHypapp(w.ref), HYPAPP_MAX_BYTES, 'a hypapp module can be');
    specs.push(await loadHypapp(w.ref, options));
  }
  if (flags.size > 0) throw new HypappLoadError(`--hypapp-opt names ${[...flags.keys()].join(', ')}, which no --hypapp loads`);
  return specs;
}
