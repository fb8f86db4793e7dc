/* routes_alarms.c - REST handlers of /api/v1/alarms (HTTP thread;
 * docs/api.md "Alarms"). Lists come from the alarms module's snapshot and
 * the journal from the store; commands are checked here (id, body) so
 * that a bad request costs the loop nothing, then go to the loop as
 * GW_JOB_ALARM jobs whose audit action names the command.
 */

#include "gateway/alarms/alarms.h"
#include "gateway/http/http.h"
#include "gateway/jobs/jobs.h"
#include "gateway/store/store.h"

#include "twins/twin.h"

#include "ht_err.h"
#include "ht_util.h"

#include <stdio.h>
#include <string.h>

/* "true"/"1" or "false"/"0"; absent is false; anything else fails. */
static bool query_bool(struct gw_req *r, const char *key, bool *out)
{
    const char *v = gw__query(r, key);
    *out = v && (!strcmp(v, "true") || !strcmp(v, "1"));
    return !v || *out || !strcmp(v, "false") || !strcmp(v, "0");
}

enum MHD_Result gw__route_alarms(struct gw_req *r)
{
    struct gw_alarm_filter f = {
        .twin = gw__query(r, "twin"),
        .state = gw__query(r, "state"),
        .priority = gw__query(r, "priority"),
    };
    enum ht_twin_alarm_state st;
    enum ht_twin_priority pr;
    if ((f.twin && !ht_id_valid(f.twin)) ||
        (f.state && ht_twin_alarm_state_parse(f.state, &st)) ||
        (f.priority && ht_twin_priority_parse(f.priority, &pr)) ||
        !query_bool(r, "unacknowledged", &f.unacked) ||
        !query_bool(r, "all", &f.all))
        return gw__reply_problem(r, 400, "Bad Request",
                                 "twin must be an id, state a life-cycle "
                                 "state, priority critical|high|medium|low, "
                                 "unacknowledged and all true or false");
    json_t *items = gw__alarms_list(r->g, &f);
    json_int_t unacked = 0, active = 0;
    size_t i;
    json_t *a;
    json_array_foreach(items, i, a)
    {
        const char *s = json_string_value(json_object_get(a, "state"));
        unacked += json_is_true(json_object_get(a, "unacknowledged"));
        active += s && !strncmp(s, "active_", 7);
    }
    return gw__reply_json(r, 200,
                          json_pack("{s:o, s:{s:I, s:I}}", "items", items,
                                    "counts", "unacknowledged", unacked,
                                    "active", active));
}

enum MHD_Result gw__route_alarm_history(struct gw_req *r)
{
    const char *twin = gw__query(r, "twin"), *rule = gw__query(r, "rule");
    long long from, to, limit;
    if ((twin && !ht_id_valid(twin)) || (rule && !ht_id_valid(rule)) ||
        !gw__query_int(r, "from", 0, &from) ||
        !gw__query_int(r, "to", 0, &to) ||
        !gw__query_int(r, "limit", 1000, &limit) || from < 0 || to < 0 ||
        limit < 1 || limit > 10000)
        return gw__reply_problem(r, 400, "Bad Request",
                                 "twin and rule must be ids, from and to (ms) "
                                 "non-negative, limit 1..10000");
    json_t *items =
        ht_store_alarm_history(r->g->store, twin, rule, from, to, (int)limit);
    return gw__reply_json(r, 200, json_pack("{s:o}", "items", items));
}

enum MHD_Result gw__route_alarm_cmd(struct gw_req *r)
{
    const char *verb = r->seg[r->nseg - 1];
    const char *colon = strchr(r->alarm, ':');
    const char *action = NULL;
    enum gw_role role;
    json_t *v = NULL;
    char twin[HT_ID_MAX + 1], err[200];
    json_t *b = NULL;
    if (r->body && r->body_len) {
        json_error_t je;
        b = json_loadb(r->body, r->body_len, 0, &je);
        if (!b) {
            snprintf(err, sizeof err, "malformed JSON at line %d column %d: %s",
                     je.line, je.column, je.text);
            return gw__reply_problem(r, 400, "Bad Request", err);
        }
    }
    int rc = colon ? gw__alarms_cmd_parse(verb, colon + 1, b, &action, &v,
                                          &role, err, sizeof err)
                   : HT_ENOENT;
    json_decref(b);
    if (rc == HT_ENOENT)
        return gw__reply_problem(r, 404, "Not Found", "no such resource");
    if (rc)
        return gw__reply_problem(r, 400, "Bad Request", err);
    snprintf(twin, sizeof twin, "%.*s", (int)(colon - r->alarm), r->alarm);
    struct gw_job *j = gw__job_new(GW_JOB_ALARM, twin, r->actor);
    j->action = action;
    j->value = v;
    return gw__reply_job(r, j);
}
