/* mdns/mdns.h - DNS-SD over Avahi: publishes the gateway (_wot._tcp as a
 * Directory, _mqtt._tcp with the embedded broker) and browses for agents,
 * handing each sighting to ingest.
 * Owns: struct gw_mdns (g->mdns), the Avahi client.
 * Uses: core, ingest.
 * Threads: loop thread only (Avahi is driven by the loop).
 */
#ifndef HT_GW_MDNS_H
#define HT_GW_MDNS_H

#include "gateway/core/gw.h"

/* Publish and browse; a missing Avahi daemon is retried, not fatal. */
int gw__mdns_start(struct ht_gw *g);
/* Withdraw everything and free g->mdns. Safe when not started. */
void gw__mdns_stop(struct ht_gw *g);

#endif
