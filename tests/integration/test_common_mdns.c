/* test_common_mdns.c - the harness's real mDNS environment and
 * common/ht_avahi_poll.c: a service published by a libavahi-client entry
 * group running on an ht_loop (through the AvahiPoll adapter) is found by
 * avahi-browse through the other avahi-daemon, across real mDNS on lo. */
#include "harness.h"
#include "ht_avahi_poll.h"
#include "ht_err.h"
#include "ht_loop.h"

#include <avahi-client/client.h>
#include <avahi-client/publish.h>
#include <avahi-common/error.h>
#include <stdlib.h>
#include <string.h>

struct pub {
    AvahiClient *client;
    AvahiEntryGroup *group;
    int established;
    int failed;
};

static void on_group(AvahiEntryGroup *g, AvahiEntryGroupState s, void *ud)
{
    (void)g;
    struct pub *p = ud;
    if (s == AVAHI_ENTRY_GROUP_ESTABLISHED)
        p->established++;
    else if (s == AVAHI_ENTRY_GROUP_COLLISION || s == AVAHI_ENTRY_GROUP_FAILURE)
        p->failed++;
}

static void on_client(AvahiClient *c, AvahiClientState s, void *ud)
{
    struct pub *p = ud;
    if (s != AVAHI_CLIENT_S_RUNNING || p->group)
        return;
    p->group = avahi_entry_group_new(c, on_group, p);
    if (!p->group ||
        avahi_entry_group_add_service(
            p->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_INET, 0, "ht-probe",
            "_wot._tcp", NULL, NULL, 8081, "td=/.well-known/wot", "type=Thing",
            NULL) < 0 ||
        avahi_entry_group_commit(p->group) < 0)
        p->failed++;
}

static void adapter_publishes_and_other_daemon_resolves(struct ht_it *t)
{
    struct ht_it_mdns m;
    ht_it_mdns_start(t, &m);
    /* The client library reads the bus address from the environment. */
    putenv(m.bus_a);
    struct ht_loop *l;
    HT_CHECK(t, ht_loop_new(&l) == HT_OK);
    struct ht_avahi_poll *ap = ht_avahi_poll_new(l);
    struct pub p = {0};
    int err = 0;
    p.client = avahi_client_new(ht_avahi_poll_get(ap), 0, on_client, &p, &err);
    HT_CHECK(t, p.client != NULL, "avahi_client_new: %s", avahi_strerror(err));
    for (int i = 0; i < 500 && !p.established && !p.failed; i++)
        ht_loop_run_once(l, 10);
    HT_CHECK(t, p.established == 1 && p.failed == 0,
             "entry group established=%d failed=%d", p.established, p.failed);

    /* Keep serving the loop while avahi-browse runs (it is another
     * process; the daemon answers for us, but our client must stay up). */
    char *out = ht_it_mdns_browse(t, &m, "_wot._tcp", "ht-probe", 8000);
    HT_CHECK(t, out != NULL, "ht-probe not resolved through daemon B");
    HT_CHECK(t, strstr(out, "td=/.well-known/wot") && strstr(out, "8081"),
             "browse output: %s", out);
    free(out);
    avahi_client_free(p.client);
    ht_avahi_poll_free(ap);
    ht_loop_free(l);
}

HT_IT_MAIN(HT_IT_CASE(adapter_publishes_and_other_daemon_resolves))
