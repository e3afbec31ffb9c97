#!/usr/bin/env bash
# run-bench.sh - the benchmarks of bench/RESULTS.md, side by side: the core
# natively and in WebAssembly (the same bench program built both ways, and
# the JSON API natively and through web/sdk/core.mjs), and Automerge and
# Yjs on the same workloads.  `make bench` builds the native pieces and
# build/wasm/tenfour.wasm first; this script builds the rest.
# Not part of `make check`: timings depend on the machine and its load.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --bench

native=build/native/bench/bench_core
[[ -x $native ]] || make SAN=0 "$native"
[[ -f build/wasm/tenfour.wasm ]] || make wasm

# The same bench program as a WASI command (it reads a monotonic clock,
# which only the bench does: the core module imports no clock).
mkdir -p build/bench/fixtures
clang --target=wasm32-wasi -std=c11 -D_POSIX_C_SOURCE=200809L -O2 \
	-Wall -Wextra -Werror -Iinclude -Isrc \
	-mexec-model=reactor -DTF_BENCH_REACTOR \
	bench/bench_core.c src/core/*.c -o build/bench/bench_core.wasm

"$native" --fixtures build/bench/fixtures >/dev/null
node --no-warnings bench/js/bench.mjs --native "$native" \
	--wasm-direct build/bench/bench_core.wasm \
	--core build/wasm/tenfour.wasm --fixtures build/bench/fixtures \
	--out build/bench/results.json
