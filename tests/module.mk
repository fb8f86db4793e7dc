# tests/: every tests/unit/test_*.c and tests/integration/test_*.c is a
# binary; unit tests link Check, integration tests the harness.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_TESTS := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(UNIT_SRCS))
INTEG_SRCS := $(wildcard tests/integration/test_*.c)
INTEG_TESTS := $(patsubst tests/integration/%.c,$(O)/tests/integration/%,$(INTEG_SRCS))
HARNESS_OBJS := $(O)/tests/integration/harness.o
ALL_OBJS += $(UNIT_SRCS:%.c=$(O)/%.o) $(INTEG_SRCS:%.c=$(O)/%.o) $(HARNESS_OBJS)

$(O)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -c $< -o $@
$(O)/tests/unit/%: $(O)/tests/unit/%.o $(HT_LIBS)
	$(LINK) $(NATS_LIBS) $(CHECK_LIBS)
$(O)/tests/integration/%: $(O)/tests/integration/%.o $(HARNESS_OBJS) $(HT_LIBS)
	$(LINK) $(NATS_LIBS)

# tests/purity: the pure libraries linked with --whole-archive against
# nothing but the archives their module.mk files name (HTUI_LIBS: ui,
# twins, semantics, base), jansson, nettle (SHA-256) and libm. An object
# that calls into
# libhtcommon, libmosquitto, MHD, SQLite or Avahi fails this link and so
# test-build; tests/purity/run also checks libc calls with nm.
PURITY_TESTS := $(O)/tests/purity/pure_link
$(O)/tests/purity/pure_link: $(O)/tests/purity/pure_link.o $(HTUI_LIBS)
	$(CC) $(ALL_LDFLAGS) -Wl,--no-undefined -o $@ $(filter %.o,$^) \
		-Wl,--whole-archive $(HTUI_LIBS) -Wl,--no-whole-archive \
		$(shell pkg-config --libs jansson nettle) -lm
ALL_OBJS += $(O)/tests/purity/pure_link.o

# Node tooling for tests (TD validator, ajv, playwright-core): installed from
# the committed lockfile when missing or out of date.
tests-js: tests/node_modules/.stamp
tests/node_modules/.stamp: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund --loglevel=error
	@touch $@
.PHONY: tests-js
