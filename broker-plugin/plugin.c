/* plugin.c - holotwin_acl.so, a mosquitto 2.0 plugin (plugin API v5) that
 * refuses a SUBSCRIBE the acl_file would never deliver to.
 *
 * Why our own plugin and not the dynamic-security plugin: Debian 12's
 * mosquitto 2.0.11 dynsec has no %u/%c in role ACLs (before 2.1), so every
 * board would need its own role, created at run time over the
 * $CONTROL/dynamic-security topic by an admin client, with its state in a
 * JSON file the broker rewrites; gatewayd already keeps a password_file
 * and a generated acl_file whose `pattern` lines express "a board reads
 * its own topics" once. The acl_file alone grants every SUBSCRIBE and
 * filters at delivery (checked on 2.0.11); this plugin reads the same file
 * (plugin_opt_acl_file) and answers the subscribe-time check, so one file
 * holds the policy and the broker enforces it twice.
 *
 * Decisions: SUBSCRIBE not covered by the user's read rules -> denied
 * (SUBACK 0x87); everything else is deferred to mosquitto's acl_file
 * check (publish, delivery), which stays the authority there. The file is
 * re-read on the broker's reload (SIGHUP), as mosquitto re-reads its own.
 */
#include "acl.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct plugin {
    mosquitto_plugin_id_t *id;
    char *path;
    struct ht_acl *acl;
};

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (len + 1 == cap) {
            char *b = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* Keep the old rules if the file cannot be read: a reload must never
 * open the broker up. */
static void load(struct plugin *p)
{
    char *text = slurp(p->path);
    if (!text) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "holotwin_acl: cannot read %s",
                             p->path);
        return;
    }
    struct ht_acl *a = ht_acl_parse(text);
    free(text);
    if (!a)
        return;
    ht_acl_free(p->acl);
    p->acl = a;
}

static int on_acl(int event, void *data, void *ud)
{
    (void)event;
    struct plugin *p = ud;
    struct mosquitto_evt_acl_check *e = data;
    if (e->access != MOSQ_ACL_SUBSCRIBE)
        return MOSQ_ERR_PLUGIN_DEFER;
    const char *user = mosquitto_client_username(e->client);
    const char *cid = mosquitto_client_id(e->client);
    if (ht_acl_may_subscribe(p->acl, user, cid, e->topic))
        return MOSQ_ERR_PLUGIN_DEFER;
    mosquitto_log_printf(
        MOSQ_LOG_NOTICE, "holotwin_acl: %s (user %s) may not subscribe to %s",
        cid ? cid : "?", user ? user : "(anonymous)", e->topic);
    return MOSQ_ERR_ACL_DENIED;
}

static int on_reload(int event, void *data, void *ud)
{
    (void)event;
    (void)data;
    load(ud);
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int n, const int *versions)
{
    for (int i = 0; i < n; i++)
        if (versions[i] == 5)
            return 5;
    return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *id, void **ud,
                          struct mosquitto_opt *opts, int nopts)
{
    const char *path = NULL;
    for (int i = 0; i < nopts; i++)
        if (!strcmp(opts[i].key, "acl_file"))
            path = opts[i].value;
    if (!path) {
        mosquitto_log_printf(MOSQ_LOG_ERR,
                             "holotwin_acl: plugin_opt_acl_file is required");
        return MOSQ_ERR_INVAL;
    }
    struct plugin *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        free(p);
        return MOSQ_ERR_NOMEM;
    }
    p->id = id;
    load(p);
    if (!p->acl) {
        free(p->path);
        free(p);
        return MOSQ_ERR_INVAL;
    }
    int rc =
        mosquitto_callback_register(id, MOSQ_EVT_ACL_CHECK, on_acl, NULL, p);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_callback_register(id, MOSQ_EVT_RELOAD, on_reload, NULL,
                                         p);
    if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_callback_unregister(id, MOSQ_EVT_ACL_CHECK, on_acl, NULL);
        ht_acl_free(p->acl);
        free(p->path);
        free(p);
        return rc;
    }
    *ud = p;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *ud, struct mosquitto_opt *opts, int nopts)
{
    (void)opts;
    (void)nopts;
    struct plugin *p = ud;
    if (!p)
        return MOSQ_ERR_SUCCESS;
    mosquitto_callback_unregister(p->id, MOSQ_EVT_ACL_CHECK, on_acl, NULL);
    mosquitto_callback_unregister(p->id, MOSQ_EVT_RELOAD, on_reload, NULL);
    ht_acl_free(p->acl);
    free(p->path);
    free(p);
    return MOSQ_ERR_SUCCESS;
}
