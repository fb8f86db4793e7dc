# twins/: library with no I/O -> libhttwin.a; uses semantics/ and the pure
# base only (HTTWIN_LIBS, in link order).
HTTWIN_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard twins/*.c))
$(O)/libhttwin.a: $(HTTWIN_OBJS)
HTTWIN_LIBS := $(O)/libhttwin.a $(HTSEM_LIBS)
ALL_OBJS += $(HTTWIN_OBJS)
