# tools/: gwctl (technicians' CLI) and the load/benchmark tools.
GWCTL_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard tools/gwctl/*.c))
$(BIN)/gwctl: $(GWCTL_OBJS) $(HT_LIBS)
	@mkdir -p $(@D)
	$(LINK)
BINS += $(BIN)/gwctl
ALL_OBJS += $(GWCTL_OBJS)
