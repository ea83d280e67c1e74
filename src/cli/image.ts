// xmhf image debian: build (or find in the cache) the Debian root disk that
// `xmhf run --disk debian` boots, and print where it is.
import { debianImage, DEFAULT_IMAGE_PACKAGES } from '../guest/debian-image.js';
import { UsageError } from './usage-error.js';

export const IMAGE_USAGE = `usage: xmhf image debian [--packages P1,P2,...] [--size SIZE]

build a Debian bookworm root disk (ext4) from Debian's packages with apt's
configured sources, cached in ~/.cache/xmhf-ts/images (reused while apt offers
the same versions); \`xmhf run --disk debian\` boots the last one built
  --packages LIST  packages to install with their dependencies
                   (default: ${DEFAULT_IMAGE_PACKAGES.join(',')});
                   extra ones: --packages +python3-numpy,strace
  --size SIZE      image size, e.g. 2G (default: the files plus 512M)
As a user other than root it needs fakeroot (files keep the packages' owners).
`;

/** `--packages`: a list replaces the defaults; a list starting with + adds to them. */
export function imagePackages(text: string | undefined): string[] {
  if (text === undefined) return [...DEFAULT_IMAGE_PACKAGES];
  const add = text.startsWith('+');
  const list = (add ? text.slice(1) : text).split(',').map((p) => p.trim()).filter(Boolean);
  const bad = list.find((p) => !/^[a-z0-9][a-z0-9+.-]+(=[\w.+:~-]+)?$/.test(p));
  if (bad !== undefined || list.length === 0) throw new UsageError(`xmhf image: --packages ${text}: ${bad === undefined ? 'no packages' : `"${bad}" is not a Debian package name`}`);
  return add ? [...new Set([...DEFAULT_IMAGE_PACKAGES, ...list])] : list;
}

export async function imageCommand(kind: string | undefined, o: { packages?: string; size?: number }): Promise<number> {
  if (kind !== 'debian') throw new UsageError(`xmhf image: ${kind === undefined ? 'which image? (xmhf image debian)' : `unknown image "${kind}" (only debian)`}`);
  const image = await debianImage({ packages: imagePackages(o.packages), size: o.size, log: (line) => process.stderr.write(`xmhf: ${line}\n`) });
  process.stdout.write(`${image.path}\n`);
  return 0;
}
