build/release/common/ht_util.o: common/ht_util.c common/ht_util.h \
 common/ht_err.h common/ht_mem.h
common/ht_util.h:
common/ht_err.h:
common/ht_mem.h:
