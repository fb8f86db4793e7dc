# semantics/: library with no I/O -> libhtsem.a
HTSEM_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard semantics/*.c))
$(O)/libhtsem.a: $(HTSEM_OBJS)
ALL_OBJS += $(HTSEM_OBJS)
