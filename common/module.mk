# common/: what both daemons share -> libhtcommon.a
COMMON_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard common/*.c))
$(O)/libhtcommon.a: $(COMMON_OBJS)
ALL_OBJS += $(COMMON_OBJS)
