/* mdns.c - mDNS / DNS-SD: browse _wot._tcp (agents appear as discovered
 * before they reach MQTT) and publish this gateway as a WoT directory
 * (_directory._sub._wot._tcp) and, with the embedded broker, _mqtt._tcp.
 * Runs on the gateway loop through the AvahiPoll adapter. */
#include "gw_internal.h"

#include "ht_log.h"

int gw__mdns_start(struct ht_gw *g)
{
    (void)g;
    ht_log(LOG_INFO, "mdns", "mDNS not available in this build");
    return 0;
}

void gw__mdns_stop(struct ht_gw *g)
{
    (void)g;
}
