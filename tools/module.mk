# tools/: gwctl (technicians' CLI) and the load/benchmark tools.
# gwctl talks to the gateway only over HTTP and uses nothing but common/, so
# it links only libhtcommon.a and libhtbase.a: a daemon module in mid-change
# never stops the technicians' CLI from building.
GWCTL_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard tools/gwctl/*.c))
$(BIN)/gwctl: $(GWCTL_OBJS) $(O)/libhtcommon.a $(O)/libhtbase.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(O)/libhtcommon.a \
		$(O)/libhtbase.a $(PKG_LIBS)
BINS += $(BIN)/gwctl
ALL_OBJS += $(GWCTL_OBJS)

# tools/loadgen and tools/bench: the load generator and the reference
# programs of `make bench` (built with `all` so -Werror keeps them honest,
# never installed). They link only the libraries they use, so a broken
# gateway or twins module does not stop them from building.
LOADGEN_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard tools/loadgen/*.c))
$(BIN)/loadgen: $(LOADGEN_OBJS) $(O)/libhtsem.a $(O)/libhtcommon.a \
	$(O)/libhtbase.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(O)/libhtsem.a \
		$(O)/libhtcommon.a $(O)/libhtbase.a $(PKG_LIBS)
BENCH_UTIL_OBJS := $(O)/tools/bench/bench_util.o
BENCH_SRCS := $(filter-out tools/bench/bench_util.c,\
	$(wildcard tools/bench/bench_*.c))
BENCH_TOOLS := $(BIN)/loadgen \
	$(patsubst tools/bench/%.c,$(BIN)/%,$(BENCH_SRCS))
$(BIN)/bench_%: $(O)/tools/bench/bench_%.o $(BENCH_UTIL_OBJS) $(O)/libhtbase.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(NATS_LIBS)
ALL_OBJS += $(LOADGEN_OBJS) $(BENCH_UTIL_OBJS) \
	$(patsubst %.c,$(O)/%.o,$(BENCH_SRCS))
.PHONY: bench-tools
bench-tools: $(BENCH_TOOLS)
all: bench-tools

# tests/unit/test_gwctl links gwctl's pure parts (no main, no HTTP).
GWCTL_UNIT_OBJS := $(O)/tools/gwctl/util.o $(O)/tools/gwctl/sse.o \
	$(O)/tools/gwctl/output.o
$(O)/tests/unit/test_gwctl: $(GWCTL_UNIT_OBJS)
