#!/usr/bin/env bash
# Simulates, for one command, a fresh Debian machine with only Node 20: runs
# the command with a PATH that lacks as, ld, gcc, cc, cpio, iasl, objcopy,
# objdump, every x86_64-linux-gnu-* tool and xz (xz-utils is not part of a
# minimal Debian), and a dpkg-query that reports
# only a minimal Debian (the Essential packages, apt, and what they depend
# on) as installed. Nothing on the machine is changed.
#   scripts/fresh-machine.sh SCRATCH_DIR COMMAND [ARG...]
# e.g. XMHF_CACHE=/tmp/fresh/cache scripts/fresh-machine.sh /tmp/fresh npm test
set -euo pipefail
scratch=$1; shift
bin=$scratch/bin
if [ ! -e "$bin/.done" ]; then
  rm -rf "$bin"; mkdir -p "$bin"
  for f in /usr/bin/* /bin/*; do
    name=${f##*/}
    case $name in as|ld|gcc|cc|cpio|iasl|objcopy|objdump|x86_64-linux-gnu-*|xz|dpkg-query) continue ;; esac
    [ -e "$bin/$name" ] || ln -s "$f" "$bin/$name"
  done
  real=$(command -v dpkg-query)
  { dpkg-query -W -f '${Package} ${Essential}\n' | awk '$2 == "yes" { print $1 }'; echo apt; } > "$scratch/essential"
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
    $(cat "$scratch/essential") | grep -E '^[a-z0-9][a-z0-9+.-]*$' | sort -u > "$scratch/minimal-packages"
  cat > "$bin/dpkg-query" <<EOF
#!/bin/sh
# dpkg-query as on a minimal Debian: -W lists only the packages in $scratch/minimal-packages.
if [ "\$1" = -W ]; then
  "$real" "\$@" | awk 'NR == FNR { keep[\$1] = 1; next } (\$1 in keep)' "$scratch/minimal-packages" -
else
  exec "$real" "\$@"
fi
EOF
  chmod +x "$bin/dpkg-query"
  touch "$bin/.done"
fi
PATH=$bin exec "$@"
