/* ht_avahi_poll.h - an AvahiPoll that runs Avahi on an ht_loop.
 *
 * Avahi's client library asks for fd watches and timeouts through the
 * AvahiPoll vtable (avahi-common/watch.h); this maps them onto ht_io and
 * ht_timer so mDNS shares the daemon's single loop. Loop thread only.
 */
#ifndef HT_AVAHI_POLL_H
#define HT_AVAHI_POLL_H

#include "ht_loop.h"

#include <avahi-common/watch.h>

struct ht_avahi_poll;

/* New adapter bound to l (borrowed; must outlive the adapter). */
struct ht_avahi_poll *ht_avahi_poll_new(struct ht_loop *l);
/* The vtable to hand to avahi_client_new (borrowed from the adapter). */
const AvahiPoll *ht_avahi_poll_get(struct ht_avahi_poll *p);
/* Free; every Avahi client using it must be freed first. NULL no-op. */
void ht_avahi_poll_free(struct ht_avahi_poll *p);

#endif
