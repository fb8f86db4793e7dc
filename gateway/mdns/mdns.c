/* mdns.c - DNS-SD for the gateway through avahi-daemon (libavahi-client on
 * the gateway loop via common/ht_avahi_poll).
 *
 * Browses _wot._tcp: every resolved Thing (TXT type=Thing) whose instance
 * name is a valid device id appears as a discovered device before it ever
 * reaches MQTT. Publishes the gateway as a WoT directory (_wot._tcp with
 * subtype _directory._sub._wot._tcp, TXT td=/.well-known/wot,
 * type=Directory) and, when it runs the broker, _mqtt._tcp (and
 * _secure-mqtt._tcp for its TLS listener). The client is
 * created with AVAHI_CLIENT_NO_FAIL so a daemon that starts later or
 * restarts is picked up; mDNS failures only log.
 */
#include "gateway/mdns/mdns.h"
#include "gateway/ingest/ingest.h"

#include "ht_avahi_poll.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <stdlib.h>
#include <string.h>

#define MOD "mdns"

struct gw_mdns {
    struct ht_gw *g;
    struct ht_avahi_poll *poll;
    AvahiClient *client;
    AvahiEntryGroup *group;
    AvahiServiceBrowser *browser;
    struct ht_timer *retry;
    char *name;
    bool warned;
};

static void create_services(struct gw_mdns *m, AvahiClient *c);

static void rename_service(struct gw_mdns *m)
{
    char *alt = avahi_alternative_service_name(m->name);
    ht_log(LOG_NOTICE, MOD, "service name '%s' taken, using '%s'", m->name,
           alt);
    free(m->name);
    m->name = ht_strdup(alt);
    avahi_free(alt);
}

static void on_group(AvahiEntryGroup *grp, AvahiEntryGroupState s, void *ud)
{
    struct gw_mdns *m = ud;
    if (s == AVAHI_ENTRY_GROUP_ESTABLISHED) {
        ht_log(LOG_INFO, MOD, "published '%s' (WoT directory%s)", m->name,
               m->g->broker ? ", MQTT broker" : "");
    } else if (s == AVAHI_ENTRY_GROUP_COLLISION) {
        rename_service(m);
        avahi_entry_group_reset(grp);
        create_services(m, avahi_entry_group_get_client(grp));
    } else if (s == AVAHI_ENTRY_GROUP_FAILURE) {
        ht_log(LOG_WARNING, MOD, "publishing failed: %s",
               avahi_strerror(
                   avahi_client_errno(avahi_entry_group_get_client(grp))));
    }
}

static int add_all(struct gw_mdns *m)
{
    const struct ht_gw_conf *c = m->g->conf;
    int rc = avahi_entry_group_add_service(
        m->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, 0, m->name, "_wot._tcp",
        NULL, NULL, (uint16_t)c->http_port, "td=/.well-known/wot",
        "type=Directory", NULL);
    if (rc == 0)
        rc = avahi_entry_group_add_service_subtype(
            m->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, 0, m->name,
            "_wot._tcp", NULL, "_directory._sub._wot._tcp");
    if (rc == 0 && m->g->broker)
        rc = avahi_entry_group_add_service(
            m->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, 0, m->name,
            "_mqtt._tcp", NULL, NULL, (uint16_t)c->mqtt_port, NULL);
    /* The broker's TLS listener (IANA "secure-mqtt"), the one boards on
     * other machines can reach (docs/security.md). */
    if (rc == 0 && m->g->broker && !c->insecure && c->mqtt_tls_port)
        rc = avahi_entry_group_add_service(
            m->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, 0, m->name,
            "_secure-mqtt._tcp", NULL, NULL, (uint16_t)c->mqtt_tls_port, NULL);
    return rc;
}

static void create_services(struct gw_mdns *m, AvahiClient *c)
{
    if (!m->group)
        m->group = avahi_entry_group_new(c, on_group, m);
    if (!m->group) {
        ht_log(LOG_WARNING, MOD, "entry group: %s",
               avahi_strerror(avahi_client_errno(c)));
        return;
    }
    if (!avahi_entry_group_is_empty(m->group))
        return;
    for (int tries = 0; tries < 10; tries++) {
        int rc = add_all(m);
        if (rc == AVAHI_ERR_COLLISION) {
            rename_service(m);
            avahi_entry_group_reset(m->group);
            continue;
        }
        if (rc < 0 || (rc = avahi_entry_group_commit(m->group)) < 0)
            ht_log(LOG_WARNING, MOD, "add service: %s", avahi_strerror(rc));
        return;
    }
}

/* A Thing (not another directory) named like a device id. */
static void on_resolve(AvahiServiceResolver *r, AvahiIfIndex iface,
                       AvahiProtocol proto, AvahiResolverEvent ev,
                       const char *name, const char *type, const char *domain,
                       const char *host, const AvahiAddress *addr,
                       uint16_t port, AvahiStringList *txt,
                       AvahiLookupResultFlags flags, void *ud)
{
    (void)iface;
    (void)proto;
    (void)type;
    (void)domain;
    (void)host;
    (void)addr;
    (void)port;
    struct gw_mdns *m = ud;
    if (ev == AVAHI_RESOLVER_FOUND && !(flags & AVAHI_LOOKUP_RESULT_OUR_OWN) &&
        avahi_string_list_find(txt, "type=Thing") && ht_id_valid(name)) {
        ht_log(LOG_DEBUG, MOD, "Thing '%s' seen", name);
        gw__ingest_mdns_seen(m->g, name);
    }
    avahi_service_resolver_free(r);
}

static void on_browse(AvahiServiceBrowser *b, AvahiIfIndex iface,
                      AvahiProtocol proto, AvahiBrowserEvent ev,
                      const char *name, const char *type, const char *domain,
                      AvahiLookupResultFlags flags, void *ud)
{
    struct gw_mdns *m = ud;
    if (ev != AVAHI_BROWSER_NEW || (flags & AVAHI_LOOKUP_RESULT_OUR_OWN))
        return;
    AvahiClient *c = avahi_service_browser_get_client(b);
    if (!avahi_service_resolver_new(c, iface, proto, name, type, domain,
                                    AVAHI_PROTO_UNSPEC, 0, on_resolve, m))
        ht_log(LOG_DEBUG, MOD, "resolve '%s': %s", name,
               avahi_strerror(avahi_client_errno(c)));
}

static void on_client(AvahiClient *c, AvahiClientState s, void *ud)
{
    struct gw_mdns *m = ud;
    switch (s) {
    case AVAHI_CLIENT_S_RUNNING:
        m->warned = false;
        create_services(m, c);
        if (!m->browser) {
            m->browser = avahi_service_browser_new(
                c, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, "_wot._tcp", NULL, 0,
                on_browse, m);
            if (!m->browser)
                ht_log(LOG_WARNING, MOD, "browse _wot._tcp: %s",
                       avahi_strerror(avahi_client_errno(c)));
        }
        break;
    case AVAHI_CLIENT_S_COLLISION:
    case AVAHI_CLIENT_S_REGISTERING:
        if (m->group)
            avahi_entry_group_reset(m->group);
        break;
    case AVAHI_CLIENT_CONNECTING:
        if (!m->warned)
            ht_log(LOG_WARNING, MOD,
                   "avahi-daemon not reachable; running "
                   "without mDNS until it appears");
        m->warned = true;
        if (m->group || m->browser)
            ht_timer_start(m->retry, 0, 0);
        break;
    case AVAHI_CLIENT_FAILURE:
        ht_log(LOG_WARNING, MOD, "avahi client failed: %s; reconnecting",
               avahi_strerror(avahi_client_errno(c)));
        ht_timer_start(m->retry, 1000, 0);
        break;
    }
}

static void start_client(struct gw_mdns *m)
{
    int err = 0;
    m->client = avahi_client_new(ht_avahi_poll_get(m->poll),
                                 AVAHI_CLIENT_NO_FAIL, on_client, m, &err);
    if (!m->client) {
        if (!m->warned)
            ht_log(LOG_WARNING, MOD,
                   "avahi unavailable (%s); running "
                   "without mDNS, retrying every 30 s",
                   avahi_strerror(err));
        m->warned = true;
        ht_timer_start(m->retry, 30000, 0);
    }
}

/* Start over with a fresh client (never freed inside its own callback). */
static void on_retry(struct ht_timer *t, void *ud)
{
    (void)t;
    struct gw_mdns *m = ud;
    if (m->client) {
        avahi_client_free(m->client); /* frees group, browser, resolvers */
        m->client = NULL;
        m->group = NULL;
        m->browser = NULL;
    }
    start_client(m);
}

int gw__mdns_start(struct ht_gw *g)
{
    struct gw_mdns *m = ht_calloc(1, sizeof *m);
    m->g = g;
    m->poll = ht_avahi_poll_new(g->loop);
    m->name = ht_asprintf("holotwin-%s", g->conf->gateway_id);
    m->retry = ht_timer_new(g->loop, on_retry, m);
    g->mdns = m;
    start_client(m);
    return 0;
}

void gw__mdns_stop(struct ht_gw *g)
{
    struct gw_mdns *m = g->mdns;
    if (!m)
        return;
    if (m->client)
        avahi_client_free(m->client);
    ht_timer_free(m->retry);
    ht_avahi_poll_free(m->poll);
    free(m->name);
    free(m);
    g->mdns = NULL;
}
