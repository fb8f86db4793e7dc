/* gw.c - the gateway's own addresses, as put into TDs, descriptors and
 * provisioning answers: derived from the config and the broker address the
 * composition root settled on. */
#include "gateway/core/gw.h"

#include "ht_mem.h"
#include "ht_util.h"

#include <string.h>

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
