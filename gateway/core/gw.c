/* gw.c - what every module reads from the composition root: the loop's
 * time as wall-clock milliseconds, and the gateway's own addresses as put
 * into TDs, descriptors and provisioning answers. */
#include "gateway/core/gw.h"

#include "ht_loop.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <string.h>

/* The loop caches its monotonic clock once per iteration, so the gateway
 * reads no clock per message; the offset maps it to the epoch. */
int64_t gw__now_ms(const struct ht_gw *g)
{
    return (int64_t)ht_loop_now(g->loop) + g->clock_offset_ms;
}

void gw__clock_sync(struct ht_gw *g)
{
    ht_loop_update_time(g->loop);
    g->clock_offset_ms = ht_time_ms() - (int64_t)ht_loop_now(g->loop);
}

char *gw__http_base(const struct ht_gw *g)
{
    const struct ht_gw_conf *c = g->conf;
    const char *host = c->public_host ? c->public_host : c->http_bind;
    if (!host || !strcmp(host, "0.0.0.0"))
        host = "127.0.0.1";
    return ht_asprintf("%s://%s:%d", c->tls_cert ? "https" : "http", host,
                       c->http_port);
}

char *gw__mqtt_base(const struct ht_gw *g)
{
    const char *host = g->broker_host;
    if (!g->conf->broker && g->conf->public_host)
        host = g->conf->public_host;
    return ht_asprintf("mqtt://%s:%d", host, g->broker_port);
}

char *gw__mqtt_td_base(const struct ht_gw *g, bool *basic)
{
    const struct ht_gw_conf *c = g->conf;
    /* Provisioning on the embedded broker: its config has the TLS
     * listener (security.c) and the accounts. */
    bool tls = g->prov && g->broker && c->mqtt_tls_port > 0;
    if (basic)
        *basic = g->prov != NULL;
    if (!tls)
        return gw__mqtt_base(g);
    /* The name the broker's certificate holds for off-machine clients,
     * else the TLS listener's own address, else the broker's (all in its
     * certificate). */
    const char *host = c->public_host ? c->public_host : g->broker_host;
    const char *b = c->mqtt_tls_bind;
    if (!c->public_host && b && strcmp(b, "0.0.0.0") && strcmp(b, "::"))
        host = b;
    return ht_asprintf(strchr(host, ':') ? "mqtts://[%s]:%d" : "mqtts://%s:%d",
                       host, c->mqtt_tls_port);
}
