# tests/fuzz/: libFuzzer harnesses, one per input surface, built only in
# the fuzz variant (VARIANT=fuzz: clang, coverage, ASan+UBSan); `make fuzz`
# runs each for FUZZ_SECONDS, `make test` a short pass (tests/fuzz/run in
# tests/suites). Seeds: tests/fuzz/corpus/NAME/; crash inputs kept as
# regression tests: tests/fuzz/regress/NAME/.
FUZZ_NAMES := td ingest agent_cmd router twin uidesc conf tdd
FUZZERS := $(FUZZ_NAMES:%=$(O)/tests/fuzz/fuzz_%)
ALL_OBJS += $(FUZZ_NAMES:%=$(O)/tests/fuzz/fuzz_%.o)

ifeq ($(VARIANT),fuzz)
fuzz-build: $(FUZZERS)
$(O)/tests/fuzz/fuzz_%: $(O)/tests/fuzz/fuzz_%.o $(HT_LIBS)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $(filter %.o,$^) \
		$(HT_LIBS) $(PKG_LIBS) $(NATS_LIBS)
else
fuzz-build:
	@echo "fuzz-build: run as make VARIANT=fuzz fuzz-build (or make fuzz)" >&2
	@false
endif
