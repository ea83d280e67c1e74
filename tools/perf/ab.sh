#!/bin/bash
# A/B: tools/perf/ab.sh ROUNDS script.ts a.wasm b.wasm ... : interleaved runs, each variant copied to build/cpu.wasm.
cd "$(dirname "$0")/../.."
rounds=$1; script=$2; shift 2
cp -p build/cpu.wasm /tmp/ab-saved.wasm
for r in $(seq 1 $rounds); do
  for v in "$@"; do
    cp "$v" build/cpu.wasm; touch -d '2000-01-01' build/cpu.wasm
    echo "$(basename $v) $(node --import tsx $script | tail -1)"
  done
done
cp -p /tmp/ab-saved.wasm build/cpu.wasm
