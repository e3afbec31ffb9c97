#!/usr/bin/env bash
# demo.sh - builds the core and tools/demo.c and plays the patrol-car
# scenario (dispatcher Dana, units 2A12 and 2A14, 2A12 offline with a clock
# 40 s fast) through it, printing what happened.  `make demo` runs it.
# The server part is simulated in-process by the core until tenfourd lands.
set -euo pipefail
cd "$(dirname "$0")/.."

make --no-print-directory SAN=0 lib >/dev/null
mkdir -p build/native/tools
cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -O2 -Iinclude \
	-Isrc tools/demo.c build/native/libtenfour-core.a \
	-o build/native/tools/demo
exec build/native/tools/demo schemas/cad.json
