# ui-descriptors/: library with no I/O -> libhtui.a
HTUI_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard ui-descriptors/*.c))
$(O)/libhtui.a: $(HTUI_OBJS)
ALL_OBJS += $(HTUI_OBJS)
