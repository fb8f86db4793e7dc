# common/ is two archives:
# - libhtbase.a, the pure base: errors, memory, ids and names, the MQTT
#   topic contract, SHA-256 (through nettle, a pure library). No loop, sockets, files, clocks or threads;
#   the only common/ code semantics/, twins/ and ui-descriptors/ may link
#   (tests/purity proves it).
# - libhtcommon.a, the rest, for daemons and tools: loop, log, conf, files
#   and clocks, the libmosquitto and Avahi adapters.
HTBASE_SRCS := common/ht_err.c common/ht_mem.c common/ht_id.c \
	common/ht_topic.c common/ht_sha256.c common/ht_json.c
HTBASE_OBJS := $(patsubst %.c,$(O)/%.o,$(HTBASE_SRCS))
$(O)/libhtbase.a: $(HTBASE_OBJS)
COMMON_OBJS := $(patsubst %.c,$(O)/%.o,\
	$(filter-out $(HTBASE_SRCS),$(wildcard common/*.c)))
$(O)/libhtcommon.a: $(COMMON_OBJS)
ALL_OBJS += $(HTBASE_OBJS) $(COMMON_OBJS)
