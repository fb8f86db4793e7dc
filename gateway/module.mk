# gateway/: gatewayd. Everything but main.c goes into libhtgw.a so that unit
# tests can link the modules.
GW_OBJS := $(patsubst %.c,$(O)/%.o,$(filter-out gateway/main.c,$(wildcard gateway/*.c)))
$(O)/libhtgw.a: $(GW_OBJS)
$(BIN)/gatewayd: $(O)/gateway/main.o $(HT_LIBS)
	@mkdir -p $(@D)
	$(LINK)
BINS += $(BIN)/gatewayd
ALL_OBJS += $(GW_OBJS) $(O)/gateway/main.o
