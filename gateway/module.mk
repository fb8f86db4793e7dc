# gateway/: gatewayd. Everything but main.c goes into libhtgw.a so that unit
# tests can link the modules. gateway/openapi.yaml is compiled in (served at
# /api/v1/openapi.yaml) as a generated C string.
GW_OBJS := $(patsubst %.c,$(O)/%.o,$(filter-out gateway/main.c,$(wildcard gateway/*.c gateway/*/*.c))) \
	$(O)/gateway/openapi_yaml.o
$(O)/gateway/openapi_yaml.c: gateway/openapi.yaml
	@mkdir -p $(@D)
	@{ echo '/* generated from gateway/openapi.yaml */'; \
	  echo 'const char gw__openapi_yaml[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@
$(O)/gateway/openapi_yaml.o: $(O)/gateway/openapi_yaml.c
	$(CC) $(ALL_CFLAGS) -c $< -o $@
$(O)/libhtgw.a: $(GW_OBJS)
$(BIN)/gatewayd: $(O)/gateway/main.o $(HT_LIBS)
	@mkdir -p $(@D)
	$(LINK) $(NATS_LIBS)
BINS += $(BIN)/gatewayd
ALL_OBJS += $(GW_OBJS) $(O)/gateway/main.o
