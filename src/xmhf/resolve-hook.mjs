// Module resolution hook for hypapps: `import ... from 'xmhf-ts/hypapp'`
// (and 'xmhf-ts/linux', the library on it) reaches this xmhf-ts's public API even when the hypapp lives outside the
// package (no install, no build step), and a hypapp file is always an ES
// module, wherever it lives (a .ts file outside any package would otherwise
// be taken for CommonJS).
let apiUrl, linuxUrl;
export function initialize(data) { apiUrl = data.apiUrl; linuxUrl = data.linuxUrl; }
export async function resolve(specifier, context, next) {
  if (specifier === 'xmhf-ts/hypapp') return { url: apiUrl, shortCircuit: true };
  // Through the next resolver (tsx), which loads TypeScript it resolved; the API above is always loaded already.
  if (specifier === 'xmhf-ts/linux') return next(linuxUrl, context);
  const resolved = await next(specifier, context);
  if (resolved.url.endsWith('?xmhf-hypapp')) return { ...resolved, format: 'module' };
  return resolved;
}
