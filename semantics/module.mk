# semantics/: library with no I/O -> libhtsem.a. HTSEM_LIBS is what a
# program that uses it links, in order: itself and the pure base only.
HTSEM_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard semantics/*.c))
$(O)/libhtsem.a: $(HTSEM_OBJS)
HTSEM_LIBS := $(O)/libhtsem.a $(O)/libhtbase.a
ALL_OBJS += $(HTSEM_OBJS)
