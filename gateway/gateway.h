/* gateway.h - gatewayd as a library: configuration and the gateway object
 * that main.c wires onto an ht_loop. The modules behind it are listed, with
 * their one-way dependencies, in docs/architecture.md; gateway.c is the
 * composition root that creates, starts and stops them in that order.
 * Uses: all (gateway.c is the composition root).
 */
#ifndef HT_GATEWAY_H
#define HT_GATEWAY_H

#include "gateway/core/conf.h"

#include "ht_loop.h"

struct ht_gw;

/* Restore a backup made by GET /api/v1/backup (gwctl backup) into
 * conf->data_dir, which must hold no database yet, and open it once so its
 * schema is migrated to this gatewayd's. Call instead of starting a
 * gateway (gatewayd --restore). err gets a one-line message. Returns HT_OK
 * or a negative HT_E* code. */
int ht_gw_restore(const struct ht_gw_conf *conf, const char *file, char *err,
                  size_t errlen);

/* Create the gateway on loop l: opens the store (migrating it), creates the
 * admin token on first start, prepares MQTT, HTTP and the broker. conf is
 * borrowed for the gateway's life. err gets a one-line message. Returns
 * HT_OK or a negative HT_E* code; *out new, free with ht_gw_free. Loop
 * thread only. */
int ht_gw_new(struct ht_loop *l, const struct ht_gw_conf *conf,
              struct ht_gw **out, char *err, size_t errlen);
/* Start the broker (if embedded), MQTT, HTTP and mDNS. */
int ht_gw_start(struct ht_gw *g, char *err, size_t errlen);
/* Stop everything (answers suspended requests, ends SSE streams, flushes
 * the store, stops the broker). Safe to call twice. */
void ht_gw_stop(struct ht_gw *g);
/* Free (stops first if needed). NULL is a no-op. */
void ht_gw_free(struct ht_gw *g);

#endif
