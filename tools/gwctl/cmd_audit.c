/* cmd_audit.c - `gwctl audit [--device ID] [--action A] [--result R]
 * [--who NAME] [--from T] [--to T] [--limit N]`: the gateway's audit log
 * (GET /api/v1/audit, technician), newest first. Each command is one line
 * with its final truth: who sent it, what, when, the outcome and its
 * latency, and a late ack next to a timeout. */
#include "gwctl.h"

#include "ht_mem.h"
#include "ht_util.h"

#include <stdlib.h>
#include <string.h>

/* Append "&key=escaped(value)" to the query (q is new, replaced). */
static void add_param(char **q, const char *key, const char *value)
{
    char *e = gw_escape(value);
    char *n = ht_asprintf("%s%c%s=%s", *q, strchr(*q, '?') ? '&' : '?', key, e);
    free(e);
    free(*q);
    *q = n;
}

/* "timeout (late ack: expired)", "ok" (new string). */
static char *outcome(const json_t *item)
{
    const char *res = gw_str(item, "result");
    const json_t *late = json_object_get(item, "late_ack");
    if (!json_is_object(late))
        return ht_strdup(res);
    return ht_asprintf("%s (late ack: %s)", res, gw_str(late, "result"));
}

static int audit_print(struct gwctl *g, const char *path)
{
    json_t *res, *items;
    int rc = gw_list(g, path, &res, &items);
    if (rc != GW_EXIT_OK || !res)
        return rc;
    static const char *const hdr[] = {"TIME",   "WHO",   "ACTION", "DEVICE",
                                      "TARGET", "VALUE", "RESULT", "LATENCY"};
    struct gw_table *t = gw_table_new(8, hdr);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        char when[32], lat[32];
        json_t *sent = json_object_get(it, "sent");
        gw_fmt_time((long long)json_integer_value(
                        sent ? sent : json_object_get(it, "ts")),
                    when, sizeof when);
        snprintf(
            lat, sizeof lat, "%lld ms",
            (long long)json_integer_value(json_object_get(it, "latency_ms")));
        char *out = outcome(it);
        const char *who = gw_str(it, "who");
        const char *row[] = {when,
                             strcmp(who, "-") ? who : gw_str(it, "actor"),
                             gw_str(it, "action"),
                             gw_str(it, "device"),
                             gw_str(it, "target"),
                             gw_str(it, "value"),
                             out,
                             lat};
        gw_table_row(t, row);
        free(out);
    }
    gw_table_print(t, stdout, g->color);
    gw_table_free(t);
    json_decref(res);
    return GW_EXIT_OK;
}

int gw_cmd_audit(struct gwctl *g, int argc, char **argv)
{
    static const char *const text_opts[] = {"--device", "--action", "--result",
                                            "--who", NULL};
    char *path = ht_strdup("/api/v1/audit");
    long long now = (long long)ht_time_ms();
    int rc = GW_EXIT_OK;
    for (int i = 1; i < argc && rc == GW_EXIT_OK; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        bool text = false;
        for (size_t k = 0; text_opts[k]; k++)
            text |= !strcmp(a, text_opts[k]);
        if (text && has) {
            const char *v = argv[++i];
            if (!*v || strlen(v) > 128) {
                fprintf(stderr, "gwctl: %s needs 1..128 characters\n", a);
                rc = GW_EXIT_USAGE;
            } else {
                add_param(&path, a + 2, v);
            }
        } else if ((!strcmp(a, "--from") || !strcmp(a, "--to")) && has) {
            long long ms;
            if (gw_parse_time(argv[++i], now, &ms) != 0) {
                fprintf(stderr,
                        "gwctl: %s: '%s' is not a time (ms, now, -5m, "
                        "YYYY-MM-DD[THH:MM[:SS]])\n",
                        a, argv[i]);
                rc = GW_EXIT_USAGE;
            } else {
                char n[24];
                snprintf(n, sizeof n, "%lld", ms);
                add_param(&path, a + 2, n);
            }
        } else if (!strcmp(a, "--limit") && has) {
            char *end;
            long long n = strtoll(argv[++i], &end, 10);
            if (*end || n <= 0 || n > 10000) {
                fprintf(stderr, "gwctl: --limit needs 1..10000\n");
                rc = GW_EXIT_USAGE;
            } else {
                add_param(&path, "limit", argv[i]);
            }
        } else {
            rc = gw_usage("audit");
        }
    }
    if (rc == GW_EXIT_OK)
        rc = audit_print(g, path);
    free(path);
    return rc;
}
