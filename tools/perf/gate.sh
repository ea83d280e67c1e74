#!/bin/bash
# Correctness gates for CPU changes: difftest seeds, then a real boot (npm test separately).
cd "$(dirname "$0")/../.."
set -e
for seed in 1 7 21 52; do
  npm run -s difftest -- --seed $seed --count 20000 | grep TOTAL | sed "s/^/seed $seed: /"
done
node bin/xmhf.js run --exec 'uname -a; free -m'
echo "boot exit $?"
