/* cmd_devices.c - `gwctl status` and `gwctl devices ...`. */
#include "gwctl.h"

#include "ht_err.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <stdlib.h>
#include <string.h>

/* {"total","online","by_state":{...}} from /healthz's "devices" counts
 * ({"discovered":n,...,"online":n}, no token needed) or, failing that,
 * from the device list. NULL when neither is readable. */
static json_t *device_counts(const struct gwctl *g, const json_t *health)
{
    json_t *by = json_object();
    json_int_t total = 0, online = 0;
    const json_t *hc = json_object_get(health, "devices");
    if (json_is_object(hc)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)hc, k, v)
        {
            if (!strcmp(k, "online")) {
                online = json_integer_value(v);
            } else if (json_is_integer(v)) {
                json_object_set_new(by, k, json_integer(json_integer_value(v)));
                total += json_integer_value(v);
            }
        }
        return json_pack("{s:I, s:I, s:o}", "total", total, "online", online,
                         "by_state", by);
    }
    struct gw_resp r;
    json_t *items = NULL;
    if (gw_request(g, "GET", "/api/v1/devices", NULL, NULL, &r) == GW_EXIT_OK) {
        items = r.status == 200 ? gw_items(r.json) : NULL;
        size_t i;
        json_t *d;
        json_array_foreach(items, i, d)
        {
            const char *st = json_string_value(json_object_get(d, "state"));
            if (!st)
                st = "unknown";
            json_int_t n = json_integer_value(json_object_get(by, st));
            json_object_set_new(by, st, json_integer(n + 1));
            online += json_is_true(json_object_get(d, "online"));
            total++;
        }
        gw_resp_clear(&r);
    }
    if (!items) {
        json_decref(by);
        return NULL;
    }
    return json_pack("{s:I, s:I, s:o}", "total", total, "online", online,
                     "by_state", by);
}

int gw_cmd_status(struct gwctl *g, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return gw_usage("status");
    json_t *health = NULL;
    int rc = gw_get_json(g, "/healthz", &health);
    if (rc != GW_EXIT_OK)
        return rc;
    json_t *counts = device_counts(g, health);
    if (g->json) {
        json_t *o = json_pack("{s:s, s:O, s:O?}", "gateway", g->gateway,
                              "health", health, "devices", counts);
        gw_print_json(o);
        json_decref(o);
    } else {
        printf("%-12s %s\n", "gateway", g->gateway);
        const char *k;
        json_t *v;
        json_object_foreach(health, k, v)
        {
            if (!strcmp(k, "devices"))
                continue; /* summarised below */
            char *s = gw_scalar_text(v);
            printf("%-12s %s\n", k, s);
            free(s);
        }
        if (counts) {
            printf(
                "%-12s %lld (%lld online)", "devices",
                (long long)json_integer_value(json_object_get(counts, "total")),
                (long long)json_integer_value(
                    json_object_get(counts, "online")));
            const char *sep = ": ";
            json_object_foreach(json_object_get(counts, "by_state"), k, v)
            {
                if (json_integer_value(v) == 0)
                    continue;
                printf("%s%s %lld", sep, k, (long long)json_integer_value(v));
                sep = ", ";
            }
            putchar('\n');
        } else {
            printf("%-12s %s\n", "devices", "- (no token or not allowed)");
        }
    }
    json_decref(counts);
    json_decref(health);
    return GW_EXIT_OK;
}

static int devices_list(struct gwctl *g)
{
    json_t *res, *items;
    int rc = gw_list(g, "/api/v1/devices", &res, &items);
    if (rc != GW_EXIT_OK || !res)
        return rc;
    static const char *const hdr[] = {"ID", "STATE", "ONLINE", "LAST SEEN",
                                      "TITLE"};
    struct gw_table *t = gw_table_new(5, hdr);
    size_t i;
    json_t *d;
    json_array_foreach(items, i, d)
    {
        char seen[32];
        gw_fmt_time(
            (long long)json_integer_value(json_object_get(d, "last_seen")),
            seen, sizeof seen);
        const char *row[] = {
            json_string_value(json_object_get(d, "id")),
            json_string_value(json_object_get(d, "state")),
            json_is_true(json_object_get(d, "online")) ? "yes" : "no",
            seen,
            json_string_value(json_object_get(d, "title")),
        };
        gw_table_row(t, row);
    }
    gw_table_print(t, stdout, g->color);
    gw_table_free(t);
    json_decref(res);
    return GW_EXIT_OK;
}

static int devices_show(struct gwctl *g, const char *id)
{
    char *e = gw_escape(id);
    char *path = ht_asprintf("/api/v1/devices/%s", e);
    json_t *d;
    int rc = gw_get_json(g, path, &d);
    free(path);
    free(e);
    if (rc != GW_EXIT_OK)
        return rc;
    if (g->json) {
        gw_print_json(d);
        json_decref(d);
        return GW_EXIT_OK;
    }
    char seen[32];
    gw_fmt_time((long long)json_integer_value(json_object_get(d, "last_seen")),
                seen, sizeof seen);
    printf("id         %s\ntitle      %s\nstate      %s\nonline     %s\n"
           "last seen  %s\n",
           gw_str(d, "id"), gw_str(d, "title"), gw_str(d, "state"),
           json_is_true(json_object_get(d, "online")) ? "yes" : "no", seen);
    json_t *props = json_object_get(d, "properties");
    if (json_is_object(props) && json_object_size(props) > 0) {
        static const char *const hdr[] = {"PROPERTY", "VALUE", "UPDATED"};
        struct gw_table *t = gw_table_new(3, hdr);
        const char *k;
        json_t *p;
        json_object_foreach(props, k, p)
        {
            json_t *v = json_is_object(p) ? json_object_get(p, "v") : p;
            char *vs = gw_scalar_text(v);
            char ts[32];
            gw_fmt_time((long long)json_integer_value(json_object_get(p, "ts")),
                        ts, sizeof ts);
            const char *row[] = {k, vs, ts};
            gw_table_row(t, row);
            free(vs);
        }
        putchar('\n');
        gw_table_print(t, stdout, g->color);
        gw_table_free(t);
    }
    json_decref(d);
    return GW_EXIT_OK;
}

/* approve / block / remove: one request, no body. */
static int devices_action(struct gwctl *g, const char *verb, const char *id)
{
    char *e = gw_escape(id);
    char *path = !strcmp(verb, "remove")
                     ? ht_asprintf("/api/v1/devices/%s", e)
                     : ht_asprintf("/api/v1/devices/%s/%s", e, verb);
    struct gw_resp r;
    int rc = gw_request(g, !strcmp(verb, "remove") ? "DELETE" : "POST", path,
                        NULL, NULL, &r);
    if (rc == GW_EXIT_OK) {
        if (r.status / 100 != 2) {
            rc = gw_fail(g, &r, id);
        } else if (g->json) {
            /* Stable shape whatever the gateway answers with. */
            json_t *o = json_pack("{s:s, s:s, s:b, s:O?}", "id", id, "action",
                                  verb, "ok", 1, "device",
                                  json_is_object(r.json) ? r.json : NULL);
            gw_print_json(o);
            json_decref(o);
        } else {
            printf("%s: %s\n", id,
                   !strcmp(verb, "remove")    ? "removed"
                   : !strcmp(verb, "approve") ? "approved"
                                              : "blocked");
        }
    }
    gw_resp_clear(&r);
    free(path);
    free(e);
    return rc;
}

/* POST /api/v1/devices {"id"}: the gateway provisions broker credentials
 * and shows the password once, so the config is produced right here. */
static int devices_add(struct gwctl *g, int argc, char **argv)
{
    const char *id = NULL, *file = NULL, *backend = "sim";
    for (int i = 2; i < argc; i++) {
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) &&
            i + 1 < argc)
            file = argv[++i];
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc)
            backend = argv[++i];
        else if (argv[i][0] == '-' || id)
            return gw_usage("devices");
        else
            id = argv[i];
    }
    if (!id)
        return gw_usage("devices");
    if (!ht_id_valid(id)) {
        fprintf(stderr,
                "gwctl: '%s' is not a valid device id "
                "([a-z0-9][a-z0-9._-]{0,63})\n",
                id);
        return GW_EXIT_USAGE;
    }
    if (strcmp(backend, "sim") && strcmp(backend, "gpiod")) {
        fprintf(stderr, "gwctl: --backend must be sim or gpiod\n");
        return GW_EXIT_USAGE;
    }
    json_t *req = json_pack("{s:s}", "id", id);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct gw_resp r;
    int rc = gw_request(g, "POST", "/api/v1/devices", body, NULL, &r);
    free(body);
    if (rc != GW_EXIT_OK)
        return rc;
    json_t *conf = NULL;
    char *text = NULL;
    if (r.status / 100 != 2) {
        rc = gw_fail(g, &r, id);
        goto out;
    }
    char err[256];
    conf = gw_agent_config(r.json, backend, err, sizeof err);
    if (!conf) {
        fprintf(stderr, "gwctl: %s: %s\n", id, err);
        rc = GW_EXIT_DEVICE;
        goto out;
    }
    if (!json_object_get(json_object_get(r.json, "mqtt"), "password"))
        fprintf(stderr,
                "gwctl: %s: note: the gateway provisioned no broker "
                "credentials (its broker allows anonymous clients)\n",
                id);
    text = json_dumps(conf, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (file) {
        size_t len = strlen(text);
        text = ht_realloc(text, len + 2);
        memcpy(text + len, "\n", 2);
        int wr = ht_file_write_atomic(file, text, len + 1, 0600);
        if (wr != 0) {
            fprintf(stderr,
                    "gwctl: cannot write %s: %s (the credentials "
                    "were created; remove and add %s again)\n",
                    file, ht_strerror(wr), id);
            rc = GW_EXIT_USAGE;
            goto out;
        }
    }
    if (g->json) {
        json_t *o = json_pack("{s:s, s:O, s:O, s:s?}", "id", id, "mqtt",
                              json_object_get(r.json, "mqtt"), "config", conf,
                              "file", file);
        gw_print_json(o);
        json_decref(o);
    } else if (file) {
        printf("%s: pre-registered; agent config written to %s (mode 0600)\n"
               "the password is shown only once: keep the file\n",
               id, file);
    } else {
        puts(text);
        fprintf(stderr,
                "gwctl: %s: pre-registered; the password above is "
                "shown only once\n",
                id);
    }
out:
    free(text);
    json_decref(conf);
    gw_resp_clear(&r);
    return rc;
}

int gw_cmd_devices(struct gwctl *g, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";
    if (!strcmp(sub, "list") && argc <= 2)
        return devices_list(g);
    if (!strcmp(sub, "add"))
        return devices_add(g, argc, argv);
    if (argc != 3)
        return gw_usage("devices");
    if (!ht_id_valid(argv[2])) {
        fprintf(stderr,
                "gwctl: '%s' is not a valid device id "
                "([a-z0-9][a-z0-9._-]{0,63})\n",
                argv[2]);
        return GW_EXIT_USAGE;
    }
    if (!strcmp(sub, "show"))
        return devices_show(g, argv[2]);
    if (!strcmp(sub, "approve") || !strcmp(sub, "block") ||
        !strcmp(sub, "remove"))
        return devices_action(g, sub, argv[2]);
    fprintf(stderr, "gwctl: unknown devices subcommand '%s'\n", sub);
    return GW_EXIT_USAGE;
}
