# ui-descriptors/: library with no I/O -> libhtui.a; uses twins/,
# semantics/ and the pure base only (HTUI_LIBS, in link order).
HTUI_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard ui-descriptors/*.c))
$(O)/libhtui.a: $(HTUI_OBJS)
HTUI_LIBS := $(O)/libhtui.a $(HTTWIN_LIBS)
ALL_OBJS += $(HTUI_OBJS)
