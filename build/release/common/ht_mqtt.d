build/release/common/ht_mqtt.o: common/ht_mqtt.c common/ht_mqtt.h \
 common/ht_loop.h common/ht_err.h common/ht_log.h common/ht_mem.h
common/ht_mqtt.h:
common/ht_loop.h:
common/ht_err.h:
common/ht_log.h:
common/ht_mem.h:
