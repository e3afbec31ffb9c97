#!/usr/bin/env bash
# demo.sh - builds the core and tools/demo.c and plays the patrol-car
# scenario (dispatcher Dana, units 2A12 and 2A14, 2A12 offline with a clock
# 40 s fast) through it, printing what happened.  `make demo` runs it.
# The server part is simulated in-process by the core until tenfourd lands.
set -euo pipefail
cd "$(dirname "$0")/.."

make --no-print-directory SAN=0 build/native/tools/demo >/dev/null
exec build/native/tools/demo schemas/cad.json
