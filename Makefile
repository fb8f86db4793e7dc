# Holotwin: one non-recursive Makefile; each folder contributes a module.mk.
#
#   make                  release build: build/bin/{gatewayd,device-agent,gwctl}
#   make test             ASan+UBSan build, unit tests (Check), then integration
#   make fuzz             each libFuzzer harness for FUZZ_SECONDS (600) seconds
#   make bench [QUICK=1]  benchmarks (bench/results.json, docs/benchmarks.md)
#   make demo             the virtual-factory demo, in the foreground
#
# VARIANT=release|test picks the object tree; SANITIZER=... overrides the
# sanitizers of the test variant.

VARIANT ?= release
WITH_GPIOD ?= auto
WITH_AVAHI ?= yes

CC ?= cc
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wstrict-prototypes \
	-Wshadow -g -MMD -MP -I. -Icommon
ifeq ($(VARIANT),test)
SANITIZER ?= address,undefined
O := build/test
BIN := build/test/bin
OPT := -O1 -fsanitize=$(SANITIZER) -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
LDSAN := -fsanitize=$(SANITIZER)
else ifeq ($(VARIANT),fuzz)
# libFuzzer harnesses (tests/fuzz/): every object built by clang with
# coverage for the fuzzer plus ASan+UBSan; harnesses link -fsanitize=fuzzer.
# clang's -Wstring-concatenation flags the store's multi-line SQL strings.
CC := clang
O := build/fuzz
BIN := build/fuzz/bin
OPT := -O1 -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer \
	-Wno-string-concatenation
LDSAN := -fsanitize=address,undefined
else
O := build/release
BIN := build/bin
OPT := -O2
LDSAN :=
endif

PKGS := libmosquitto libmicrohttpd jansson sqlite3 avahi-client libcurl libsystemd gnutls
# SHA-2, HMAC, PBKDF2 and base64 (common/ht_sha256.c, the broker's password
# hashes): nettle, which GnuTLS and libmicrohttpd already bring.
PKGS += nettle
ifeq ($(WITH_GPIOD),auto)
WITH_GPIOD := $(shell pkg-config --exists 'libgpiod >= 1.6' && echo yes || echo no)
endif
# One gpiod backend, by the API of the libgpiod that pkg-config finds: 1.6
# (gpio_gpiod.c) or 2.x (gpio_gpiod2.c, Debian 13 and newer).
GPIOD_SRC := $(shell pkg-config --exists 'libgpiod >= 2' && echo gpio_gpiod2.c \
	|| echo gpio_gpiod.c)
ifeq ($(WITH_GPIOD),yes)
PKGS += libgpiod
CFLAGS_BASE += -DHT_WITH_GPIOD=1
endif
ifeq ($(WITH_AVAHI),yes)
CFLAGS_BASE += -DHT_WITH_AVAHI=1
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS)) -lpthread -lm
# libnats: the uplink to the plant's NATS JetStream cluster (gateway/upstream/,
# gateway/plant/). Only gatewayd, the tests, the fuzzers and bench_js link it,
# so the board's device-agent (and its package) never depends on it.
CFLAGS_BASE += $(shell pkg-config --cflags libnats)
NATS_LIBS := $(shell pkg-config --libs libnats)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

ALL_CFLAGS = $(CFLAGS_BASE) $(OPT) $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(LDSAN) $(LDFLAGS)

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS_BASE += -DHT_VERSION='"$(VERSION)"'

# Filled in by the module.mk files.
BINS :=
LIBS :=
UNIT_TESTS :=
INTEG_TESTS :=
ALL_OBJS :=

.PHONY: all test test-deps test-build test-unit test-integration check bench demo clean \
	format lint install test-hw web deps fuzz fuzz-build
# The default goal; the real prerequisites are added after the includes.
all:

# Link order: dependents first (static archives).
HT_LIBS = $(O)/libhtgw.a $(O)/libhtagent.a $(O)/libhtui.a $(O)/libhttwin.a \
	$(O)/libhtsem.a $(O)/libhtcommon.a $(O)/libhtbase.a

# LINK: how every binary is linked: its own objects, then all libraries.
LINK = $(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(HT_LIBS) $(PKG_LIBS)

include common/module.mk
include semantics/module.mk
include twins/module.mk
include ui-descriptors/module.mk
include gateway/module.mk
include broker-plugin/module.mk
include device-agent/module.mk
include tools/module.mk
include web/module.mk
include tests/module.mk
include packaging/module.mk
include tests/fuzz/module.mk

all: $(BINS) web

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# A static archive per library module; module.mk files set <NAME>_OBJS.
$(O)/lib%.a:
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $^

deps:
	@scripts/setup-deps

# The suite includes the QEMU hardware cases (tests/suites): everything they
# need is installed once here, before cases start in parallel.
test-deps:
	@scripts/setup-deps --hw

test: test-deps
	@$(MAKE) --no-print-directory VARIANT=test test-build
	@$(MAKE) --no-print-directory VARIANT=fuzz fuzz-build
	@tests/run build/test

test-build: $(BINS) $(UNIT_TESTS) $(INTEG_TESTS) $(PURITY_TESTS) web tests-js

check: test

test-unit: deps
	@$(MAKE) --no-print-directory VARIANT=test test-build
	@tests/run build/test unit

test-integration: test-deps
	@$(MAKE) --no-print-directory VARIANT=test test-build
	@tests/run build/test integration

# The fuzzers, each for FUZZ_SECONDS; crashes go to build/fuzz/findings/.
FUZZ_SECONDS ?= 600
fuzz: deps
	@$(MAKE) --no-print-directory VARIANT=fuzz fuzz-build
	@tests/fuzz/run --all $(FUZZ_SECONDS)

test-hw: deps
	@scripts/setup-deps --hw
	@$(MAKE) --no-print-directory all
	@tests/hw/run

bench: deps
	@scripts/setup-deps --bench
	@$(MAKE) --no-print-directory all
	@bench/run $(if $(QUICK),--quick)

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo $(DEMO_ARGS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

lint:
	cppcheck --quiet --enable=warning,performance,portability \
		--error-exitcode=1 -I common $$(git ls-files '*.c')

clean:
	rm -rf build

-include $(ALL_OBJS:.o=.d)
