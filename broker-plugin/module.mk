# broker-plugin/: holotwin_acl.so, the mosquitto plugin the embedded broker
# loads (subscribe-time ACL checks, see plugin.c). mosquitto itself is not
# built with sanitizers, and a sanitized shared object cannot be loaded
# into it, so the plugin is always built without them (position-independent,
# -O2). acl.o is also built normally for the unit tests.
ACLPLUG_SRCS := broker-plugin/acl.c broker-plugin/plugin.c
ACLPLUG_OBJS := $(patsubst %.c,$(O)/broker-plugin/pic/%.o,$(notdir $(ACLPLUG_SRCS)))
$(O)/broker-plugin/pic/%.o: broker-plugin/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O2 -fPIC $(CFLAGS) -c $< -o $@
$(BIN)/holotwin_acl.so: $(ACLPLUG_OBJS)
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $^ $(LDFLAGS)
ACL_OBJS := $(O)/broker-plugin/acl.o
BINS += $(BIN)/holotwin_acl.so
ALL_OBJS += $(ACL_OBJS) $(ACLPLUG_OBJS)
$(O)/tests/unit/test_acl: $(ACL_OBJS)
