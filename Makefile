# ottu-resend — build, test, demo, install.
# Every src/*.c is part of the product; src/mock/*.c is ottu-mock, which links only the
# pure shared modules listed in MOCK_SHARED. New modules need no Makefile change.

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0
OPT     ?= -O2
SAN     ?=
CFLAGS  ?=
LDFLAGS ?=

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
# libpq's header lives in a folder of its own (Debian: /usr/include/postgresql).
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) -Iinclude $(PQ_CFLAGS) -pthread \
             -DOTTU_VERSION='"$(VERSION)"' -MMD -MP $(SAN) $(CFLAGS)
ALL_LDFLAGS = -pthread $(SAN) $(LDFLAGS)
LIBS      = -lcsv -lcurl -lssl -lcrypto -lcjson -lxlsxwriter -lsqlite3 -lpq -lm
MOCK_LIBS = -lmicrohttpd -lcjson -lcsv -lm
TEST_LIBS = -lcmocka

PROD_SRCS  = $(wildcard src/*.c)
PROD_OBJS  = $(PROD_SRCS:src/%.c=$(BUILD)/obj/%.o)
LIB_OBJS   = $(filter-out $(BUILD)/obj/main.o,$(PROD_OBJS))
MOCK_SRCS  = $(wildcard src/mock/*.c)
MOCK_OBJS  = $(MOCK_SRCS:src/mock/%.c=$(BUILD)/obj/mock/%.o)
MOCK_LIB_OBJS = $(filter-out $(BUILD)/obj/mock/mock_main.o,$(MOCK_OBJS))
# Pure modules the mock shares with the product (no threads, no HTTP client).
MOCK_SHARED = $(BUILD)/obj/rules.o $(BUILD)/obj/jsonutil.o $(BUILD)/obj/text.o $(BUILD)/obj/clock.o
UNIT_SRCS  = $(wildcard tests/unit/test_*.c)
UNIT_BINS  = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test check unit demo deps install uninstall clean bench asan tsan fuzz test-http2 mutants

all: $(BUILD)/ottu-resend $(BUILD)/ottu-mock

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj/mock/%.o: src/mock/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/ottu-resend: $(BUILD)/obj/main.o $(BUILD)/libottu.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/ottu-mock: $(MOCK_OBJS) $(MOCK_SHARED)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(MOCK_LIBS)

# The product's modules once, as a static library the program and the tests link (as git
# builds libgit.a); the mock's likewise.
$(BUILD)/libottu.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libottumock.a: $(MOCK_LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libottu.a $(BUILD)/libottumock.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libottumock.a $(BUILD)/libottu.a $(ALL_LDFLAGS) $(LIBS) $(MOCK_LIBS) $(TEST_LIBS)

# The power-loss shim of tests/integration/test_powerloss.sh (LD_PRELOAD; test-only).
POWERLOSS = $(BUILD)/tests/libpowerloss.so
$(POWERLOSS): tests/powerloss/powerloss.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) -fPIC -shared -o $@ $< -ldl

unit: $(UNIT_BINS) $(POWERLOSS)

# `make test` = install what is missing, build, run every test (several at a time: JOBS=N).
# Last line: N passed, N failed, N skipped.
test: deps
	$(MAKE) all unit
	BUILD=$(BUILD) tests/run.sh

check: all unit
	BUILD=$(BUILD) tests/run.sh

# The scenarios that prove at most once, run again with every send through --http2 (the
# event loop); CI runs them once, in the plain tier (tests/integration/test_http2.sh).
HTTP2_SUITES = test_at_most_once test_hostile_server test_limits test_tls test_send test_resume
test-http2: all unit
	OTTU_TEST_HTTP2=1 BUILD=$(BUILD) TESTS="$(HTTP2_SUITES)" tests/run.sh

# Behaviour mutants: ottu-resend built broken on purpose, one way at a time; each must make
# at least one check of its tests fail (tests/mutants/run.sh). Last line: the score.
mutants: all
	@BUILD=$(BUILD) tests/mutants/run.sh

deps:
	@tests/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/demo.sh

bench: all
	@tests/bench/bench.sh

# Sanitizer builds live in their own directories so they never mix with the normal build.
# The sanitizer runs leave out what exercises no C code beyond the normal run (install
# files, YAML, the Dockerfile; valgrind). TSan runs the unit tests and the scripts where
# threads meet (workers, the reorder window, the ledger's claims, signals, the --http2 loop:
# at-most-once, send, resume, limits, hostile server, TLS, HTTP/2, ledger CLI, and any new
# script); it leaves out the single-threaded paths the normal and ASan runs cover (parsing,
# templates, workbooks, the mock's own checks, operator output, the pseudo-terminal) and
# the PostgreSQL server (the ledger's one lock is the same as with SQLite; test_powerloss
# starts one too, and test_journal covers its group commit under TSan): CI time.
# OTTU_TEST_SMALL: unit tests that measure speed on many rows take fewer there.
SAN_SKIP = test_ops.sh test_valgrind.sh test_prometheus.sh test_workbook_print.sh
TSAN_SKIP = $(SAN_SKIP) test_pg.sh test_terminal.sh test_cli.sh test_encoding.sh test_template.sh \
            test_xlsx_cli.sh test_mock.sh test_operator.sh test_powerloss.sh \
            test_prometheus.sh test_workbook_print.sh test_progress_truth.sh test_metrics_file.sh \
            test_bad_input.sh test_symlinks.sh test_reasons.sh

asan:
	OTTU_TEST_SMALL=1 TESTS_SKIP="$(SAN_SKIP)" $(MAKE) BUILD=build-asan CC=clang OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" check

tsan:
	OTTU_TEST_SMALL=1 TESTS_SKIP="$(TSAN_SKIP)" $(MAKE) BUILD=build-tsan CC=clang OPT=-O1 SAN="-fsanitize=thread" check

fuzz:
	@tests/fuzz/run.sh

# What `make install` puts under $(DESTDIR)$(PREFIX): the programs, the nightly wrapper and
# check script, the man page, bash completion, the systemd units and the example manifests.
# The Dockerfile runs the same target; tests/integration/test_ops.sh checks every file.
SCRIPTS   = contrib/ottu-resend-nightly contrib/ottu-resend-check
UNITS     = contrib/systemd/ottu-resend-nightly.service contrib/systemd/ottu-resend-nightly.timer \
            contrib/systemd/ottu-resend-alert@.service
K8S       = $(wildcard contrib/kubernetes/*.yaml)
PROM      = $(wildcard contrib/prometheus/*.yml)
UNITDIR   = $(PREFIX)/lib/systemd/system
EXAMPLES  = $(PREFIX)/share/doc/ottu-resend/examples

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(EXAMPLES)/kubernetes $(DESTDIR)$(EXAMPLES)/prometheus
	install -m 0755 $(BUILD)/ottu-resend $(BUILD)/ottu-mock $(SCRIPTS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 docs/ottu-resend.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 docs/ottu-resend.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ottu-resend
	install -m 0644 $(UNITS) $(DESTDIR)$(UNITDIR)/
	install -m 0644 $(K8S) $(DESTDIR)$(EXAMPLES)/kubernetes/
	install -m 0644 $(PROM) $(DESTDIR)$(EXAMPLES)/prometheus/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ottu-resend $(DESTDIR)$(PREFIX)/bin/ottu-mock \
	      $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(SCRIPTS))) \
	      $(DESTDIR)$(PREFIX)/share/man/man1/ottu-resend.1 \
	      $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ottu-resend \
	      $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(UNITS)))
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/ottu-resend/examples
	-rmdir $(DESTDIR)$(PREFIX)/share/doc/ottu-resend 2>/dev/null

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/mock/*.d)
