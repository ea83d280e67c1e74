// Module resolution hook for hypapps: `import ... from 'xmhf-ts/hypapp'`
// reaches this xmhf-ts's public API even when the hypapp lives outside the
// package (no install, no build step).
let apiUrl;
export function initialize(data) { apiUrl = data.apiUrl; }
export async function resolve(specifier, context, next) {
  if (specifier === 'xmhf-ts/hypapp') return { url: apiUrl, shortCircuit: true };
  return next(specifier, context);
}
