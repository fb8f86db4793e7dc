build/release/common/ht_log.o: common/ht_log.c common/ht_log.h
common/ht_log.h:
