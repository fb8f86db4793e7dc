/* mdns.c - DNS-SD for the agent through avahi-daemon (libavahi-client on
 * the agent's loop via common/ht_avahi_poll).
 *
 * Publishes _wot._tcp with TXT td=/.well-known/wot and type=Thing (W3C WoT
 * Discovery) and, with no broker configured, browses _mqtt._tcp and hands
 * the first resolved IPv4 broker to the agent. The client is created with
 * AVAHI_CLIENT_NO_FAIL, so a missing or restarting daemon is waited for
 * and the service registered again when it comes back; name collisions
 * pick Avahi's alternative name. mDNS is a convenience: failures only log.
 */
#include "agent_internal.h"

#include "ht_avahi_poll.h"
#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <stdlib.h>
#include <string.h>

struct agent_mdns {
    struct ht_agent *a;
    struct ht_avahi_poll *poll;
    AvahiClient *client;
    AvahiEntryGroup *group;
    AvahiServiceBrowser *browser;
    char *name;
    int port;
    bool browse;
    bool warned;
    struct ht_timer *retry;
};

static void create_services(struct agent_mdns *m, AvahiClient *c);

static void on_group(AvahiEntryGroup *g, AvahiEntryGroupState s, void *ud)
{
    struct agent_mdns *m = ud;
    switch (s) {
    case AVAHI_ENTRY_GROUP_ESTABLISHED:
        ht_log(LOG_INFO, "mdns", "published '%s' (_wot._tcp port %d)", m->name,
               m->port);
        break;
    case AVAHI_ENTRY_GROUP_COLLISION: {
        char *alt = avahi_alternative_service_name(m->name);
        ht_log(LOG_NOTICE, "mdns",
               "service name '%s' taken, renaming to "
               "'%s'",
               m->name, alt);
        free(m->name);
        m->name = ht_strdup(alt);
        avahi_free(alt);
        avahi_entry_group_reset(g);
        create_services(m, avahi_entry_group_get_client(g));
        break;
    }
    case AVAHI_ENTRY_GROUP_FAILURE:
        ht_log(LOG_WARNING, "mdns", "publishing failed: %s",
               avahi_strerror(
                   avahi_client_errno(avahi_entry_group_get_client(g))));
        break;
    default:
        break;
    }
}

static void create_services(struct agent_mdns *m, AvahiClient *c)
{
    if (!m->port)
        return;
    if (!m->group)
        m->group = avahi_entry_group_new(c, on_group, m);
    if (!m->group) {
        ht_log(LOG_WARNING, "mdns", "entry group: %s",
               avahi_strerror(avahi_client_errno(c)));
        return;
    }
    if (!avahi_entry_group_is_empty(m->group))
        return;
    for (;;) {
        int rc = avahi_entry_group_add_service(
            m->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, 0, m->name,
            "_wot._tcp", NULL, NULL, (uint16_t)m->port, "td=/.well-known/wot",
            "type=Thing", NULL);
        if (rc == AVAHI_ERR_COLLISION) {
            char *alt = avahi_alternative_service_name(m->name);
            free(m->name);
            m->name = ht_strdup(alt);
            avahi_free(alt);
            avahi_entry_group_reset(m->group);
            continue;
        }
        if (rc < 0 || (rc = avahi_entry_group_commit(m->group)) < 0)
            ht_log(LOG_WARNING, "mdns", "add service: %s", avahi_strerror(rc));
        return;
    }
}

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
    (void)txt;
    (void)flags;
    struct agent_mdns *m = ud;
    if (ev == AVAHI_RESOLVER_FOUND && addr && addr->proto == AVAHI_PROTO_INET) {
        char ip[AVAHI_ADDRESS_STR_MAX];
        avahi_address_snprint(ip, sizeof ip, addr);
        ht_log(LOG_INFO, "mdns", "resolved broker '%s' at %s:%u", name, ip,
               port);
        agent__broker_found(m->a, ip, port);
    }
    avahi_service_resolver_free(r);
}

static void on_browse(AvahiServiceBrowser *b, AvahiIfIndex iface,
                      AvahiProtocol proto, AvahiBrowserEvent ev,
                      const char *name, const char *type, const char *domain,
                      AvahiLookupResultFlags flags, void *ud)
{
    (void)flags;
    struct agent_mdns *m = ud;
    if (ev != AVAHI_BROWSER_NEW)
        return;
    AvahiClient *c = avahi_service_browser_get_client(b);
    if (!avahi_service_resolver_new(c, iface, proto, name, type, domain,
                                    AVAHI_PROTO_INET, 0, on_resolve, m))
        ht_log(LOG_WARNING, "mdns", "resolve '%s': %s", name,
               avahi_strerror(avahi_client_errno(c)));
}

static void on_client(AvahiClient *c, AvahiClientState s, void *ud)
{
    struct agent_mdns *m = ud;
    switch (s) {
    case AVAHI_CLIENT_S_RUNNING:
        m->warned = false;
        create_services(m, c);
        if (m->browse && !m->browser) {
            m->browser = avahi_service_browser_new(
                c, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, "_mqtt._tcp", NULL, 0,
                on_browse, m);
            if (!m->browser)
                ht_log(LOG_WARNING, "mdns", "browse _mqtt._tcp: %s",
                       avahi_strerror(avahi_client_errno(c)));
        }
        break;
    case AVAHI_CLIENT_S_COLLISION:
    case AVAHI_CLIENT_S_REGISTERING:
        /* The host name changed or is being probed: register again once
         * the daemon is running. */
        if (m->group)
            avahi_entry_group_reset(m->group);
        break;
    case AVAHI_CLIENT_CONNECTING:
        if (!m->warned)
            ht_log(LOG_WARNING, "mdns",
                   "avahi-daemon not reachable; running "
                   "without mDNS until it appears");
        m->warned = true;
        /* Objects of a previous daemon connection are stale: start over
         * with a fresh client. */
        if (m->group || m->browser)
            ht_timer_start(m->retry, 0, 0);
        break;
    case AVAHI_CLIENT_FAILURE:
        /* The daemon went away (restart): a fresh NO_FAIL client waits for
         * it and registers again. Not freed here, inside its callback. */
        ht_log(LOG_WARNING, "mdns", "avahi client failed: %s; reconnecting",
               avahi_strerror(avahi_client_errno(c)));
        m->warned = false;
        ht_timer_start(m->retry, 0, 0);
        break;
    }
}

static void start_client(struct agent_mdns *m);

static void on_retry(struct ht_timer *t, void *ud)
{
    (void)t;
    struct agent_mdns *m = ud;
    if (m->client) {
        /* Frees its entry group, browser and resolvers too. */
        avahi_client_free(m->client);
        m->client = NULL;
        m->group = NULL;
        m->browser = NULL;
    }
    start_client(m);
}

static void start_client(struct agent_mdns *m)
{
    int err = 0;
    m->client = avahi_client_new(ht_avahi_poll_get(m->poll),
                                 AVAHI_CLIENT_NO_FAIL, on_client, m, &err);
    if (!m->client) {
        /* No system bus at all: try again later, quietly. */
        if (!m->warned)
            ht_log(LOG_WARNING, "mdns",
                   "avahi unavailable (%s); running "
                   "without mDNS, retrying every 30 s",
                   avahi_strerror(err));
        m->warned = true;
        ht_timer_start(m->retry, 30000, 0);
    }
}

int agent__mdns_new(struct ht_agent *a, const char *name, int http_port,
                    bool browse, struct agent_mdns **out)
{
    struct agent_mdns *m = ht_calloc(1, sizeof *m);
    m->a = a;
    m->poll = ht_avahi_poll_new(a->loop);
    m->name = ht_strdup(name && *name ? name : "holotwin-agent");
    m->port = http_port;
    m->browse = browse;
    m->retry = ht_timer_new(a->loop, on_retry, m);
    start_client(m);
    *out = m;
    return HT_OK;
}

void agent__mdns_free(struct agent_mdns *m)
{
    if (!m)
        return;
    /* Freeing the client frees its groups, browsers and resolvers. */
    if (m->client)
        avahi_client_free(m->client);
    ht_timer_free(m->retry);
    ht_avahi_poll_free(m->poll);
    free(m->name);
    free(m);
}
