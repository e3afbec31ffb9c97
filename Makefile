# tenfour - one plain GNU Makefile.  `make help` lists the targets.
#
#   make            build the core library and the tests (native)
#   make check      install what is missing, then every suite: native, SAN,
#                   fuzz corpus replay, wasm vectors; last line N passed, N failed
#   make SAN=1 ...  the same targets under ASan+UBSan (build/san)
#   make wasm       build/wasm/tenfour.wasm (wasm32-wasi, Debian clang)
#   make fuzz       libFuzzer targets (clang) in build/fuzz
#   make bench      benchmarks (native, wasm, Automerge, Yjs)
#   make lint       clang-tidy + cppcheck;  make format  clang-format -i

CC      ?= cc
SAN     ?= 0
# Allow `make CC=clang`; default cc is gcc on Debian.
ifeq ($(origin CC),default)
CC = cc
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wpointer-arith -Wvla -Wformat=2
CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L
INC     := -Iinclude -Isrc -Itests/support

ifeq ($(SAN),1)
BUILD   := build/san
OPT     := -O1 -g -fno-omit-frame-pointer \
           -fsanitize=address,undefined -fno-sanitize-recover=all
LDSAN   := -fsanitize=address,undefined
else
BUILD   := build/native
OPT     := -O2 -g
LDSAN   :=
endif

CFLAGS  ?=
CFLAGS  += $(CSTD) $(WARN) $(OPT) $(INC) -MMD -MP
LDFLAGS += $(LDSAN)

CORE_SRC := $(sort $(wildcard src/core/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
LIBCORE  := $(BUILD)/libtenfour-core.a

SUPPORT_SRC := $(sort $(wildcard tests/support/*.c))
SUPPORT_OBJ := $(SUPPORT_SRC:%.c=$(BUILD)/%.o)
# An archive, so a test links only the support code it uses (and a test
# built against part of the core does not pull in the simulated server).
LIBSUPPORT  := $(BUILD)/libtfsupport.a

TEST_SRC := $(sort $(wildcard tests/core/test_*.c))
TEST_BIN := $(TEST_SRC:tests/core/%.c=$(BUILD)/tests/%)

# Host crypto (OpenSSL EVP) shared by tenfourd and the native client.
CRYPTO_SRC := $(sort $(wildcard src/crypto/*.c))
CRYPTO_OBJ := $(CRYPTO_SRC:%.c=$(BUILD)/%.o)
LIBCRYPTO  := $(BUILD)/libtenfour-crypto.a

# tenfourd: services and storage backends in a library, main.c on top.
SERVER_SRC := $(filter-out src/server/main.c, \
                $(sort $(wildcard src/server/*.c src/server/db/*.c)))
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/%.o)
LIBSERVER  := $(BUILD)/libtenfourd.a
TENFOURD   := $(BUILD)/tenfourd
SERVER_LIBS := -lmicrohttpd -lsqlite3 -lcrypto -lpthread

SRVTEST_SRC := $(sort $(wildcard tests/server/test_*.c))
SRVTEST_BIN := $(SRVTEST_SRC:tests/server/%.c=$(BUILD)/tests/server/%)

# The native client: the encrypted store and the sync engine in
# libtenfour-client, the `tenfour` CLI (src/client/cli.c) on top.
STORE_SRC  := $(sort $(wildcard src/store/*.c))
CLIENT_SRC := $(filter-out src/client/cli.c, \
                $(sort $(wildcard src/client/*.c)))
CLIENT_OBJ := $(STORE_SRC:%.c=$(BUILD)/%.o) $(CLIENT_SRC:%.c=$(BUILD)/%.o)
LIBCLIENT  := $(BUILD)/libtenfour-client.a
TENFOUR    := $(BUILD)/tenfour
CLIENT_LIBS := -lcurl -lsqlite3 -lcrypto -lpthread

# Built once their sources exist.
CLIENT_ALL := $(if $(strip $(CLIENT_OBJ)),$(LIBCLIENT)) \
              $(if $(wildcard src/client/cli.c),$(TENFOUR))

CLITEST_SRC := $(sort $(wildcard tests/client/test_*.c))
CLITEST_BIN := $(CLITEST_SRC:tests/client/%.c=$(BUILD)/tests/client/%)

TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOL_BIN := $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%)

BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all lib tests tools check deps test wasm fuzz fuzz-replay bench lint \
        format clean help demo vectors-wasm
all: lib tests tools server client

lib: $(LIBCORE)
tests: $(TEST_BIN) $(SRVTEST_BIN) $(TENFOURD) $(CLITEST_BIN) $(CLIENT_ALL)
tools: $(TOOL_BIN)
server: $(TENFOURD)
client: $(CLIENT_ALL)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBCORE): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(LIBSUPPORT): $(SUPPORT_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(LIBCRYPTO): $(CRYPTO_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(LIBSERVER): $(SERVER_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(TENFOURD): src/server/main.c $(LIBSERVER) $(LIBCRYPTO) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIBSERVER) $(LIBCRYPTO) $(LIBCORE) $(LDFLAGS) \
	  $(SERVER_LIBS) -o $@

$(LIBCLIENT): $(CLIENT_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(TENFOUR): src/client/cli.c $(LIBCLIENT) $(LIBCRYPTO) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIBCLIENT) $(LIBCRYPTO) $(LIBCORE) $(LDFLAGS) \
	  $(CLIENT_LIBS) -o $@

# Client tests run the real tenfourd (seeded in-process through the
# server library, as the HTTP suites do) and the `tenfour` CLI, both
# beside them in $(BUILD).
$(BUILD)/tests/client/%: tests/client/%.c $(LIBSUPPORT) $(LIBCLIENT) \
		$(LIBSERVER) $(LIBCRYPTO) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIBSUPPORT) $(LIBCLIENT) $(LIBSERVER) \
	  $(LIBCRYPTO) $(LIBCORE) $(LDFLAGS) $(SERVER_LIBS) -lcurl -o $@

# Tests that start tenfourd find it beside them: $(BUILD)/tenfourd
# (`make tests` builds it too).
$(BUILD)/tests/server/%: tests/server/%.c $(LIBSUPPORT) $(LIBSERVER) \
		$(LIBCRYPTO) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIBSUPPORT) $(LIBSERVER) $(LIBCRYPTO) $(LIBCORE) \
	  $(LDFLAGS) $(SERVER_LIBS) -lcurl -o $@

$(BUILD)/tests/%: tests/core/%.c $(LIBSUPPORT) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIBSUPPORT) $(LIBCORE) $(LDFLAGS) -o $@

$(BUILD)/tools/%: tools/%.c $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIBCORE) $(LDFLAGS) -o $@

$(BUILD)/bench/%: bench/%.c $(LIBSUPPORT) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIBSUPPORT) $(LIBCORE) $(LDFLAGS) -o $@

# The server load generator seeds the database in-process (services,
# storage, crypto) and talks HTTP through libcurl.
$(BUILD)/bench/bench_server: bench/bench_server.c $(LIBSERVER) $(LIBCRYPTO) \
		$(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIBSERVER) $(LIBCRYPTO) $(LIBCORE) $(LDFLAGS) \
	  $(SERVER_LIBS) -lcurl -o $@

# The client benchmark: encrypted vs plaintext store, unlock, first sync
# and the catch-up of a long offline shift against a real tenfourd.
$(BUILD)/bench/bench_client: bench/bench_client.c $(LIBSUPPORT) $(LIBCLIENT) \
		$(LIBSERVER) $(LIBCRYPTO) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIBSUPPORT) $(LIBCLIENT) $(LIBSERVER) \
	  $(LIBCRYPTO) $(LIBCORE) $(LDFLAGS) $(SERVER_LIBS) -lcurl -o $@

# ---------------------------------------------------------------- wasm
WASM_CC     ?= clang
WASM_CFLAGS := --target=wasm32-wasi $(CSTD) $(WARN) -O2 -Iinclude -Isrc \
               -mexec-model=reactor
WASM_SRC    := $(CORE_SRC) $(sort $(wildcard src/wasm/*.c))
WASM        := build/wasm/tenfour.wasm

wasm: $(WASM)
$(WASM): $(WASM_SRC) $(wildcard include/tenfour/*.h src/core/*.h)
	@mkdir -p $(dir $@)
	$(WASM_CC) $(WASM_CFLAGS) $(WASM_SRC) -o $@

# ---------------------------------------------------------------- fuzz
FUZZ_CC     ?= clang
FUZZ_SRC    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN    := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_CFLAGS := $(CSTD) $(WARN) -O1 -g -Iinclude -Isrc -Itests/support \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

fuzz: $(FUZZ_BIN)
build/fuzz/%: tests/fuzz/%.c $(CORE_SRC) $(wildcard include/tenfour/*.h src/core/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(CORE_SRC) -o $@

# The server's request-parsing target links the services and SQLite.
build/fuzz/fuzz_server_req: tests/fuzz/fuzz_server_req.c $(CORE_SRC) \
		$(CRYPTO_SRC) $(SERVER_SRC) $(wildcard include/tenfour/*.h \
		src/server/*.h src/server/db/*.h src/crypto/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(CORE_SRC) $(CRYPTO_SRC) $(SERVER_SRC) \
	  $(SERVER_LIBS) -o $@

# ---------------------------------------------------------------- check
deps:
	@scripts/install-deps.sh

check: deps
	$(MAKE) all
	$(MAKE) SAN=1 all
	$(MAKE) fuzz
	$(MAKE) wasm
	@scripts/run-checks.sh

# Runs the suites without the installer (for quick iterations).
test: all
	@scripts/run-checks.sh native

bench: deps
	$(MAKE) SAN=0 all $(BENCH_BIN)
	$(MAKE) wasm
	@scripts/run-bench.sh

demo: deps
	@scripts/demo.sh

# clang-tidy runs once per file: in one process clang-tidy 14's va_list
# checker only follows va_start in the first file.
LINT_SRC := $(CORE_SRC) $(CRYPTO_SRC) $(SERVER_SRC) src/server/main.c \
            $(STORE_SRC) $(CLIENT_SRC) $(wildcard src/client/cli.c)
lint:
	@for f in $(LINT_SRC); do \
	  clang-tidy --quiet $$f -- $(CSTD) $(INC) || exit 1; \
	done
	cppcheck --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --quiet $(INC) $(LINT_SRC)

format:
	clang-format -i include/tenfour/*.h src/*/*.c src/*/*.h tests/*/*.c \
	  tests/*/*.h bench/*.c 2>/dev/null || true

clean:
	rm -rf build

help:
	@sed -n '1,12p' Makefile

-include $(CORE_OBJ:.o=.d) $(SUPPORT_OBJ:.o=.d) $(CRYPTO_OBJ:.o=.d) \
  $(SERVER_OBJ:.o=.d) $(CLIENT_OBJ:.o=.d)
