#!/usr/bin/env bash
# run-bench.sh - the benchmarks of bench/RESULTS.md, side by side: the core
# natively and in WebAssembly (the same bench program built both ways, and
# the JSON API natively and through web/sdk/core.mjs), and Automerge and
# Yjs on the same workloads.  `make bench` builds the native pieces and
# build/wasm/tenfour.wasm first; this script builds the rest.
# Not part of `make check`: timings depend on the machine and its load.
#
#   scripts/run-bench.sh [all|core|server|client|web [options]]
#
# "client": the native client (bench/bench_client.c: encrypted vs
# plaintext store, unlock, first sync of a 10,000-record shift, catch-up
# of 2,000 queued commands) against tenfourd on 127.0.0.1.  Raw figures:
# build/bench/client.json.
# "web": the browser SDK in headless Chromium beside PouchDB
# (bench/web/run.mjs).  Raw figures: build/bench/web.json.
#
# "server": tenfourd under load (bench/bench_server.c: push, pull, SSE
# pokes, RSS) and PouchDB Server on the same documents in the same run
# (bench/js/pouchdb-bench.mjs); every server on 127.0.0.1 in a temp dir,
# killed at the end.  Raw figures: build/bench/server.json, pouchdb.json.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
shift || true
case $what in
all | core | server | client | web) ;;
*)
	echo "usage: scripts/run-bench.sh [all|core|server|client|web [--quick]]" >&2
	exit 2
	;;
esac

scripts/install-deps.sh --bench

if [[ $what == client ]]; then
	make SAN=0 all build/native/bench/bench_client
	mkdir -p build/bench
	echo "client bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	TF_TENFOURD=build/native/tenfourd build/native/bench/bench_client "$@" \
		--out build/bench/client.json
	cat build/bench/client.json
	exit 0
fi
if [[ $what == web ]]; then
	make SAN=0 all wasm
	echo "web bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	node --no-warnings bench/web/run.mjs "$@"
	exit 0
fi

if [[ $what != server ]]; then
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
fi

if [[ $what != core ]]; then
	b=build/native
	mkdir -p build/bench "$b/bench"
	make SAN=0 "$b/tenfourd" "$b/libtenfourd.a" "$b/libtenfour-crypto.a" \
		"$b/libtenfour-core.a"
	# links the services (it seeds the database in-process) and libcurl
	if [[ ! -x $b/bench/bench_server || bench/bench_server.c -nt $b/bench/bench_server ||
		$b/libtenfourd.a -nt $b/bench/bench_server ]]; then
		cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror \
			-Wshadow -Wstrict-prototypes -Wmissing-prototypes \
			-Wpointer-arith -Wvla -Wformat=2 -O2 -g -Iinclude -Isrc \
			bench/bench_server.c "$b/libtenfourd.a" \
			"$b/libtenfour-crypto.a" "$b/libtenfour-core.a" \
			-lmicrohttpd -lsqlite3 -lcrypto -lpthread -lcurl \
			-o "$b/bench/bench_server"
	fi
	echo "server bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	"$b/bench/bench_server" --tenfourd "$b/tenfourd" "$@" \
		--out build/bench/server.json --docs build/bench/server-docs.jsonl
	node --no-warnings bench/js/pouchdb-bench.mjs \
		--docs build/bench/server-docs.jsonl --server build/bench/server.json \
		--out build/bench/pouchdb.json
	echo "server bench done: load average $(cut -d' ' -f1-3 /proc/loadavg)"
fi
