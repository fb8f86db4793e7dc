/* twin_hook.c - THE attachment point for the twin engine.
 *
 * The event module calls these on the loop thread, for approved devices
 * only, after a value, status or TD change has been applied to the registry
 * and handed to the store. The twin engine step plugs in here (and only
 * here): bindings, rules, twin SSE events and the MQTT twin topics. Until
 * then they do nothing.
 */
#include "gw_internal.h"

void gw__twin_hook_value(struct ht_gw *g, const char *dev, const char *prop,
                         const json_t *v, int64_t ts)
{
    (void)g;
    (void)dev;
    (void)prop;
    (void)v;
    (void)ts;
}

void gw__twin_hook_status(struct ht_gw *g, const char *dev, bool online)
{
    (void)g;
    (void)dev;
    (void)online;
}

void gw__twin_hook_td(struct ht_gw *g, const char *dev,
                      const struct ht_sem_thing *thing)
{
    (void)g;
    (void)dev;
    (void)thing;
}

void gw__twin_hook_removed(struct ht_gw *g, const char *dev)
{
    (void)g;
    (void)dev;
}
