build/release/common/ht_loop.o: common/ht_loop.c common/ht_loop.h \
 common/ht_err.h common/ht_mem.h common/ht_util.h
common/ht_loop.h:
common/ht_err.h:
common/ht_mem.h:
common/ht_util.h:
