/* cmd_discover.c - `gwctl discover`: browse _wot._tcp with Avahi (W3C WoT
 * Discovery over DNS-SD), resolve each service, fetch its TD from the TXT
 * td= path to learn the id, and mark it known or new against the gateway's
 * device list. Avahi runs on a short-lived ht_loop through the repository's
 * AvahiPoll adapter; gwctl is a CLI, so blocking HTTP afterwards is fine. */
#include "gwctl.h"

#include "ht_avahi_poll.h"
#include "ht_loop.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define GW_DISCOVER_DEFAULT_S 3
#define GW_DISCOVER_MAX 256

struct disc {
    struct ht_loop *loop;
    AvahiClient *client;
    AvahiServiceBrowser *browser;
    json_t *found; /* array of service objects */
    int pending;   /* resolvers in flight */
    bool all_for_now;
    bool failed;
    char err[160];
};

static void maybe_done(struct disc *d)
{
    if (d->all_for_now && d->pending == 0)
        ht_loop_stop(d->loop);
}

/* A service seen over several interfaces or protocols is one board. */
static bool have(const struct disc *d, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(
        d->found, i,
        s) if (!strcmp(json_string_value(json_object_get(s, "name")),
                       name)) return true;
    return false;
}

static void on_resolve(AvahiServiceResolver *r, AvahiIfIndex iface,
                       AvahiProtocol proto, AvahiResolverEvent ev,
                       const char *name, const char *type, const char *domain,
                       const char *host, const AvahiAddress *addr,
                       uint16_t port, AvahiStringList *txt,
                       AvahiLookupResultFlags flags, void *ud)
{
    (void)iface, (void)proto, (void)type, (void)domain, (void)flags;
    struct disc *d = ud;
    if (ev == AVAHI_RESOLVER_FOUND && !have(d, name) &&
        json_array_size(d->found) < GW_DISCOVER_MAX) {
        char a[AVAHI_ADDRESS_STR_MAX] = "";
        if (addr)
            avahi_address_snprint(a, sizeof a, addr);
        json_t *t = json_object();
        for (AvahiStringList *l = txt; l; l = avahi_string_list_get_next(l)) {
            char *k = NULL, *v = NULL;
            if (avahi_string_list_get_pair(l, &k, &v, NULL) == 0) {
                json_object_set_new(t, k, json_string(v ? v : ""));
                avahi_free(k);
                avahi_free(v);
            }
        }
        json_array_append_new(
            d->found,
            json_pack("{s:s, s:s, s:s, s:i, s:o, s:b}", "name", name, "host",
                      host ? host : "", "address", a, "port", (int)port, "txt",
                      t, "ipv6", addr && addr->proto == AVAHI_PROTO_INET6));
    }
    avahi_service_resolver_free(r);
    d->pending--;
    maybe_done(d);
}

static void on_browse(AvahiServiceBrowser *b, AvahiIfIndex iface,
                      AvahiProtocol proto, AvahiBrowserEvent ev,
                      const char *name, const char *type, const char *domain,
                      AvahiLookupResultFlags flags, void *ud)
{
    (void)b, (void)flags;
    struct disc *d = ud;
    switch (ev) {
    case AVAHI_BROWSER_NEW:
        if (avahi_service_resolver_new(d->client, iface, proto, name, type,
                                       domain, AVAHI_PROTO_UNSPEC, 0,
                                       on_resolve, d))
            d->pending++;
        break;
    case AVAHI_BROWSER_ALL_FOR_NOW:
        d->all_for_now = true;
        maybe_done(d);
        break;
    case AVAHI_BROWSER_FAILURE:
        snprintf(d->err, sizeof d->err, "browse failed: %s",
                 avahi_strerror(avahi_client_errno(d->client)));
        d->failed = true;
        ht_loop_stop(d->loop);
        break;
    default:
        break;
    }
}

static void on_client(AvahiClient *c, AvahiClientState s, void *ud)
{
    struct disc *d = ud;
    if (s == AVAHI_CLIENT_S_RUNNING && !d->browser) {
        d->browser =
            avahi_service_browser_new(c, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
                                      "_wot._tcp", NULL, 0, on_browse, d);
        if (!d->browser) {
            snprintf(d->err, sizeof d->err, "cannot browse: %s",
                     avahi_strerror(avahi_client_errno(c)));
            d->failed = true;
            ht_loop_stop(d->loop);
        }
    } else if (s == AVAHI_CLIENT_FAILURE) {
        snprintf(d->err, sizeof d->err, "avahi-daemon: %s",
                 avahi_strerror(avahi_client_errno(c)));
        d->failed = true;
        ht_loop_stop(d->loop);
    }
}

static void on_deadline(struct ht_timer *t, void *ud)
{
    (void)t;
    ht_loop_stop(((struct disc *)ud)->loop);
}

/* Browse for at most secs; fills d->found. Returns GW_EXIT_OK or
 * GW_EXIT_UNREACHABLE (message printed) when Avahi is not there. */
static int browse(struct disc *d, long secs)
{
    int rc = GW_EXIT_OK;
    if (ht_loop_new(&d->loop) != 0) {
        fprintf(stderr, "gwctl: discover: cannot create the event loop\n");
        return GW_EXIT_UNREACHABLE;
    }
    struct ht_avahi_poll *ap = ht_avahi_poll_new(d->loop);
    struct ht_timer *deadline = ht_timer_new(d->loop, on_deadline, d);
    ht_timer_start(deadline, (uint64_t)secs * 1000, 0);
    int err = 0;
    d->client = avahi_client_new(ht_avahi_poll_get(ap), 0, on_client, d, &err);
    if (!d->client) {
        fprintf(stderr, "gwctl: discover: no avahi-daemon reachable (%s)\n",
                avahi_strerror(err));
        rc = GW_EXIT_UNREACHABLE;
        goto out;
    }
    if (!d->failed)
        ht_loop_run(d->loop);
    if (d->failed) {
        fprintf(stderr, "gwctl: discover: %s\n", d->err);
        rc = GW_EXIT_UNREACHABLE;
    }
out:
    /* Freeing the client frees its browser and any resolver in flight. */
    if (d->client)
        avahi_client_free(d->client);
    ht_timer_free(deadline);
    ht_avahi_poll_free(ap);
    ht_loop_free(d->loop);
    return rc;
}

struct buf {
    char *p;
    size_t n;
};

static size_t on_td(char *data, size_t sz, size_t nm, void *ud)
{
    struct buf *b = ud;
    size_t n = sz * nm;
    if (b->n + n > (1u << 20))
        return 0; /* a TD is kilobytes */
    b->p = ht_realloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* The board's id: TXT id= when present, else its TD's "id"
 * (urn:holotwin:device:ID). NULL when neither is available (new). */
static char *board_id(const json_t *svc)
{
    const json_t *txt = json_object_get(svc, "txt");
    const char *tid = json_string_value(json_object_get(txt, "id"));
    if (tid && ht_id_valid(tid))
        return ht_strdup(tid);
    const char *td = json_string_value(json_object_get(txt, "td"));
    const char *addr = json_string_value(json_object_get(svc, "address"));
    if (!td || td[0] != '/' || !addr || !*addr)
        return NULL;
    char *url =
        json_is_true(json_object_get(svc, "ipv6"))
            ? ht_asprintf(
                  "http://[%s]:%lld%s", addr,
                  (long long)json_integer_value(json_object_get(svc, "port")),
                  td)
            : ht_asprintf(
                  "http://%s:%lld%s", addr,
                  (long long)json_integer_value(json_object_get(svc, "port")),
                  td);
    CURL *c = curl_easy_init();
    struct buf b = {0};
    char *id = NULL;
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_td);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 3L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        long st = 0;
        if (curl_easy_perform(c) == CURLE_OK &&
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st) == CURLE_OK &&
            st == 200 && b.p) {
            json_t *j = json_loads(b.p, 0, NULL);
            const char *s = json_string_value(json_object_get(j, "id"));
            static const char pre[] = "urn:holotwin:device:";
            if (s && !strncmp(s, pre, sizeof pre - 1))
                s += sizeof pre - 1;
            if (s && ht_id_valid(s))
                id = ht_strdup(s);
            json_decref(j);
        }
        curl_easy_cleanup(c);
    }
    free(b.p);
    free(url);
    return id;
}

/* Known/new against the gateway's list; the list is optional (discover is
 * also how a technician finds the gateway itself), so failures only warn. */
static json_t *gateway_devices(const struct gwctl *g)
{
    struct gw_resp r;
    if (gw_request(g, "GET", "/api/v1/devices", NULL, NULL, &r) != GW_EXIT_OK)
        return NULL;
    json_t *items = r.status == 200 ? gw_items(r.json) : NULL;
    json_t *out = items ? json_incref(items) : NULL;
    if (!items)
        fprintf(stderr,
                "gwctl: discover: cannot read the device list "
                "(%ld); known/new not shown\n",
                r.status);
    gw_resp_clear(&r);
    return out;
}

int gw_cmd_discover(struct gwctl *g, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return gw_usage("discover");
    long secs = g->timeout_set ? g->timeout_s : GW_DISCOVER_DEFAULT_S;
    struct disc d = {.found = json_array()};
    int rc = browse(&d, secs);
    if (rc != GW_EXIT_OK) {
        json_decref(d.found);
        return rc;
    }
    json_t *devs = gateway_devices(g);
    size_t i, j;
    json_t *s, *dv;
    json_array_foreach(d.found, i, s)
    {
        const char *type = json_string_value(
            json_object_get(json_object_get(s, "txt"), "type"));
        bool dir = type && !strcmp(type, "Directory");
        char *id = dir ? NULL : board_id(s);
        json_object_set_new(s, "kind",
                            json_string(dir ? "directory" : "thing"));
        json_object_set_new(s, "id", id ? json_string(id) : json_null());
        const char *state = NULL;
        if (id && devs)
            json_array_foreach(devs, j, dv)
            {
                const char *did = json_string_value(json_object_get(dv, "id"));
                if (did && !strcmp(did, id))
                    state = json_string_value(json_object_get(dv, "state"));
            }
        json_object_set_new(s, "known",
                            dir || !devs ? json_null() : json_boolean(state));
        json_object_set_new(s, "state",
                            state ? json_string(state) : json_null());
        json_object_del(s, "ipv6");
        free(id);
    }
    if (g->json) {
        gw_print_json(d.found);
    } else {
        static const char *const hdr[] = {"NAME", "HOST",   "ADDRESS", "PORT",
                                          "ID",   "STATUS", "TXT"};
        struct gw_table *t = gw_table_new(7, hdr);
        json_array_foreach(d.found, i, s)
        {
            char port[8], txt[512] = "", st[48];
            snprintf(port, sizeof port, "%lld",
                     (long long)json_integer_value(json_object_get(s, "port")));
            const char *k;
            json_t *v;
            size_t n = 0;
            json_object_foreach(json_object_get(s, "txt"), k, v)
            {
                int w = snprintf(txt + n, sizeof txt - n, "%s%s=%s",
                                 n ? " " : "", k, json_string_value(v));
                if (w < 0 || (size_t)w >= sizeof txt - n)
                    break;
                n += (size_t)w;
            }
            json_t *known = json_object_get(s, "known");
            if (!strcmp(json_string_value(json_object_get(s, "kind")),
                        "directory"))
                snprintf(st, sizeof st, "gateway");
            else if (json_is_true(known))
                snprintf(st, sizeof st, "known (%s)",
                         json_string_value(json_object_get(s, "state")));
            else if (json_is_false(known))
                snprintf(st, sizeof st, "new");
            else
                snprintf(st, sizeof st, "?");
            const char *row[] = {
                json_string_value(json_object_get(s, "name")),
                json_string_value(json_object_get(s, "host")),
                json_string_value(json_object_get(s, "address")),
                port,
                json_string_value(json_object_get(s, "id")),
                st,
                txt,
            };
            gw_table_row(t, row);
        }
        if (json_array_size(d.found) == 0)
            fprintf(stderr,
                    "gwctl: discover: no _wot._tcp service found in "
                    "%ld s\n",
                    secs);
        else
            gw_table_print(t, stdout, g->color);
        gw_table_free(t);
    }
    json_decref(devs);
    json_decref(d.found);
    return GW_EXIT_OK;
}
