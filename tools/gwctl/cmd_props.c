/* cmd_props.c - `gwctl get` and `gwctl set`: one property of a device
 * (/api/v1/devices/{id}/properties/{name}) or of a twin
 * (/api/v1/twins/{id}/properties/{component}.{property}).
 *
 * The rule that picks between them: device property names never contain a
 * dot, so a PROP with a dot is COMPONENT.PROP of a twin. */
#include "gwctl.h"

#include "ht_mem.h"
#include "ht_util.h"

#include <stdlib.h>
#include <string.h>

/* Validate the arguments and build the property's path (new) or return
 * NULL after printing a one-line usage error. */
static char *prop_path(const char *kind, const char *id, const char *prop)
{
    bool twin = !strcmp(kind, "twins");
    if (!ht_id_valid(id)) {
        fprintf(stderr,
                "gwctl: '%s' is not a valid %s id "
                "([a-z0-9][a-z0-9._-]{0,63})\n",
                id, twin ? "twin" : "device");
        return NULL;
    }
    if (twin) {
        char c[80], p[80], err[160];
        if (gw_split_twin_prop(prop, c, sizeof c, p, sizeof p, err,
                               sizeof err) != 0) {
            fprintf(stderr, "gwctl: %s\n", err);
            return NULL;
        }
    } else if (!gw_name_valid(prop)) {
        fprintf(stderr, "gwctl: '%s' is not a property name\n", prop);
        return NULL;
    }
    char *ei = gw_escape(id), *ep = gw_escape(prop);
    char *path = ht_asprintf("/api/v1/%s/%s/properties/%s", kind, ei, ep);
    free(ei);
    free(ep);
    return path;
}

/* The machine-readable result of get and set: one stable object. */
static void print_result(const struct gwctl *g, const char *kind,
                         const char *id, const char *prop, const json_t *v,
                         long long ts)
{
    if (g->json) {
        json_t *o = json_pack(
            "{s:s, s:s, s:O, s:I}", !strcmp(kind, "twins") ? "twin" : "device",
            id, "property", prop, "value", (json_t *)v, "ts", (json_int_t)ts);
        gw_print_json(o);
        json_decref(o);
        return;
    }
    char *s = gw_scalar_text(v);
    if (ts > 0) {
        char t[32];
        gw_fmt_time(ts, t, sizeof t);
        printf("%s  (%s)\n", s, t);
    } else {
        puts(s);
    }
    free(s);
}

/* A twin property is read from the twin's state document (the gateway
 * serves twin properties for writes only): {"properties":{"c.p":{"value",
 * "ts","quality"}}}. */
static int twin_get(struct gwctl *g, const char *id, const char *prop)
{
    char *e = gw_escape(id);
    char *path = ht_asprintf("/api/v1/twins/%s/state", e);
    free(e);
    json_t *st;
    int rc = gw_get_json(g, path, &st);
    free(path);
    if (rc != GW_EXIT_OK)
        return rc;
    json_t *rows = gw_flatten_state(st);
    size_t i;
    json_t *row, *hit = NULL;
    json_array_foreach(rows, i, row) if (!strcmp(gw_str(row, "property"), prop))
        hit = row;
    if (!hit) {
        fprintf(stderr, "gwctl: %s %s: the twin has no such property\n", id,
                prop);
        rc = GW_EXIT_NOTFOUND;
    } else {
        print_result(g, "twins", id, prop, json_object_get(hit, "value"),
                     (long long)json_integer_value(json_object_get(hit, "ts")));
    }
    json_decref(rows);
    json_decref(st);
    return rc;
}

int gw_prop_get(struct gwctl *g, const char *kind, const char *id,
                const char *prop)
{
    char *path = prop_path(kind, id, prop);
    if (!path)
        return GW_EXIT_USAGE;
    if (!strcmp(kind, "twins")) {
        free(path);
        return twin_get(g, id, prop);
    }
    struct gw_resp r;
    int rc = gw_request(g, "GET", path, NULL, NULL, &r);
    free(path);
    if (rc != GW_EXIT_OK)
        return rc;
    char *what = ht_asprintf("%s %s", id, prop);
    if (r.status / 100 != 2) {
        rc = gw_fail(g, &r, what);
    } else if (!r.json) {
        fprintf(stderr, "gwctl: %s: the gateway did not answer JSON\n", what);
        rc = GW_EXIT_DEVICE;
    } else {
        const json_t *v;
        long long ts;
        gw_extract_value(r.json, &v, &ts);
        print_result(g, kind, id, prop, v, ts ? ts : r.ts);
    }
    free(what);
    gw_resp_clear(&r);
    return rc;
}

/* The gateway answers a write only after the device acked it (or 503/504),
 * so the value printed is the one the device confirmed. */
int gw_prop_set(struct gwctl *g, const char *kind, const char *id,
                const char *prop, const char *value)
{
    char *path = prop_path(kind, id, prop);
    if (!path)
        return GW_EXIT_USAGE;
    json_t *v = gw_parse_value(value);
    char *body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    struct gw_resp r;
    int rc = gw_request(g, "PUT", path, body, NULL, &r);
    free(body);
    free(path);
    if (rc != GW_EXIT_OK) {
        json_decref(v);
        return rc;
    }
    char *what = ht_asprintf("%s %s", id, prop);
    if (r.status / 100 != 2) {
        rc = gw_fail(g, &r, what);
        /* 422/502: the device itself refused the value. */
        if (r.status == 422 || r.status == 502)
            rc = GW_EXIT_DEVICE;
    } else {
        const json_t *cv = v;
        long long ts = 0;
        /* An ack body {"ok":true,"v":..,"ts":..} or the value; an empty
         * 200/204 confirms what was sent. */
        if (r.json)
            gw_extract_value(r.json, &cv, &ts);
        if (json_is_object(r.json) &&
            json_is_false(json_object_get(r.json, "ok"))) {
            const json_t *e = json_object_get(r.json, "error");
            fprintf(stderr, "gwctl: %s: device error %s: %s\n", what,
                    json_string_value(json_object_get(e, "code"))
                        ? json_string_value(json_object_get(e, "code"))
                        : "?",
                    json_string_value(json_object_get(e, "message"))
                        ? json_string_value(json_object_get(e, "message"))
                        : "");
            rc = GW_EXIT_DEVICE;
        } else {
            print_result(g, kind, id, prop, cv, ts);
        }
    }
    free(what);
    json_decref(v);
    gw_resp_clear(&r);
    return rc;
}

int gw_cmd_get(struct gwctl *g, int argc, char **argv)
{
    if (argc != 3)
        return gw_usage("get");
    return gw_prop_get(g, strchr(argv[2], '.') ? "twins" : "devices", argv[1],
                       argv[2]);
}

int gw_cmd_set(struct gwctl *g, int argc, char **argv)
{
    if (argc != 4)
        return gw_usage("set");
    return gw_prop_set(g, strchr(argv[2], '.') ? "twins" : "devices", argv[1],
                       argv[2], argv[3]);
}
