/* broker/broker.h - the embedded mosquitto: its generated config, the
 * child process (restarted with backoff when it dies, counted in
 * metrics) and a reload on SIGHUP when credentials change.
 * Owns: struct gw_broker (g->broker), the broker's process.
 * Uses: core, metrics, security (listener, TLS and ACL lines).
 * Threads: loop thread only.
 */
#ifndef HT_GW_BROKER_H
#define HT_GW_BROKER_H

#include "gateway/core/gw.h"

#include <stddef.h>
#include <sys/types.h>

/* ---- broker supervisor (broker.c) ---- */
int gw__broker_new(struct ht_gw *g, struct gw_broker **out, char *err,
                   size_t errlen);
int gw__broker_start(struct gw_broker *b, char *err, size_t errlen);
void gw__broker_stop(struct gw_broker *b);
void gw__broker_free(struct gw_broker *b);
/* Write the generated mosquitto.conf text (new string); sec (borrowed)
 * may be NULL: no TLS listener, no ACL plugin. */
char *gw__broker_config(const struct ht_gw_conf *c, const struct gw_sec *sec,
                        const char *dir);
pid_t gw__broker_pid(const struct gw_broker *b);
/* Make the running broker re-read its config and credential files
 * (SIGHUP). HT_OK when no broker runs (it reads them when it starts). */
int gw__broker_reload(struct gw_broker *b);

#endif
