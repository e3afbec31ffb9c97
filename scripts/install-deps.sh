#!/usr/bin/env bash
# install-deps.sh - installs what the build and the tests need and is missing.
# Idempotent: when everything is present it changes nothing and prints one
# line.  Debian packages through apt-get only; npm packages with `npm ci`
# from the lock files in the repo (bench/ only, when asked: --bench).
set -euo pipefail
cd "$(dirname "$0")/.."

# package:command-or-file that proves it is there
need=(
	"gcc:/usr/bin/gcc"
	"make:/usr/bin/make"
	"clang:/usr/bin/clang"
	"lld:/usr/bin/wasm-ld"
	"wasi-libc:/usr/lib/wasm32-wasi/libc.a"
	"libclang-rt-14-dev-wasm32:/usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi"
	"libclang-rt-14-dev:/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a"
	"nodejs:node"
	"clang-tidy:clang-tidy"
	"cppcheck:cppcheck"
	"libssl-dev:/usr/include/openssl/evp.h"
	"libsqlite3-dev:/usr/include/sqlite3.h"
	"libmicrohttpd-dev:/usr/include/microhttpd.h"
	"libgnutls28-dev:/usr/include/gnutls/gnutls.h"
	"libcurl4-openssl-dev:/usr/include/x86_64-linux-gnu/curl/curl.h"
	"pkg-config:pkg-config"
	"sqlite3:sqlite3"
	"curl:curl"
	"openssl:openssl"
)

missing=()
for item in "${need[@]}"; do
	pkg=${item%%:*}
	probe=${item#*:}
	if [[ $probe == /* ]]; then
		[[ -e $probe ]] && continue
	else
		command -v "$probe" >/dev/null 2>&1 && continue
	fi
	missing+=("$pkg")
done

if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}"
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: need root to apt-get install ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	echo "install-deps: all build and test dependencies present"
fi

# --- browser tests (tests/web, scripts/run-web-tests.sh) -------------------
# Debian's Chromium (playwright-core drives /usr/bin/chromium; no browser
# is downloaded) and playwright-core from tests/web/package-lock.json.
web_missing=()
[[ -x /usr/bin/chromium ]] || web_missing+=(chromium)
command -v npm >/dev/null 2>&1 || web_missing+=(npm)
if ((${#web_missing[@]})); then
	echo "install-deps: installing ${web_missing[*]} (browser tests)"
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: need root to apt-get install ${web_missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${web_missing[@]}" >/dev/null
fi
if [[ ! -f tests/web/node_modules/.package-lock.json ||
	tests/web/package-lock.json -nt tests/web/node_modules/.package-lock.json ]]; then
	echo "install-deps: npm ci in tests/web (browser tests)"
	(cd tests/web && npm ci --no-audit --no-fund --loglevel=error)
fi
# --- end of the browser tests' block ----------------------------------------

if [[ ${1:-} == --bench ]]; then
	if ! command -v npm >/dev/null 2>&1; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq && apt-get install -y -qq npm >/dev/null
	fi
	# again when the lock changed since the last install
	if [[ ! -f bench/js/node_modules/.package-lock.json ||
		bench/js/package-lock.json -nt bench/js/node_modules/.package-lock.json ]]; then
		(cd bench/js && npm ci --no-audit --no-fund --loglevel=error)
	fi
fi
