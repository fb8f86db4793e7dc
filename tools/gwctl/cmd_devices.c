/* cmd_devices.c - `gwctl status` and `gwctl devices ...`. */
#include "gwctl.h"

#include "ht_mem.h"
#include "ht_util.h"

#include <stdlib.h>
#include <string.h>

int gw_cmd_status(struct gwctl *g, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: gwctl status\n");
        return GW_EXIT_USAGE;
    }
    json_t *health = NULL;
    int rc = gw_get_json(g, "/healthz", &health);
    if (rc != GW_EXIT_OK)
        return rc;
    if (g->json) {
        gw_print_json(health);
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(health, k, v) {
            char *s = gw_scalar_text(v);
            printf("%-12s %s\n", k, s);
            free(s);
        }
    }
    json_decref(health);
    return GW_EXIT_OK;
}

static int devices_list(struct gwctl *g)
{
    json_t *res;
    int rc = gw_get_json(g, "/api/v1/devices", &res);
    if (rc != GW_EXIT_OK)
        return rc;
    json_t *items = json_object_get(res, "items");
    if (!json_is_array(items)) {
        fprintf(stderr, "gwctl: unexpected answer from the gateway\n");
        json_decref(res);
        return GW_EXIT_DEVICE;
    }
    if (g->json) {
        gw_print_json(items);
        json_decref(res);
        return GW_EXIT_OK;
    }
    static const char *const hdr[] = {"ID", "STATE", "ONLINE", "LAST SEEN",
                                      "TITLE"};
    struct gw_table *t = gw_table_new(5, hdr);
    size_t i;
    json_t *d;
    json_array_foreach(items, i, d) {
        char seen[32];
        gw_fmt_time((long long)json_integer_value(json_object_get(d, "last_seen")),
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
           json_string_value(json_object_get(d, "id")),
           json_string_value(json_object_get(d, "title"))
               ? json_string_value(json_object_get(d, "title"))
               : "-",
           json_string_value(json_object_get(d, "state")),
           json_is_true(json_object_get(d, "online")) ? "yes" : "no", seen);
    json_t *props = json_object_get(d, "properties");
    if (json_is_object(props) && json_object_size(props) > 0) {
        static const char *const hdr[] = {"PROPERTY", "VALUE", "UPDATED"};
        struct gw_table *t = gw_table_new(3, hdr);
        const char *k;
        json_t *p;
        json_object_foreach(props, k, p) {
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
            if (r.json)
                gw_print_json(r.json);
            else
                printf("{\"id\":\"%s\",\"ok\":true}\n", id);
        } else {
            printf("%s: %s\n", id, !strcmp(verb, "remove") ? "removed"
                                  : !strcmp(verb, "approve") ? "approved"
                                                             : "blocked");
        }
    }
    gw_resp_clear(&r);
    free(path);
    free(e);
    return rc;
}

int gw_cmd_devices(struct gwctl *g, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";
    if (!strcmp(sub, "list") && argc <= 2)
        return devices_list(g);
    if (argc != 3) {
        fprintf(stderr, "usage: gwctl devices [list | show ID | approve ID | "
                        "block ID | remove ID]\n");
        return GW_EXIT_USAGE;
    }
    if (!ht_id_valid(argv[2])) {
        fprintf(stderr, "gwctl: '%s' is not a valid device id "
                        "([a-z0-9][a-z0-9._-]{0,63})\n", argv[2]);
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
