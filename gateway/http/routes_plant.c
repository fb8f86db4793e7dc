/* routes_plant.c - the plant view's routes (HTTP thread; docs/fleet.md):
 * GET /api/v1/plant/..., the view's snapshots of the cells and twins read
 * from the cluster (404 when this gateway is not a plant view), and in
 * plant mode the cell's own twin routes over every twin of every cell,
 * named by plant ids, so that the same web clients work on the plant:
 * GET /api/v1/twins, .../{id}, .../state, .../ui, /api/v1/alarms (the
 * event stream is the cell's own handler: the view feeds the same log).
 * Writes and alarm commands are refused (403 read_only) unless
 * plant.commands, then a twin property write or an alarm command is a
 * plant command to the owning cell; routes that make
 * no sense across cells answer 501 not_in_plant_view. */
#include "gateway/alarms/alarms.h"
#include "gateway/http/http.h"
#include "gateway/jobs/jobs.h"
#include "gateway/plant/plant.h"

#include "ht_err.h"
#include "ht_id.h"
#include "ht_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result not_plant(struct gw_req *r)
{
    return gw__reply_problem(r, 404, "Not Found",
                             "this gateway is not a plant view "
                             "(gatewayd --plant)");
}

enum MHD_Result gw__route_plant_cells(struct gw_req *r)
{
    if (!r->g->plant)
        return not_plant(r);
    return gw__reply_json(
        r, 200, json_pack("{s:o}", "items", gw__plant_cells(r->g->plant)));
}

/* POST /api/v1/plant/commands: checked here, then a GW_JOB_PLANT_WRITE
 * job (audited on this gateway) that the plant view sends to the owning
 * cell; the answer is the cell's, once it is audited there too. */
enum MHD_Result gw__route_plant_cmd(struct gw_req *r)
{
    if (!r->g->plant)
        return not_plant(r);
    json_error_t je;
    json_t *v = r->body ? json_loadb(r->body, r->body_len, 0, &je) : NULL;
    char err[200];
    if (!v || gw__plant_cmd_check(v, err, sizeof err) != HT_OK) {
        json_decref(v);
        return gw__reply_problem(r, 400, "Bad Request",
                                 v ? err : "the body must be a JSON object");
    }
    const char *dev = json_string_value(json_object_get(v, "device"));
    const char *twin = json_string_value(json_object_get(v, "twin"));
    struct gw_job *j =
        gw__job_new(GW_JOB_PLANT_WRITE, dev ? dev : twin, r->actor);
    ht_strlcpy(j->prop, json_string_value(json_object_get(v, "property")),
               sizeof j->prop);
    j->value = v;
    return gw__reply_job(r, j);
}

enum MHD_Result gw__route_plant_twins(struct gw_req *r)
{
    if (!r->g->plant)
        return not_plant(r);
    const char *site = gw__query(r, "site"), *cell = gw__query(r, "cell");
    if ((site && !ht_id_valid(site)) || (cell && !ht_id_valid(cell)))
        return gw__reply_problem(r, 400, "Bad Request",
                                 "site and cell must be ids");
    return gw__reply_json(
        r, 200,
        json_pack("{s:o}", "items", gw__plant_twins(r->g->plant, site, cell)));
}

/* ---- the cell's routes in plant mode ---- */

static enum MHD_Result problem_code(struct gw_req *r, unsigned status,
                                    const char *title, const char *code,
                                    const char *detail)
{
    json_t *p = gw__problem((int)status, title, detail);
    json_object_set_new(p, "code", json_string(code));
    json_object_set_new(p, "instance", json_string(r->url));
    return gw__reply_json(r, status, p);
}

static enum MHD_Result not_in_plant_view(struct gw_req *r)
{
    return problem_code(
        r, 501, "Not in the plant view", "not_in_plant_view",
        "the plant view serves the twins of every cell (GET /api/v1/twins, "
        "their state, descriptors, alarms and events); ask the cell's own "
        "gateway (GET /api/v1/plant/cells names it) for this");
}

static enum MHD_Result unknown_plant_twin(struct gw_req *r)
{
    return gw__reply_problem(r, 404, "Not Found",
                             "no such twin in the plant (ids are "
                             "{site}~{cell}~{twin})");
}

/* GET /api/v1/twins: every twin of every cell; "plant" says what this
 * view allows, so that clients need not guess from URLs. */
static enum MHD_Result plant_twins(struct gw_req *r)
{
    bool cmds = gw__plant_commands(r->g->plant);
    return gw__reply_json(r, 200,
                          json_pack("{s:o, s:{s:b, s:b, s:b, s:b}}", "items",
                                    gw__plant_twin_list(r->g->plant), "plant",
                                    "read_only", !cmds, "commands", cmds,
                                    "history", false, "control", false));
}

static enum MHD_Result plant_twin_get(struct gw_req *r)
{
    if (!gw__plant_twin_exists(r->g->plant, r->id))
        return unknown_plant_twin(r);
    json_t *doc = gw__plant_twin_doc(r->g->plant, r->id);
    if (!doc)
        return gw__reply_problem(r, 503, "Unavailable",
                                 "the cell has not sent this twin's document "
                                 "yet");
    return gw__reply_json(r, 200, doc);
}

static enum MHD_Result plant_twin_state(struct gw_req *r)
{
    if (gw__query(r, "at"))
        return not_in_plant_view(r); /* history stays in the cell */
    if (!gw__plant_twin_exists(r->g->plant, r->id))
        return unknown_plant_twin(r);
    size_t len = 0;
    char *st = gw__plant_twin_state(r->g->plant, r->id, &len);
    if (!st)
        return gw__reply_problem(r, 503, "Unavailable",
                                 "the cell has not sent this twin's state yet");
    enum MHD_Result ret = gw__reply_buf(r, 200, "application/json", st, len);
    free(st);
    return ret;
}

/* The cell's operator descriptor, its bytes and ETag unchanged. */
static enum MHD_Result plant_twin_ui(struct gw_req *r)
{
    const char *target = gw__query(r, "target");
    if (!target)
        target = "web";
    if (strcmp(target, "web") && strcmp(target, "hmd"))
        return gw__reply_problem(r, 400, "Bad Request",
                                 "target must be web or hmd");
    char *out = NULL, etag[96];
    size_t len = 0;
    int rc = gw__plant_twin_ui(r->g->plant, r->id, target, &out, &len, etag,
                               sizeof etag);
    if (rc == HT_ENOENT)
        return unknown_plant_twin(r);
    if (rc == HT_ETOOBIG)
        return problem_code(r, 502, "Descriptor not forwarded",
                            "descriptor_too_large",
                            "the cell's descriptor is larger than a NATS "
                            "message (holotwin_upstream_oversize_total on "
                            "the cell); ask the cell");
    if (rc)
        return gw__reply_problem(r, 503, "Unavailable",
                                 "the cell has not sent this descriptor yet");
    const char *inm = MHD_lookup_connection_value(
        r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (gw__etag_match(inm, etag)) {
        free(out);
        return gw__reply_not_modified(r, etag);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, out, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* PUT /api/v1/twins/{id}/properties/{ref}: read-only by default; with
 * plant.commands, the plant command (a GW_JOB_PLANT_WRITE job, audited
 * here) to the owning cell, answered with the cell's outcome. */
static enum MHD_Result plant_twin_write(struct gw_req *r)
{
    if (!gw__plant_commands(r->g->plant))
        return problem_code(r, 403, "Forbidden", "read_only",
                            "this plant view is read-only: writes go to the "
                            "cell's gateway, or start the plant view with "
                            "plant.commands (--plant-commands)");
    if (!gw__plant_twin_exists(r->g->plant, r->id))
        return unknown_plant_twin(r);
    const char *ref = r->nseg == 6 ? r->seg[5] : NULL;
    char site[HT_ID_MAX + 1], cell[HT_ID_MAX + 1], twin[HT_ID_MAX + 1];
    json_error_t je;
    json_t *v = r->body && r->body_len
                    ? json_loadb(r->body, r->body_len, JSON_DECODE_ANY, &je)
                    : NULL;
    if (!ref || strlen(ref) > 65 || !v ||
        gw__plant_id_split(r->id, site, cell, twin) != HT_OK) {
        json_decref(v);
        return gw__reply_problem(r, 400, "Bad Request",
                                 "the body must be the JSON value to write "
                                 "to component.property");
    }
    json_t *req = json_pack("{ss ss ss ss so}", "site", site, "cell", cell,
                            "twin", twin, "property", ref, "value", v);
    char err[200];
    if (gw__plant_cmd_check(req, err, sizeof err) != HT_OK) {
        json_decref(req);
        return gw__reply_problem(r, 400, "Bad Request", err);
    }
    struct gw_job *j = gw__job_new(GW_JOB_PLANT_WRITE, twin, r->actor);
    ht_strlcpy(j->prop, ref, sizeof j->prop);
    j->value = req;
    return gw__reply_job(r, j);
}

/* POST /api/v1/alarms/{plant id}:{rule}/{verb}: read-only by default;
 * with plant.commands, the cell's alarm command routed to the owning cell
 * (a GW_JOB_PLANT_WRITE job audited here as "plant-alarm-VERB"), which
 * runs it as its REST route would (its role checks, audited there) and
 * answers. The plant id is mapped back to the cell's twin id here. */
static enum MHD_Result plant_alarm_cmd(struct gw_req *r)
{
    static const char *const actions[] = {
        "plant-alarm-ack", "plant-alarm-shelve", "plant-alarm-unshelve",
        "plant-alarm-out-of-service", "plant-alarm-in-service"};
    if (!gw__plant_commands(r->g->plant))
        return problem_code(r, 403, "Forbidden", "read_only",
                            "this plant view is read-only: acknowledge on the "
                            "cell's gateway, or start the plant view with "
                            "plant.commands (--plant-commands)");
    const char *verb = r->seg[r->nseg - 1];
    const char *colon = strrchr(r->alarm, ':');
    char site[HT_ID_MAX + 1], cell[HT_ID_MAX + 1], twin[HT_ID_MAX + 1];
    char pid[GW_PLANT_ID_MAX], err[200];
    size_t n = colon ? (size_t)(colon - r->alarm) : 0;
    if (!colon || n >= sizeof pid)
        return gw__reply_problem(r, 400, "Bad Request",
                                 "expected {plant id}:{rule}");
    memcpy(pid, r->alarm, n);
    pid[n] = '\0';
    json_error_t je;
    json_t *b = r->body && r->body_len
                    ? json_loadb(r->body, r->body_len, 0, &je)
                    : json_object();
    const char *action = NULL;
    json_t *v = NULL;
    enum gw_role role;
    int rc = !b ? HT_EINVAL
             : gw__plant_id_split(pid, site, cell, twin) != HT_OK
                 ? HT_EINVAL
                 : gw__alarms_cmd_parse(verb, colon + 1, b, &action, &v, &role,
                                        err, sizeof err);
    if (rc == HT_ENOENT) {
        json_decref(b);
        return gw__reply_problem(r, 404, "Not Found", "no such resource");
    }
    if (rc) {
        json_decref(b);
        return gw__reply_problem(r, 400, "Bad Request",
                                 b ? err
                                   : "the body must be a JSON object "
                                     "{\"note\"?, \"duration_ms\"?}");
    }
    json_decref(v); /* checked here; the cell builds its own */
    size_t k = 0;
    while (strcmp(actions[k] + 6, action))
        k++;
    char aid[HT_ID_MAX * 2 + 2];
    snprintf(aid, sizeof aid, "%s:%s", twin, colon + 1);
    struct gw_job *j = gw__job_new(GW_JOB_PLANT_WRITE, twin, r->actor);
    j->action = actions[k];
    j->value = json_pack("{ss ss ss ss so}", "site", site, "cell", cell,
                         "alarm", aid, "command", verb, "body", b);
    return gw__reply_job(r, j);
}

static enum MHD_Result plant_alarms(struct gw_req *r)
{
    const char *twin = gw__query(r, "twin"), *all = gw__query(r, "all");
    if ((twin && !gw__plant_id_valid(twin)) ||
        (all && strcmp(all, "true") && strcmp(all, "false") &&
         strcmp(all, "1") && strcmp(all, "0")))
        return gw__reply_problem(r, 400, "Bad Request",
                                 "twin must be a plant id, all true or false");
    bool every = all && (!strcmp(all, "true") || !strcmp(all, "1"));
    json_t *items = gw__plant_alarms(r->g->plant, twin, every);
    json_int_t unacked = 0, active = 0;
    size_t i;
    json_t *a;
    json_array_foreach(items, i, a)
    {
        const char *st = json_string_value(json_object_get(a, "state"));
        unacked += json_is_true(json_object_get(a, "unacknowledged"));
        active += st && !strncmp(st, "active_", 7);
    }
    return gw__reply_json(r, 200,
                          json_pack("{s:o, s:{s:I, s:I}}", "items", items,
                                    "counts", "unacknowledged", unacked,
                                    "active", active));
}

/* The cell's routes the plant view serves its own way (same method, path
 * and role as the cell's); the cell's handler serves the rest of them
 * unchanged (GET /api/v1/events: the view feeds the same event log). */
static const struct gw_route plant_routes[] = {
    {"GET", "/api/v1/twins", GW_ROLE_VIEWER, plant_twins},
    {"GET", "/api/v1/twins/{id}", GW_ROLE_VIEWER, plant_twin_get},
    {"GET", "/api/v1/twins/{id}/state", GW_ROLE_VIEWER, plant_twin_state},
    {"GET", "/api/v1/twins/{id}/ui", GW_ROLE_VIEWER, plant_twin_ui},
    {"PUT", "/api/v1/twins/{id}/properties/{ref}", GW_ROLE_OPERATOR,
     plant_twin_write},
    {"GET", "/api/v1/alarms", GW_ROLE_VIEWER, plant_alarms},
    {"POST", "/api/v1/alarms/{alarm}/ack", GW_ROLE_OPERATOR, plant_alarm_cmd},
    {"POST", "/api/v1/alarms/{alarm}/shelve", GW_ROLE_OPERATOR,
     plant_alarm_cmd},
    {"POST", "/api/v1/alarms/{alarm}/unshelve", GW_ROLE_OPERATOR,
     plant_alarm_cmd},
    {"POST", "/api/v1/alarms/{alarm}/out-of-service", GW_ROLE_TECHNICIAN,
     plant_alarm_cmd},
    {"POST", "/api/v1/alarms/{alarm}/in-service", GW_ROLE_TECHNICIAN,
     plant_alarm_cmd},
};

/* Paths of the cell that exist only per cell (devices, WoT directory,
 * history, control, assets, ...): 501 in plant mode. */
static const char *const cell_only[] = {"/api/v1/twins",   "/api/v1/alarms",
                                        "/api/v1/devices", "/things",
                                        "/search/",        "/.well-known/"};

const struct gw_route *gw__plant_route(const struct gw_route *hit)
{
    static const struct gw_route na[] = {
        {"GET", "", GW_ROLE_VIEWER, not_in_plant_view},
        {"POST", "", GW_ROLE_VIEWER, not_in_plant_view},
        {"PUT", "", GW_ROLE_VIEWER, not_in_plant_view},
        {"PATCH", "", GW_ROLE_VIEWER, not_in_plant_view},
        {"DELETE", "", GW_ROLE_VIEWER, not_in_plant_view},
    };
    for (size_t i = 0; i < sizeof plant_routes / sizeof *plant_routes; i++)
        if (!strcmp(hit->method, plant_routes[i].method) &&
            !strcmp(hit->path, plant_routes[i].path))
            return &plant_routes[i];
    for (size_t i = 0; i < sizeof cell_only / sizeof *cell_only; i++)
        if (!strncmp(hit->path, cell_only[i], strlen(cell_only[i])))
            for (size_t k = 0; k < sizeof na / sizeof *na; k++)
                if (!strcmp(hit->method, na[k].method))
                    return &na[k];
    return NULL;
}
