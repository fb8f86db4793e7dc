build/release/common/ht_avahi_poll.o: common/ht_avahi_poll.c \
 common/ht_avahi_poll.h common/ht_loop.h common/ht_mem.h
common/ht_avahi_poll.h:
common/ht_loop.h:
common/ht_mem.h:
