/* ha/ha.h - Home Assistant MQTT discovery (integrations.homeassistant,
 * docs/homeassistant.md): retained discovery configs under HA's discovery
 * prefix for every approved device and every twin, so that HA shows them
 * as sensors, binary sensors, switches and numbers (and each twin's alarm
 * states) without any YAML, and removes them when they go.
 * Commands HA sends are not a second command path: a config's command
 * topic is the HA account's own app request topic (apps/), so the gateway
 * checks, controls, interlocks and audits them like any app's request.
 * Owns: struct gw_ha (g->ha): what is retained under the prefix now, the
 * reconcile timer; the builder of the configs (discovery.c, pure).
 * Uses: core, registry, twinglue, broker (the account's role), ingest
 * (HA's birth topic and our own retained configs).
 * Threads: loop thread only (gw__ha_configs: any thread, pure).
 */
#ifndef HT_GW_HA_H
#define HT_GW_HA_H

#include "gateway/core/gw.h"

#include <jansson.h>

/* ---- the configs (discovery.c): pure, no I/O ---- */

enum gw_ha_kind { GW_HA_DEVICE, GW_HA_TWIN };

/* Where the configs point; every string borrowed. */
struct gw_ha_ctx {
    const char *dprefix; /* HA's discovery prefix ("homeassistant") */
    const char *prefix;  /* our topic prefix ("holotwin/v1") */
    const char *gateway; /* gateway id: the HA node and via_device */
    /* The operator account HA commands with (its request topic becomes
     * the command topic), or NULL: every entity is read-only. */
    const char *account;
    const char *version; /* origin sw_version */
};

/* The discovery configs of one device or twin: {"topic": config object}
 * (new; {} when nothing maps). td (borrowed) is the device's TD or the
 * twin's (ht_sem_td_build / ht_twin_td_build: properties with type,
 * readOnly, minimum, maximum, multipleOf, unit, @type, title). For a twin,
 * bind (borrowed, may be NULL) maps "component.property" to the device
 * whose status is the entity's availability, and alarms (borrowed, may be
 * NULL) lists the ids of its alarm rules. Mapping: read-only number ->
 * sensor, read-only boolean -> binary_sensor, writable boolean -> switch,
 * writable number with minimum and maximum -> number (switch and number
 * only with ctx->account; else the read-only kind), read-only string enum
 * -> enum sensor; per twin alarm rule an enum sensor of its ISA-18.2
 * state, and one problem binary_sensor per twin with alarms. NULL when id
 * or a ctx member is not valid. */
json_t *gw__ha_configs(const struct gw_ha_ctx *ctx, enum gw_ha_kind kind,
                       const char *id, const char *title, const json_t *td,
                       const json_t *bind, const json_t *alarms);

/* HA's node id of this gateway ("holotwin_" + gateway id, '.' -> '_')
 * into buf (>= HT_TOPIC_HA_ID_MAX + 1 bytes). HT_OK or HT_EINVAL. */
int gw__ha_node(const char *gateway, char *buf, size_t bufsize);

/* ---- the module (ha.c) ---- */

/* At init, after gw__twins_init and gw__apps_init: with the integration
 * on, hear HA's birth, our retained configs and device changes; with it
 * off, only our retained configs, to clear them (an integration turned
 * off removes its entities). HT_OK or an error with err filled. */
int gw__ha_init(struct ht_gw *g, char *err, size_t errlen);
/* Free g->ha. Safe when NULL. */
void gw__ha_clear(struct ht_gw *g);

#endif
