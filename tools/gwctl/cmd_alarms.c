/* cmd_alarms.c - `gwctl alarms`: the gateway's alarms (ISA-18.2 life
 * cycle, docs/api.md "Alarms") over its public REST API and event stream:
 * list, history, watch, and the operator's and technician's commands
 * (ack, shelve, unshelve, out-of-service, in-service). */
#include "gwctl.h"

#include "ht_mem.h"
#include "ht_util.h"

#include <stdlib.h>
#include <string.h>

/* "critical" -> "CRIT" style short priority for the table. */
static const char *prio_short(const char *p)
{
    if (!p)
        return "-";
    if (!strcmp(p, "critical"))
        return "CRIT";
    if (!strcmp(p, "high"))
        return "HIGH";
    if (!strcmp(p, "medium"))
        return "MED";
    if (!strcmp(p, "low"))
        return "LOW";
    return p;
}

/* Append "&key=value" (value escaped) to a query being built. */
static char *query_add(char *q, const char *key, const char *value)
{
    if (!value)
        return q;
    char *e = gw_escape(value);
    char *n = ht_asprintf("%s%c%s=%s", q, strchr(q, '?') ? '&' : '?', key, e);
    free(e);
    free(q);
    return n;
}

/* Options start at argv[start] ("alarms --twin x" has no "list"). */
static int alarms_list(struct gwctl *g, int argc, char **argv, int start)
{
    const char *twin = NULL, *state = NULL, *prio = NULL;
    bool all = false;
    for (int i = start; i < argc; i++) {
        if (!strcmp(argv[i], "--twin") && i + 1 < argc)
            twin = argv[++i];
        else if (!strcmp(argv[i], "--state") && i + 1 < argc)
            state = argv[++i];
        else if (!strcmp(argv[i], "--priority") && i + 1 < argc)
            prio = argv[++i];
        else if (!strcmp(argv[i], "--all"))
            all = true;
        else
            return gw_usage("alarms");
    }
    char *path = ht_strdup("/api/v1/alarms");
    path = query_add(path, "twin", twin);
    path = query_add(path, "state", state);
    path = query_add(path, "priority", prio);
    path = query_add(path, "all", all ? "true" : NULL);
    json_t *res, *items;
    int rc = gw_list(g, path, &res, &items);
    free(path);
    if (rc != GW_EXIT_OK || !res)
        return rc;
    static const char *const hdr[] = {"PRIO", "STATE", "ALARM", "SINCE",
                                      "MESSAGE"};
    struct gw_table *t = gw_table_new(5, hdr);
    size_t i;
    json_t *a;
    json_array_foreach(items, i, a)
    {
        char since[32];
        gw_fmt_time((long long)json_integer_value(json_object_get(a, "since")),
                    since, sizeof since);
        char *id = ht_asprintf("%s:%s%s", gw_str(a, "twin"), gw_str(a, "rule"),
                               json_is_true(json_object_get(a, "first_out"))
                                   ? " (first out)"
                                   : "");
        const char *row[] = {prio_short(gw_str(a, "priority")),
                             gw_str(a, "state"), id, since,
                             gw_str(a, "message")};
        gw_table_row(t, row);
        free(id);
    }
    gw_table_print(t, stdout, g->color);
    gw_table_free(t);
    json_decref(res);
    return GW_EXIT_OK;
}

static int alarms_history(struct gwctl *g, int argc, char **argv)
{
    const char *twin = NULL, *rule = NULL;
    long long now = (long long)ht_time_ms(), from = 0, to = 0, limit = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--twin") && v) {
            twin = v;
        } else if (!strcmp(a, "--rule") && v) {
            rule = v;
        } else if ((!strcmp(a, "--from") || !strcmp(a, "--to")) && v) {
            if (gw_parse_time(v, now, a[2] == 'f' ? &from : &to)) {
                fprintf(stderr, "gwctl: %s: '%s' is not a time\n", a, v);
                return GW_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--limit") && v) {
            char *end;
            limit = strtoll(v, &end, 10);
            if (*end || limit < 1 || limit > 10000) {
                fprintf(stderr, "gwctl: --limit needs 1..10000\n");
                return GW_EXIT_USAGE;
            }
        } else {
            return gw_usage("alarms");
        }
        i++;
    }
    char *path = ht_strdup("/api/v1/alarms/history");
    char num[32];
    path = query_add(path, "twin", twin);
    path = query_add(path, "rule", rule);
    snprintf(num, sizeof num, "%lld", from);
    path = query_add(path, "from", from ? num : NULL);
    snprintf(num, sizeof num, "%lld", to);
    path = query_add(path, "to", to ? num : NULL);
    snprintf(num, sizeof num, "%lld", limit);
    path = query_add(path, "limit", limit ? num : NULL);
    json_t *res, *items;
    int rc = gw_list(g, path, &res, &items);
    free(path);
    if (rc != GW_EXIT_OK || !res)
        return rc;
    static const char *const hdr[] = {"TIME", "ALARM", "FROM",
                                      "TO",   "CAUSE", "WHO"};
    struct gw_table *t = gw_table_new(6, hdr);
    size_t i;
    json_t *a;
    json_array_foreach(items, i, a)
    {
        char ts[32];
        gw_fmt_time((long long)json_integer_value(json_object_get(a, "ts")), ts,
                    sizeof ts);
        char *id = ht_asprintf("%s:%s", gw_str(a, "twin"), gw_str(a, "rule"));
        const char *row[] = {ts,
                             id,
                             gw_str(a, "from"),
                             gw_str(a, "to"),
                             gw_str(a, "cause"),
                             gw_str(a, "who")};
        gw_table_row(t, row);
        free(id);
    }
    gw_table_print(t, stdout, g->color);
    gw_table_free(t);
    json_decref(res);
    return GW_EXIT_OK;
}

/* One line per alarm transition: time, priority, id, from -> to, cause,
 * who, message. */
static void alarm_line(const char *event, const json_t *d)
{
    (void)event;
    const json_t *a = json_object_get(d, "alarm");
    char tb[32];
    gw_fmt_time((long long)json_integer_value(json_object_get(d, "ts")), tb,
                sizeof tb);
    printf("%s  %-4s  %s:%s  %s -> %s  (%s%s%s)  %s\n", tb + 11,
           prio_short(gw_str(a, "priority")), gw_str(d, "twin"),
           gw_str(d, "rule"), gw_str(d, "from"), gw_str(d, "to"),
           gw_str(d, "cause"),
           json_is_string(json_object_get(d, "who")) ? " by " : "",
           json_is_string(json_object_get(d, "who")) ? gw_str(d, "who") : "",
           gw_str(a, "message"));
}

/* POST /api/v1/alarms/{twin:rule}/{verb} with an optional note (and a
 * shelf duration); prints the alarm's new state. */
static int alarms_cmd(struct gwctl *g, const char *verb, int argc, char **argv)
{
    const char *id = NULL, *note = NULL, *dur = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--note") && i + 1 < argc)
            note = argv[++i];
        else if (!strcmp(argv[i], "--for") && i + 1 < argc &&
                 !strcmp(verb, "shelve"))
            dur = argv[++i];
        else if (argv[i][0] == '-' || id)
            return gw_usage("alarms");
        else
            id = argv[i];
    }
    char twin[65], rule[65], err[160];
    if (!id || (!strcmp(verb, "shelve") && !dur))
        return gw_usage("alarms");
    if (gw_split_alarm(id, twin, sizeof twin, rule, sizeof rule, err,
                       sizeof err)) {
        fprintf(stderr, "gwctl: %s\n", err);
        return GW_EXIT_USAGE;
    }
    long long ms = 0;
    if (dur && gw_parse_duration(dur, &ms)) {
        fprintf(stderr,
                "gwctl: --for: '%s' is not a duration from 1 ms to "
                "24 h (90s, 30m, 8h)\n",
                dur);
        return GW_EXIT_USAGE;
    }
    json_t *req = json_object();
    if (note)
        json_object_set_new(req, "note", json_string(note));
    if (dur)
        json_object_set_new(req, "duration_ms", json_integer(ms));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char *path = ht_asprintf("/api/v1/alarms/%s:%s/%s", twin, rule, verb);
    struct gw_resp r;
    int rc = gw_request(g, "POST", path, body, NULL, &r);
    free(path);
    free(body);
    if (rc != GW_EXIT_OK)
        return rc;
    if (r.status / 100 != 2) {
        rc = gw_fail(g, &r, id);
    } else if (g->json) {
        gw_print_json(r.json);
    } else {
        printf("%s:%s: %s (%s)\n", twin, rule, verb, gw_str(r.json, "state"));
    }
    gw_resp_clear(&r);
    return rc;
}

int gw_cmd_alarms(struct gwctl *g, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";
    if (!strcmp(sub, "list") || sub[0] == '-')
        return alarms_list(g, argc, argv, sub[0] == '-' ? 1 : 2);
    if (!strcmp(sub, "history"))
        return alarms_history(g, argc, argv);
    if (!strcmp(sub, "watch"))
        return gw_watch_cmd(g, argc, argv, 2, "alarms", "alarm", alarm_line);
    static const char *const verbs[] = {
        "ack", "shelve", "unshelve", "out-of-service", "in-service", NULL};
    for (size_t i = 0; verbs[i]; i++)
        if (!strcmp(sub, verbs[i]))
            return alarms_cmd(g, verbs[i], argc, argv);
    fprintf(stderr, "gwctl: unknown alarms subcommand '%s'\n", sub);
    return GW_EXIT_USAGE;
}
