/* twin_hook.c - THE attachment point for the twin engine.
 *
 * The event module calls these on the loop thread, for approved devices
 * only, after a value, status or TD change has been applied to the registry
 * and handed to the store. They forward to the twin glue (twins.c), which
 * feeds the engine and turns its events into SSE events and the retained
 * MQTT twin topics. The device's own timestamp is not used: the engine runs
 * on the gateway's clock so duration rules are measured consistently.
 */
#include "twins.h"

void gw__twin_hook_value(struct ht_gw *g, const char *dev, const char *prop,
                         const json_t *v, int64_t ts)
{
    (void)ts;
    gw__twins_on_value(g, dev, prop, v);
}

void gw__twin_hook_status(struct ht_gw *g, const char *dev, bool online)
{
    gw__twins_on_status(g, dev, online);
}

void gw__twin_hook_td(struct ht_gw *g, const char *dev,
                      const struct ht_sem_thing *thing)
{
    gw__twins_on_td(g, dev, thing);
}

void gw__twin_hook_removed(struct ht_gw *g, const char *dev)
{
    gw__twins_on_removed(g, dev);
}
