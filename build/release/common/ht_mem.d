build/release/common/ht_mem.o: common/ht_mem.c common/ht_mem.h
common/ht_mem.h:
