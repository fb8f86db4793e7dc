build/release/common/ht_conf.o: common/ht_conf.c common/ht_conf.h \
 common/ht_err.h common/ht_mem.h common/ht_util.h
common/ht_conf.h:
common/ht_err.h:
common/ht_mem.h:
common/ht_util.h:
