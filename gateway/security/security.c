/* security.c - listener rules, the broker's TLS and ACL configuration
 * (security.h). The policy itself is in docs/security.md; this file turns
 * it into checks at start and into mosquitto.conf lines.
 */
#include "gateway/security/security.h"
#include "gateway/security/ca.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOD "security"

/* The broker's certificate is re-issued at every start; a year is long
 * enough for a gateway that never restarts. */
#define SERVER_CERT_DAYS 397

struct gw_sec {
    const struct ht_gw_conf *conf;
    struct gw_ca *ca; /* NULL without a TLS listener */
    char *server_key, *server_cert;
    char *plugin; /* path, or NULL (off / not found) */
};

bool gw__sec_is_loopback(const char *s)
{
    if (!s)
        return false;
    if (!strcmp(s, "localhost"))
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, s, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, s, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

int gw__sec_check_conf(const struct ht_gw_conf *c, char *err, size_t errlen)
{
    if (c->broker) {
        /* Someone else's broker: its accounts and listeners are its
         * operator's; we only say what we see. */
        char host[256];
        int port;
        bool local =
            ht_parse_hostport(c->broker, host, sizeof host, &port) == HT_OK &&
            gw__sec_is_loopback(host);
        if (!c->insecure && !c->mqtt_username)
            ht_log(LOG_WARNING, MOD,
                   "external broker %s: connecting without a user name "
                   "(set mqtt.username / mqtt.password)",
                   c->broker);
        if (!c->insecure && !c->mqtt_cafile && !local)
            ht_log(LOG_WARNING, MOD,
                   "external broker %s: connecting without TLS (set "
                   "mqtt.cafile)",
                   c->broker);
        return HT_OK;
    }
    const char *bind = c->mqtt_bind ? c->mqtt_bind : "127.0.0.1";
    if (!gw__sec_is_loopback(bind)) {
        snprintf(err, errlen,
                 "mqtt.bind %s: the plain MQTT listener serves loopback only "
                 "(boards and apps use the TLS listener, mqtt.tls_port)",
                 bind);
        return HT_EINVAL;
    }
    if (!c->insecure && !c->provisioning) {
        snprintf(err, errlen,
                 "broker.provisioning false would let anonymous clients in: "
                 "that needs --insecure (development only)");
        return HT_EINVAL;
    }
    if (c->insecure)
        ht_log(LOG_WARNING, MOD,
               "--insecure: anonymous MQTT on %s:%d, no TLS listener, no "
               "per-board credentials; for development only",
               bind, c->mqtt_port);
    if (!c->insecure && c->mqtt_tls_port && c->mqtt_tls_port == c->mqtt_port) {
        snprintf(err, errlen, "mqtt.tls_port and mqtt.port are both %d",
                 c->mqtt_port);
        return HT_EINVAL;
    }
    return HT_OK;
}

/* A name list without duplicates, for the certificate's SANs. */
struct names {
    char **v;
    size_t n;
};

static void name_add(struct names *l, const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (!len || len > 253)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == len && !strncmp(l->v[i], s, len))
            return;
    l->v = ht_realloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = ht_strndup(s, len);
}

static void name_add_str(struct names *l, const char *s)
{
    if (s)
        name_add(l, s, strlen(s));
}

/* Every name a board may reasonably use to reach this machine: loopback,
 * the host name (and its mDNS .local form), the addresses of the
 * interfaces that are up, and what the operator configured. */
static void collect_names(const struct ht_gw_conf *c, struct names *l)
{
    name_add_str(l, "localhost");
    name_add_str(l, "127.0.0.1");
    name_add_str(l, "::1");
    char host[HOST_NAME_MAX + 1];
    if (gethostname(host, sizeof host) == 0) {
        host[HOST_NAME_MAX] = '\0';
        name_add_str(l, host);
        if (!strchr(host, '.')) {
            char local[HOST_NAME_MAX + 8];
            snprintf(local, sizeof local, "%s.local", host);
            name_add_str(l, local);
        }
    }
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
            char buf[INET6_ADDRSTRLEN];
            if (!i->ifa_addr || !(i->ifa_flags & IFF_UP))
                continue;
            int fam = i->ifa_addr->sa_family;
            const void *a =
                fam == AF_INET
                    ? (const void *)&((struct sockaddr_in *)(void *)i->ifa_addr)
                          ->sin_addr
                : fam == AF_INET6
                    ? (const void *)&(
                          (struct sockaddr_in6 *)(void *)i->ifa_addr)
                          ->sin6_addr
                    : NULL;
            if (!a)
                continue;
            if (fam == AF_INET6 &&
                IN6_IS_ADDR_LINKLOCAL((const struct in6_addr *)a))
                continue; /* needs a zone id, which no SAN can hold */
            if (inet_ntop(fam, a, buf, sizeof buf))
                name_add_str(l, buf);
        }
        freeifaddrs(ifs);
    }
    name_add_str(l, c->public_host);
    if (c->mqtt_tls_bind && strcmp(c->mqtt_tls_bind, "0.0.0.0") &&
        strcmp(c->mqtt_tls_bind, "::"))
        name_add_str(l, c->mqtt_tls_bind);
    for (const char *p = c->mqtt_tls_names; p && *p;) {
        size_t n = strcspn(p, ",");
        name_add(l, p, n);
        p += n + (p[n] == ',');
    }
}

/* holotwin_acl.so: configured, else next to our own binary (the build
 * tree and `make install` put it there), else the packaged location. */
static int find_plugin(const struct ht_gw_conf *c, char **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    if (c->acl_plugin && !strcmp(c->acl_plugin, "none"))
        return HT_OK;
    if (c->acl_plugin) {
        if (access(c->acl_plugin, R_OK) != 0) {
            snprintf(err, errlen, "broker.acl_plugin %s: not readable",
                     c->acl_plugin);
            return HT_ENOENT;
        }
        *out = ht_strdup(c->acl_plugin);
        return HT_OK;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char *p = ht_asprintf("%s/" GW_SEC_PLUGIN, exe);
            if (access(p, R_OK) == 0) {
                *out = p;
                return HT_OK;
            }
            free(p);
        }
    }
    if (access("/usr/lib/holotwin/" GW_SEC_PLUGIN, R_OK) == 0) {
        *out = ht_strdup("/usr/lib/holotwin/" GW_SEC_PLUGIN);
        return HT_OK;
    }
    ht_log(LOG_WARNING, MOD,
           GW_SEC_PLUGIN " not found: subscriptions are no longer refused "
                         "when they are made (messages stay filtered by the "
                         "ACLs)");
    return HT_OK;
}

int gw__sec_new(const struct ht_gw_conf *c, struct gw_sec **out, char *err,
                size_t errlen)
{
    *out = NULL;
    struct gw_sec *s = ht_calloc(1, sizeof *s);
    s->conf = c;
    int rc = HT_OK;
    if (c->broker || c->insecure) {
        *out = s;
        return HT_OK;
    }
    if ((rc = find_plugin(c, &s->plugin, err, errlen)))
        goto fail;
    if (!c->mqtt_tls_port) {
        *out = s;
        return HT_OK;
    }
    char *cadir = ht_asprintf("%s/" GW_SEC_CA_DIR, c->data_dir);
    char *bdir = ht_asprintf("%s/broker", c->data_dir);
    char *cn = ht_asprintf("Holotwin gateway CA %s", c->gateway_id);
    rc = gw__ca_open(cadir, cn, &s->ca, err, errlen);
    free(cadir);
    free(cn);
    if (rc == HT_OK && (rc = ht_mkdir_p(bdir, 0750)))
        snprintf(err, errlen, "%s: %s", bdir, ht_strerror(rc));
    if (rc == HT_OK) {
        struct names l = {0};
        collect_names(c, &l);
        s->server_key = ht_asprintf("%s/" GW_SEC_SERVER_KEY, bdir);
        s->server_cert = ht_asprintf("%s/" GW_SEC_SERVER_CERT, bdir);
        rc = gw__ca_issue(s->ca, "holotwin-broker", (const char *const *)l.v,
                          l.n, 1, SERVER_CERT_DAYS, s->server_key,
                          s->server_cert, err, errlen);
        if (rc == HT_OK)
            ht_log(LOG_INFO, MOD,
                   "broker certificate issued for %zu names (%s, ...)", l.n,
                   l.n ? l.v[0] : "");
        for (size_t i = 0; i < l.n; i++)
            free(l.v[i]);
        free(l.v);
    }
    free(bdir);
    if (rc)
        goto fail;
    *out = s;
    return HT_OK;
fail:
    gw__sec_free(s);
    return rc;
}

void gw__sec_free(struct gw_sec *s)
{
    if (!s)
        return;
    gw__ca_free(s->ca);
    free(s->server_key);
    free(s->server_cert);
    free(s->plugin);
    free(s);
}

const char *gw__sec_ca_pem(const struct gw_sec *s)
{
    return s && s->ca ? gw__ca_pem(s->ca) : NULL;
}

void gw__sec_device_mqtt(const struct gw_sec *s, json_t *mqtt)
{
    if (!s || !s->ca)
        return;
    json_t *tls = json_pack("{s:i, s:s}", "port", s->conf->mqtt_tls_port, "ca",
                            gw__ca_pem(s->ca));
    /* The name boards off this machine use (it is in the certificate);
     * "host" of the answer is the loopback address of the plain port. */
    if (s->conf->public_host)
        json_object_set_new(tls, "host", json_string(s->conf->public_host));
    json_object_set_new(mqtt, "tls", tls);
}

/* use_username_as_clientid on every authenticated listener: the broker
 * replaces whatever client id a client sends with its user name, so a
 * board (user = its device id) can only ever be its own session, and the
 * gateway's user (_gateway, not a valid device id) cannot be claimed. A
 * second connection of the same account replaces the first, which is what
 * a rebooted board wants. */
char *gw__sec_broker_conf(const struct ht_gw_conf *c, const struct gw_sec *s,
                          const char *dir)
{
    const char *bind = c->mqtt_bind ? c->mqtt_bind : "127.0.0.1";
    if (c->insecure || !c->provisioning)
        return ht_asprintf("# --insecure: development only\n"
                           "listener %d %s\n"
                           "allow_anonymous true\n",
                           c->mqtt_port, bind);
    char *tls = s && s->ca ? ht_asprintf("listener %d %s\n"
                                         "certfile %s\n"
                                         "keyfile %s\n"
                                         "tls_version tlsv1.2\n"
                                         "use_username_as_clientid true\n",
                                         c->mqtt_tls_port,
                                         c->mqtt_tls_bind ? c->mqtt_tls_bind
                                                          : "0.0.0.0",
                                         s->server_cert, s->server_key)
                           : ht_strdup("");
    char *plugin = s && s->plugin
                       ? ht_asprintf("plugin %s\nplugin_opt_acl_file %s/acl\n",
                                     s->plugin, dir)
                       : ht_strdup("");
    char *text = ht_asprintf("listener %d %s\n"
                             "use_username_as_clientid true\n"
                             "%s"
                             "allow_anonymous false\n"
                             "password_file %s/passwd\n"
                             "acl_file %s/acl\n"
                             "%s",
                             c->mqtt_port, bind, tls, dir, dir, plugin);
    free(tls);
    free(plugin);
    return text;
}
