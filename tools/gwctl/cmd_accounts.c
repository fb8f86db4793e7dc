/* cmd_accounts.c - `gwctl accounts [list | add NAME --role R [-o FILE] |
 * remove NAME]`: MQTT accounts for apps (HMD apps, dashboards, other
 * gateways) on the gateway's broker (/api/v1/mqtt-accounts, admin only).
 * A viewer reads twins/...; an operator may also send commands through
 * its request topic, which the gateway checks, audits and answers. */
#include "gwctl.h"

#include "ht_err.h"
#include "ht_id.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <stdlib.h>
#include <string.h>

static int accounts_list(struct gwctl *g)
{
    json_t *res, *items;
    int rc = gw_list(g, "/api/v1/mqtt-accounts", &res, &items);
    if (rc != GW_EXIT_OK || !res)
        return rc;
    static const char *const hdr[] = {"NAME", "ROLE", "USERNAME"};
    struct gw_table *t = gw_table_new(3, hdr);
    size_t i;
    json_t *a;
    json_array_foreach(items, i, a)
    {
        const char *row[] = {json_string_value(json_object_get(a, "name")),
                             json_string_value(json_object_get(a, "role")),
                             json_string_value(json_object_get(a, "username"))};
        gw_table_row(t, row);
    }
    gw_table_print(t, stdout, g->color);
    gw_table_free(t);
    json_decref(res);
    return GW_EXIT_OK;
}

/* What an app needs to connect, from the gateway's answer: the TLS
 * listener, the account, the CA, and its topics (new reference). */
static json_t *app_config(const json_t *ans)
{
    const json_t *m = json_object_get(ans, "mqtt");
    const json_t *tls = json_object_get(m, "tls");
    const char *host = json_string_value(json_object_get(tls, "host"));
    if (!host)
        host = json_string_value(json_object_get(m, "host"));
    json_int_t port = json_integer_value(json_object_get(tls, "port"));
    if (!port)
        port = json_integer_value(json_object_get(m, "port"));
    char *broker =
        ht_asprintf(strchr(host ? host : "", ':') ? "[%s]:%lld" : "%s:%lld",
                    host ? host : "127.0.0.1", (long long)port);
    json_t *mq = json_pack("{s:s, s:O?, s:O?, s:O?}", "broker", broker,
                           "username", json_object_get(ans, "username"),
                           "password", json_object_get(ans, "password"), "ca",
                           json_object_get(tls, "ca"));
    free(broker);
    return json_pack("{s:O?, s:O?, s:o, s:O?}", "name",
                     json_object_get(ans, "name"), "role",
                     json_object_get(ans, "role"), "mqtt", mq, "topics",
                     json_object_get(ans, "topics"));
}

static int accounts_add(struct gwctl *g, int argc, char **argv)
{
    const char *name = NULL, *role = NULL, *file = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--role") && i + 1 < argc)
            role = argv[++i];
        else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) &&
                 i + 1 < argc)
            file = argv[++i];
        else if (argv[i][0] == '-' || name)
            return gw_usage("accounts");
        else
            name = argv[i];
    }
    if (!name || !role)
        return gw_usage("accounts");
    if (!ht_id_valid(name)) {
        fprintf(stderr,
                "gwctl: '%s' is not a valid account name "
                "([a-z0-9][a-z0-9._-]{0,63})\n",
                name);
        return GW_EXIT_USAGE;
    }
    if (strcmp(role, "viewer") && strcmp(role, "operator")) {
        fprintf(stderr, "gwctl: --role must be viewer or operator\n");
        return GW_EXIT_USAGE;
    }
    json_t *req = json_pack("{s:s, s:s}", "name", name, "role", role);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct gw_resp r;
    int rc = gw_request(g, "POST", "/api/v1/mqtt-accounts", body, NULL, &r);
    free(body);
    if (rc != GW_EXIT_OK)
        return rc;
    json_t *conf = NULL;
    char *text = NULL;
    if (r.status / 100 != 2) {
        rc = gw_fail(g, &r, name);
        goto out;
    }
    if (!json_string_value(json_object_get(r.json, "password"))) {
        fprintf(stderr, "gwctl: %s: the answer has no password\n", name);
        rc = GW_EXIT_DEVICE;
        goto out;
    }
    conf = app_config(r.json);
    text = json_dumps(conf, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (file) {
        size_t len = strlen(text);
        text = ht_realloc(text, len + 2);
        memcpy(text + len, "\n", 2);
        int wr = ht_file_write_atomic(file, text, len + 1, 0600);
        if (wr != 0) {
            fprintf(stderr,
                    "gwctl: cannot write %s: %s (the account was "
                    "created; remove and add %s again)\n",
                    file, ht_strerror(wr), name);
            rc = GW_EXIT_USAGE;
            goto out;
        }
    }
    if (g->json) {
        json_t *o = json_pack("{s:O, s:s?}", "account", conf, "file", file);
        gw_print_json(o);
        json_decref(o);
    } else if (file) {
        printf("%s: MQTT account created (%s); settings written to %s "
               "(mode 0600)\nthe password is shown only once: keep the file\n",
               name, role, file);
    } else {
        puts(text);
        fprintf(stderr, "gwctl: %s: the password above is shown only once\n",
                name);
    }
out:
    free(text);
    json_decref(conf);
    gw_resp_clear(&r);
    return rc;
}

static int accounts_remove(struct gwctl *g, const char *name)
{
    if (!ht_id_valid(name)) {
        fprintf(stderr, "gwctl: '%s' is not a valid account name\n", name);
        return GW_EXIT_USAGE;
    }
    char *path = ht_asprintf("/api/v1/mqtt-accounts/%s", name);
    int rc = gw_act(g, "DELETE", path, "account ", name, "remove", "removed");
    free(path);
    return rc;
}

int gw_cmd_accounts(struct gwctl *g, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";
    if (!strcmp(sub, "list"))
        return argc <= 2 ? accounts_list(g) : gw_usage("accounts");
    if (!strcmp(sub, "add"))
        return accounts_add(g, argc, argv);
    if (!strcmp(sub, "remove"))
        return argc == 3 ? accounts_remove(g, argv[2]) : gw_usage("accounts");
    fprintf(stderr, "gwctl: unknown accounts subcommand '%s'\n", sub);
    return GW_EXIT_USAGE;
}
