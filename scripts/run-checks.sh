#!/usr/bin/env bash
# run-checks.sh - runs every suite and prints the totals as the last line:
#   N passed, N failed
# Suites: native unit/property/vector tests of the core and of tenfourd,
# the same under ASan+UBSan,
# libFuzzer corpus replay, the test vectors in wasm under Node, the web
# SDK's tests in Node and in headless Chromium, and the static analysis
# of `make lint`.
# `run-checks.sh native` runs only the native suite.
set -uo pipefail
cd "$(dirname "$0")/.."

total_pass=0
total_fail=0
log_dir=build/check-logs
mkdir -p "$log_dir"

# Runs one program that ends with "name: N passed, N failed"; a program
# that dies without that line counts as one failure.
run_counted() {
	local label=$1
	shift
	local log="$log_dir/${label//\//_}.log"
	local line p f
	timeout 900 "$@" >"$log" 2>&1
	local rc=$?
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [[ -n $line ]]; then
		line=$(grep -oE '[0-9]+ passed, [0-9]+ failed' <<<"$line" | tail -n 1)
		p=${line%% passed*}
		f=${line#*passed, }
		f=${f%% failed*}
		if ((rc != 0 && f == 0)); then f=1; fi
	else
		p=0
		f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	if ((f)); then
		echo "FAIL $label ($p passed, $f failed, exit $rc); log follows:"
		tail -n 40 "$log"
	else
		echo "ok   $label ($p passed)"
	fi
}

# Core tests, then server tests (tests/server: tenfourd's modules and the
# HTTP suites, which start $dir/tenfourd on loopback with temp data dirs),
# then the native client's (tests/client: the library and the `tenfour`
# CLI of $dir against a tenfourd).  Under the sanitizers the client
# suites talk to the native tenfourd: the server's code is checked under
# ASan+UBSan by its own suites, and an instrumented daemon would triple
# the client suites' time for no new coverage of the client.
suite_tests() {
	local dir=$1 t
	for t in "$dir"/tests/test_* "$dir"/tests/server/test_*; do
		[[ -x $t ]] || continue
		run_counted "$(basename "$dir")/${t#"$dir"/tests/}" "$t"
	done
	for t in "$dir"/tests/client/test_*; do
		[[ -x $t ]] || continue
		TF_TENFOURD=$PWD/build/native/tenfourd \
			run_counted "$(basename "$dir")/${t#"$dir"/tests/}" "$t"
	done
}

suite_fuzz() {
	local t name corpus
	for t in build/fuzz/fuzz_*; do
		[[ -x $t ]] || continue
		name=$(basename "$t")
		name=${name#fuzz_}
		corpus=tests/fuzz/corpus/$name
		local log="$log_dir/fuzz_$name.log"
		local files=("$corpus"/*)
		if [[ ! -e ${files[0]} ]]; then
			echo "FAIL fuzz/$name: empty corpus $corpus"
			total_fail=$((total_fail + 1))
			continue
		fi
		if timeout 600 "$t" -runs=0 "${files[@]}" >"$log" 2>&1; then
			echo "ok   fuzz/$name (${#files[@]} inputs replayed)"
			total_pass=$((total_pass + 1))
		else
			echo "FAIL fuzz/$name; log follows:"
			tail -n 40 "$log"
			total_fail=$((total_fail + 1))
		fi
	done
}

# The patrol-car scenario of `make demo`, under the sanitizers: it must
# play to the end (it stops on any unexpected core error).
suite_demo() {
	local log="$log_dir/demo.log"
	if timeout 300 build/san/tools/demo schemas/cad.json >"$log" 2>&1; then
		echo "ok   demo (scenario under ASan+UBSan)"
		total_pass=$((total_pass + 1))
	else
		echo "FAIL demo; log follows:"
		tail -n 40 "$log"
		total_fail=$((total_fail + 1))
	fi
}

suite_lint() {
	local log="$log_dir/lint.log"
	if make -s lint >"$log" 2>&1; then
		echo "ok   lint (clang-tidy, cppcheck)"
		total_pass=$((total_pass + 1))
	else
		echo "FAIL lint; log follows:"
		tail -n 40 "$log"
		total_fail=$((total_fail + 1))
	fi
}

suite_wasm() {
	if [[ -f build/wasm/tenfour.wasm ]]; then
		run_counted wasm/vectors node --no-warnings tests/wasm/run-vectors.mjs build/wasm/tenfour.wasm
	else
		echo "FAIL wasm: build/wasm/tenfour.wasm missing"
		total_fail=$((total_fail + 1))
	fi
}

# The web SDK's unit tests under Node's test runner (TAP totals turned
# into the closing line run_counted reads).
suite_sdk() {
	local log="$log_dir/sdk-node.log" p f
	timeout 600 node --no-warnings --test --test-reporter=tap \
		web/sdk/test/*.test.mjs >"$log" 2>&1
	local rc=$?
	p=$(grep -E '^# pass [0-9]+' "$log" | tail -n 1 | awk '{print $3}')
	f=$(grep -E '^# fail [0-9]+' "$log" | tail -n 1 | awk '{print $3}')
	p=${p:-0}
	f=${f:-1}
	if ((rc != 0 && f == 0)); then f=1; fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	if ((f)); then
		echo "FAIL web/sdk node tests ($p passed, $f failed, exit $rc); log follows:"
		tail -n 60 "$log"
	else
		echo "ok   web/sdk node tests ($p passed)"
	fi
}

# The browser suites: headless Debian Chromium through playwright-core
# against tenfourd (tests/web, scripts/run-web-tests.sh).
suite_web() {
	run_counted web/chromium scripts/run-web-tests.sh
}

# The property tests run other schedules under the sanitizers than
# natively (TF_SEED); a failure prints the seed that reproduces it.
case ${1:-all} in
native)
	suite_tests build/native
	;;
all)
	# The native and the sanitizer suites run side by side (two cores;
	# most of their time is PBKDF2 in one thread, fsync and waiting on
	# tenfourd): each in a subshell whose lines go to its own log and
	# whose totals come back through a file, printed in order.
	par_dir=$(mktemp -d "${TMPDIR:-/tmp}/tf-check-XXXXXX")
	(
		suite_tests build/native
		echo "$total_pass $total_fail" >"$par_dir/native.totals"
	) >"$par_dir/native.out" 2>&1 &
	native_pid=$!
	(
		total_pass=0 total_fail=0
		TF_SEED=${TF_SEED_SAN:-1000001} suite_tests build/san
		echo "$total_pass $total_fail" >"$par_dir/san.totals"
	) >"$par_dir/san.out" 2>&1 &
	san_pid=$!
	wait "$native_pid"
	wait "$san_pid"
	for part in native san; do
		cat "$par_dir/$part.out"
		if [[ -f $par_dir/$part.totals ]]; then
			read -r p f <"$par_dir/$part.totals"
		else
			echo "FAIL $part suites: no totals (the runner died)"
			p=0 f=1
		fi
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
	done
	rm -rf "$par_dir"
	suite_fuzz
	suite_wasm
	suite_sdk
	suite_web
	suite_demo
	suite_lint
	;;
esac

echo "$total_pass passed, $total_fail failed"
((total_fail == 0))
