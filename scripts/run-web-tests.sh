#!/usr/bin/env bash
# run-web-tests.sh - the browser tests (tests/web): headless Chromium from
# Debian (/usr/bin/chromium) driven by playwright-core, pages and a /v1
# proxy served on a random loopback port, a seeded tenfourd
# (build/native/tenfourd) per suite on another.  Suites: the wasm test
# vectors in the browser, then the web SDK's (web/sdk) tests.
#
#   scripts/run-web-tests.sh [--list] [SUBSTRING...]   (only tests whose name has one)
#
# Prints one line per test and ends with "N passed, N failed"; exits
# non-zero when a test failed.  Needs: make (build/native/tenfourd,
# build/wasm/tenfour.wasm) and scripts/install-deps.sh (chromium, npm ci in
# tests/web).  The whole run is bounded (timeout below; the runner has its
# own deadlines per test) and leaves no process or temp dir behind.
set -uo pipefail
cd "$(dirname "$0")/.."

missing=()
[[ -x build/native/tenfourd ]] || missing+=("build/native/tenfourd (make)")
[[ -f build/wasm/tenfour.wasm ]] || missing+=("build/wasm/tenfour.wasm (make)")
[[ -x ${TENFOUR_CHROMIUM:-/usr/bin/chromium} ]] ||
	missing+=("/usr/bin/chromium (scripts/install-deps.sh)")
[[ -f tests/web/node_modules/playwright-core/package.json ]] ||
	missing+=("tests/web/node_modules (scripts/install-deps.sh)")
if ((${#missing[@]})); then
	for m in "${missing[@]}"; do echo "FAIL web: missing $m"; done
	echo "0 passed, ${#missing[@]} failed"
	exit 1
fi

# timeout signals the runner's whole process group (tenfourd, chromium);
# the runner cleans up on SIGTERM, SIGKILL follows 30 s later.
timeout --kill-after=30 900 node --no-warnings tests/web/run.mjs "$@"
rc=$?
if ((rc == 124 || rc == 137)); then
	echo "FAIL web: the run exceeded 900 s"
	echo "0 passed, 1 failed"
fi
exit "$rc"
