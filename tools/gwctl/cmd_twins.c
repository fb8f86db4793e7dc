/* cmd_twins.c - `gwctl twins ...`, `gwctl bind` and `gwctl ui`: twin models
 * (/api/v1/twins), their live state and history, bindings and UI
 * descriptors. */
#include "gwctl.h"

#include "ht_err.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <stdlib.h>
#include <string.h>

/* Models are kilobytes; a file much larger is a mistake. */
#define GW_MAX_MODEL (8u << 20)

static bool check_id(const char *id)
{
    if (ht_id_valid(id))
        return true;
    fprintf(stderr,
            "gwctl: '%s' is not a valid twin id "
            "([a-z0-9][a-z0-9._-]{0,63})\n",
            id);
    return false;
}

static char *twin_path(const char *id, const char *suffix)
{
    char *e = gw_escape(id);
    char *p = ht_asprintf("/api/v1/twins/%s%s", e, suffix ? suffix : "");
    free(e);
    return p;
}

/* Count the members of a collection that may be an array or an object. */
static size_t coll_size(const json_t *c)
{
    return json_is_array(c)    ? json_array_size(c)
           : json_is_object(c) ? json_object_size(c)
                               : 0;
}

static int twins_list(struct gwctl *g)
{
    json_t *res, *items;
    int rc = gw_list(g, "/api/v1/twins", &res, &items);
    if (rc != GW_EXIT_OK || !res)
        return rc;
    static const char *const hdr[] = {"ID", "COMPONENTS", "STABLE", "UPDATED",
                                      "TITLE"};
    struct gw_table *t = gw_table_new(5, hdr);
    size_t i;
    json_t *tw;
    json_array_foreach(items, i, tw)
    {
        char n[24], upd[32];
        json_t *comps = json_object_get(tw, "components");
        if (json_is_integer(comps))
            snprintf(n, sizeof n, "%lld", (long long)json_integer_value(comps));
        else if (comps)
            snprintf(n, sizeof n, "%zu", coll_size(comps));
        else
            snprintf(n, sizeof n, "-");
        json_t *upd_v = json_object_get(tw, "updated");
        if (!upd_v)
            upd_v = json_object_get(tw, "ts");
        gw_fmt_time((long long)json_integer_value(upd_v), upd, sizeof upd);
        json_t *st = json_object_get(tw, "stable");
        const char *row[] = {
            json_string_value(json_object_get(tw, "id")),
            n,
            json_is_boolean(st) ? (json_is_true(st) ? "yes" : "no") : "-",
            upd,
            json_string_value(json_object_get(tw, "title")),
        };
        gw_table_row(t, row);
    }
    gw_table_print(t, stdout, g->color);
    gw_table_free(t);
    json_decref(res);
    return GW_EXIT_OK;
}

/* show prints the model as the gateway stores it: it is a document, and the
 * pretty JSON is what a technician edits and applies back. */
static int twins_show(struct gwctl *g, const char *id, const char *suffix)
{
    char *path = twin_path(id, suffix);
    json_t *m;
    int rc = gw_get_json(g, path, &m);
    free(path);
    if (rc != GW_EXIT_OK)
        return rc;
    gw_print_json(m);
    json_decref(m);
    return GW_EXIT_OK;
}

/* at < 0: the current state; else the state then (time travel). */
static int twins_state(struct gwctl *g, const char *id, long long at)
{
    char q[48] = "/state";
    if (at >= 0)
        snprintf(q, sizeof q, "/state?at=%lld", at);
    char *path = twin_path(id, q);
    json_t *st;
    int rc = gw_get_json(g, path, &st);
    free(path);
    if (rc != GW_EXIT_OK)
        return rc;
    if (g->json) {
        gw_print_json(st);
        json_decref(st);
        return GW_EXIT_OK;
    }
    /* Scalars at the top (id, stable, ts) as a header, then one row per
     * property. */
    const char *k;
    json_t *v;
    json_object_foreach(st, k, v)
    {
        if (json_is_object(v) || json_is_array(v))
            continue;
        char *s = gw_scalar_text(v);
        if (!strcmp(k, "ts") || !strcmp(k, "updated")) {
            char t[32];
            gw_fmt_time((long long)json_integer_value(v), t, sizeof t);
            printf("%-10s %s\n", k, t);
        } else {
            printf("%-10s %s\n", k, s);
        }
        free(s);
    }
    json_t *rows = gw_flatten_state(st);
    static const char *const hdr[] = {"PROPERTY", "VALUE", "QUALITY",
                                      "UPDATED"};
    struct gw_table *t = gw_table_new(4, hdr);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        char *vs = gw_scalar_text(json_object_get(r, "value"));
        char ts[32];
        gw_fmt_time((long long)json_integer_value(json_object_get(r, "ts")), ts,
                    sizeof ts);
        const char *row[] = {
            json_string_value(json_object_get(r, "property")), vs,
            json_string_value(json_object_get(r, "quality")), ts};
        gw_table_row(t, row);
        free(vs);
    }
    putchar('\n');
    gw_table_print(t, stdout, g->color);
    gw_table_free(t);
    /* Active alarms are why a twin is not stable: show them last. */
    json_array_foreach(json_object_get(st, "alarms"), i, r)
    {
        char since[32];
        gw_fmt_time((long long)json_integer_value(json_object_get(r, "since")),
                    since, sizeof since);
        printf("%salarm%s %s [%s] %s (since %s)\n", g->color ? "\033[31m" : "",
               g->color ? "\033[0m" : "", gw_str(r, "rule"),
               gw_str(r, "severity"), gw_str(r, "message"), since);
    }
    json_decref(rows);
    json_decref(st);
    return GW_EXIT_OK;
}

static int twins_apply(struct gwctl *g, const char *file)
{
    json_error_t je;
    json_t *m = !strcmp(file, "-") ? json_loadf(stdin, 0, &je)
                                   : json_load_file(file, 0, &je);
    if (!m) {
        fprintf(stderr, "gwctl: %s:%d:%d: %s\n", file, je.line, je.column,
                je.text);
        return GW_EXIT_USAGE;
    }
    const char *id = json_string_value(json_object_get(m, "id"));
    if (!json_is_object(m) || !id || !ht_id_valid(id)) {
        fprintf(stderr,
                "gwctl: %s: a twin model is an object with a valid "
                "\"id\"\n",
                file);
        json_decref(m);
        return GW_EXIT_USAGE;
    }
    char *body = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *path = twin_path(id, NULL);
    struct gw_resp r;
    int rc = gw_request(g, "PUT", path, body, NULL, &r);
    free(path);
    free(body);
    if (rc == GW_EXIT_OK) {
        if (r.status / 100 != 2) {
            rc = gw_fail(g, &r, id);
        } else if (g->json) {
            json_t *o =
                json_pack("{s:s, s:b}", "id", id, "created", r.status == 201);
            gw_print_json(o);
            json_decref(o);
        } else {
            printf("%s: %s\n", id, r.status == 201 ? "created" : "applied");
        }
        gw_resp_clear(&r);
    }
    json_decref(m);
    return rc;
}

static int twins_delete(struct gwctl *g, const char *id)
{
    char *path = twin_path(id, NULL);
    int rc = gw_act(g, "DELETE", path, "", id, "delete", "deleted");
    free(path);
    return rc;
}

static int twins_history(struct gwctl *g, int argc, char **argv)
{
    const char *id = NULL, *prop = NULL;
    long long from = -1, to = -1, limit = -1, step = 0;
    bool csv = false;
    long long now = (long long)ht_time_ms();
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--csv")) {
            csv = true;
        } else if (!strcmp(a, "--step") && has) {
            if (gw_parse_duration(argv[++i], &step) != 0) {
                fprintf(stderr,
                        "gwctl: --step: '%s' is not a duration from 1 ms "
                        "to 24h (500ms, 30s, 5m, 1h)\n",
                        argv[i]);
                return GW_EXIT_USAGE;
            }
        } else if ((!strcmp(a, "--from") || !strcmp(a, "--to")) && has) {
            long long *dst = a[2] == 'f' ? &from : &to;
            if (gw_parse_time(argv[++i], now, dst) != 0) {
                fprintf(stderr,
                        "gwctl: %s: '%s' is not a time (ms, now, "
                        "-5m, YYYY-MM-DD[THH:MM[:SS]])\n",
                        a, argv[i]);
                return GW_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--limit") && has) {
            char *end;
            limit = strtoll(argv[++i], &end, 10);
            if (*end || limit <= 0 || limit > 1000000) {
                fprintf(stderr, "gwctl: --limit needs 1..1000000\n");
                return GW_EXIT_USAGE;
            }
        } else if (a[0] == '-') {
            return gw_usage("twins");
        } else if (!id) {
            id = a;
        } else if (!prop) {
            prop = a;
        } else {
            return gw_usage("twins");
        }
    }
    if (!id || !prop)
        return gw_usage("twins");
    char c[80], p[80], err[160];
    if (!check_id(id))
        return GW_EXIT_USAGE;
    if (gw_split_twin_prop(prop, c, sizeof c, p, sizeof p, err, sizeof err)) {
        fprintf(stderr, "gwctl: %s\n", err);
        return GW_EXIT_USAGE;
    }
    char q[160];
    int n = snprintf(q, sizeof q, "/history?property=%s", prop);
    if (from >= 0)
        n += snprintf(q + n, sizeof q - (size_t)n, "&from=%lld", from);
    if (to >= 0)
        n += snprintf(q + n, sizeof q - (size_t)n, "&to=%lld", to);
    if (limit > 0)
        n += snprintf(q + n, sizeof q - (size_t)n, "&limit=%lld", limit);
    if (step > 0)
        n += snprintf(q + n, sizeof q - (size_t)n, "&step=%lld", step);
    if (csv) {
        /* The gateway's own CSV, byte for byte. */
        snprintf(q + n, sizeof q - (size_t)n, "&format=csv");
        char *path = twin_path(id, q);
        struct gw_resp r;
        int rc = gw_request(g, "GET", path, NULL, NULL, &r);
        free(path);
        if (rc != GW_EXIT_OK)
            return rc;
        if (r.status / 100 != 2)
            rc = gw_fail(g, &r, id);
        else
            fputs(r.body ? r.body : "", stdout);
        gw_resp_clear(&r);
        return rc;
    }
    char *path = twin_path(id, q);
    json_t *res;
    int rc = gw_get_json(g, path, &res);
    free(path);
    if (rc != GW_EXIT_OK)
        return rc;
    json_t *items = gw_items(res);
    if (!items) {
        fprintf(stderr, "gwctl: unexpected answer from the gateway\n");
        json_decref(res);
        return GW_EXIT_DEVICE;
    }
    if (g->json) {
        gw_print_json(items);
    } else {
        /* Buckets (--step) add their min, max and count. */
        static const char *const hdr[] = {"TIME", "VALUE", "MIN", "MAX", "N"};
        struct gw_table *t = gw_table_new(step > 0 ? 5 : 2, hdr);
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            const json_t *v;
            long long ts;
            gw_extract_value(it, &v, &ts);
            char tb[32];
            gw_fmt_time(ts, tb, sizeof tb);
            char *vs = gw_scalar_text(v);
            char *mn = gw_scalar_text(json_object_get(it, "min"));
            char *mx = gw_scalar_text(json_object_get(it, "max"));
            char *nn = gw_scalar_text(json_object_get(it, "n"));
            const char *row[] = {tb, vs, mn, mx, nn};
            gw_table_row(t, row);
            free(vs);
            free(mn);
            free(mx);
            free(nn);
        }
        gw_table_print(t, stdout, g->color);
        gw_table_free(t);
    }
    json_decref(res);
    return GW_EXIT_OK;
}

/* `twins control ID [take|release] [--force]`: who controls a twin, or
 * take / release it (a technician's --force takes it from its holder). The
 * gateway keeps a holder's control while it has an open event stream;
 * gwctl has none, so its control lasts control.lease_ms (docs/api.md). */
static int twins_control(struct gwctl *g, int argc, char **argv)
{
    const char *id = NULL, *verb = NULL;
    bool force = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--force"))
            force = true;
        else if (!id)
            id = argv[i];
        else if (!verb &&
                 (!strcmp(argv[i], "take") || !strcmp(argv[i], "release")))
            verb = argv[i];
        else
            return gw_usage("twins");
    }
    if (!id || (force && !verb))
        return gw_usage("twins");
    if (!check_id(id))
        return GW_EXIT_USAGE;
    char *path = twin_path(id, force ? "/control?force" : "/control");
    int rc;
    if (verb) {
        bool take = verb[0] == 't';
        rc = gw_act(g, take ? "POST" : "DELETE", path, "", id,
                    take ? "control-take" : "control-release",
                    take ? "you control it" : "released");
        free(path);
        return rc;
    }
    json_t *c;
    rc = gw_get_json(g, path, &c);
    free(path);
    if (rc != GW_EXIT_OK)
        return rc;
    if (g->json) {
        gw_print_json(c);
    } else {
        json_t *h = json_object_get(c, "holder");
        const char *req =
            json_is_true(json_object_get(c, "required")) ? " (required)" : "";
        if (json_is_object(h)) {
            char t[32];
            gw_fmt_time(
                (long long)json_integer_value(json_object_get(h, "since")), t,
                sizeof t);
            printf("%s: controlled by %s since %s%s%s\n", id,
                   json_string_value(json_object_get(h, "name")), t,
                   json_is_true(json_object_get(h, "forced")) ? " (forced)"
                                                              : "",
                   req);
        } else {
            printf("%s: free%s\n", id, req);
        }
    }
    json_decref(c);
    return GW_EXIT_OK;
}

int gw_cmd_twins(struct gwctl *g, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";
    if (!strcmp(sub, "list"))
        return argc <= 2 ? twins_list(g) : gw_usage("twins");
    if (!strcmp(sub, "history"))
        return twins_history(g, argc, argv);
    if (!strcmp(sub, "state") && argc == 5 && !strcmp(argv[3], "--at")) {
        long long at;
        if (!check_id(argv[2]))
            return GW_EXIT_USAGE;
        if (gw_parse_time(argv[4], (long long)ht_time_ms(), &at) != 0) {
            fprintf(stderr,
                    "gwctl: --at: '%s' is not a time (ms, now, -5m, "
                    "YYYY-MM-DD[THH:MM[:SS]])\n",
                    argv[4]);
            return GW_EXIT_USAGE;
        }
        return twins_state(g, argv[2], at);
    }
    if (!strcmp(sub, "control"))
        return twins_control(g, argc, argv);
    if (!strcmp(sub, "apply")) {
        if (argc != 4 || (strcmp(argv[2], "-f") && strcmp(argv[2], "--file")))
            return gw_usage("twins");
        return twins_apply(g, argv[3]);
    }
    if (!strcmp(sub, "get") || !strcmp(sub, "set")) {
        if (argc != (sub[0] == 'g' ? 4 : 5))
            return gw_usage("twins");
        return sub[0] == 'g'
                   ? gw_prop_get(g, "twins", argv[2], argv[3])
                   : gw_prop_set(g, "twins", argv[2], argv[3], argv[4]);
    }
    if (!strcmp(sub, "export")) {
        /* twins export --aas ID (either order): the AAS V3 environment. */
        const char *id = NULL;
        bool aas = false;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--aas"))
                aas = true;
            else if (!id && argv[i][0] != '-')
                id = argv[i];
            else
                return gw_usage("twins");
        }
        if (!aas || !id) {
            fprintf(stderr, "gwctl: twins export needs --aas and a twin id\n");
            return GW_EXIT_USAGE;
        }
        return check_id(id) ? twins_show(g, id, "/aas") : GW_EXIT_USAGE;
    }
    if (argc != 3)
        return gw_usage("twins");
    if (!check_id(argv[2]))
        return GW_EXIT_USAGE;
    if (!strcmp(sub, "show"))
        return twins_show(g, argv[2], NULL);
    if (!strcmp(sub, "delete"))
        return twins_delete(g, argv[2]);
    if (!strcmp(sub, "state"))
        return twins_state(g, argv[2], -1);
    fprintf(stderr, "gwctl: unknown twins subcommand '%s'\n", sub);
    return GW_EXIT_USAGE;
}

/* Read the model, set one binding, write it back: the gateway validates the
 * whole model again, so a bad binding is refused with its problem detail. */
int gw_cmd_bind(struct gwctl *g, int argc, char **argv)
{
    if (argc != 4)
        return gw_usage("bind");
    const char *id = argv[1];
    char comp[80], prop[80], dev[80], dprop[80], err[200];
    if (!check_id(id))
        return GW_EXIT_USAGE;
    if (gw_split_twin_prop(argv[2], comp, sizeof comp, prop, sizeof prop, err,
                           sizeof err) ||
        gw_split_device_prop(argv[3], dev, sizeof dev, dprop, sizeof dprop, err,
                             sizeof err)) {
        fprintf(stderr, "gwctl: %s\n", err);
        return GW_EXIT_USAGE;
    }
    char *path = twin_path(id, NULL);
    json_t *m;
    int rc = gw_get_json(g, path, &m);
    if (rc != GW_EXIT_OK) {
        free(path);
        return rc;
    }
    if (gw_model_bind(m, comp, prop, dev, dprop, err, sizeof err) != 0) {
        fprintf(stderr, "gwctl: %s: %s\n", id, err);
        json_decref(m);
        free(path);
        return GW_EXIT_NOTFOUND;
    }
    char *body = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    struct gw_resp r;
    rc = gw_request(g, "PUT", path, body, NULL, &r);
    free(body);
    free(path);
    json_decref(m);
    if (rc != GW_EXIT_OK)
        return rc;
    if (r.status / 100 != 2) {
        rc = gw_fail(g, &r, id);
    } else if (g->json) {
        json_t *o =
            json_pack("{s:s, s:s, s:{s:s, s:s}}", "twin", id, "property",
                      argv[2], "binding", "device", dev, "property", dprop);
        gw_print_json(o);
        json_decref(o);
    } else {
        printf("%s %s <- %s/%s\n", id, argv[2], dev, dprop);
    }
    gw_resp_clear(&r);
    return rc;
}

int gw_cmd_ui(struct gwctl *g, int argc, char **argv)
{
    const char *id = NULL, *target = "web";
    bool raw = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--target") && i + 1 < argc)
            target = argv[++i];
        else if (!strncmp(argv[i], "--target=", 9))
            target = argv[i] + 9;
        else if (!strcmp(argv[i], "--raw"))
            raw = true;
        else if (argv[i][0] == '-' || id)
            return gw_usage("ui");
        else
            id = argv[i];
    }
    if (!id)
        return gw_usage("ui");
    if (!check_id(id))
        return GW_EXIT_USAGE;
    if (strcmp(target, "web") && strcmp(target, "hmd")) {
        fprintf(stderr, "gwctl: --target must be web or hmd\n");
        return GW_EXIT_USAGE;
    }
    char q[32];
    snprintf(q, sizeof q, "/ui?target=%s", target);
    char *path = twin_path(id, q);
    struct gw_resp r;
    int rc = gw_request(g, "GET", path, NULL, NULL, &r);
    free(path);
    if (rc != GW_EXIT_OK)
        return rc;
    if (r.status / 100 != 2) {
        rc = gw_fail(g, &r, id);
    } else if (raw) {
        fputs(r.body, stdout);
    } else if (!r.json) {
        fprintf(stderr, "gwctl: %s: the descriptor is not JSON\n", id);
        rc = GW_EXIT_DEVICE;
    } else if (g->json) {
        json_t *o = json_pack("{s:s, s:s, s:s?, s:O}", "twin", id, "target",
                              target, "etag", r.etag, "descriptor", r.json);
        gw_print_json(o);
        json_decref(o);
    } else {
        char *s = json_dumps(r.json, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s ? s : "");
        free(s);
    }
    gw_resp_clear(&r);
    return rc;
}
