build/release/common/ht_err.o: common/ht_err.c common/ht_err.h
common/ht_err.h:
