# twins/: library with no I/O -> libhttwin.a
HTTWIN_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard twins/*.c))
$(O)/libhttwin.a: $(HTTWIN_OBJS)
ALL_OBJS += $(HTTWIN_OBJS)
