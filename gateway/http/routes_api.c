/* routes_api.c - the REST v1 handlers (devices, properties, history,
 * events, tokens, audit, health) and the route table. Handlers run on the
 * HTTP thread: they read registry snapshots and the store, and send every
 * change of loop-owned state to the loop as a job. */

#include "gateway/broker/provision.h"
#include "gateway/http/http.h"
#include "gateway/ingest/ingest.h"
#include "gateway/plant/plant.h"
#include "gateway/registry/registry.h"
#include "gateway/sse/sse.h"
#include "gateway/store/store.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_mqtt.h"
#include "ht_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *parse_body(struct gw_req *r, char *err, size_t errlen)
{
    if (!r->body || r->body_len == 0) {
        snprintf(err, errlen, "a JSON body is required");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, &je);
    if (!j)
        snprintf(err, errlen, "malformed JSON at line %d column %d: %s",
                 je.line, je.column, je.text);
    return j;
}

/* ---- health ---- */

static enum MHD_Result get_healthz(struct gw_req *r)
{
    struct ht_gw *g = r->g;
    bool up = g->mqtt && ht_mqtt_connected(g->mqtt);
    /* Degraded (still 200: alive and serving; the body says what does not
     * work): the disk is full and values wait in the journal. */
    char why[160];
    bool degraded = ht_store_degraded(g->store, why, sizeof why);
    json_t *o = json_pack("{s:s, s:s, s:b, s:b, s:s, s:i, s:o, s:I}", "status",
                          degraded ? "degraded" : "ok", "version", HT_VERSION,
                          "mqtt", up, "mqtt_ready", gw__ingest_mqtt_ready(g),
                          "broker", g->conf->broker ? "external" : "embedded",
                          "schema", ht_store_schema_version(g->store),
                          "devices", gw__device_counts(g), "sse_clients",
                          (json_int_t)gw__sse_clients(g));
    if (degraded)
        json_object_set_new(o, "reason", json_string(why));
    return gw__reply_json(r, 200, o);
}

/* ---- devices ---- */

static enum MHD_Result get_devices(struct gw_req *r)
{
    const char *state = gw__query(r, "state");
    enum gw_state st;
    if (state && gw__state_parse(state, &st) != HT_OK)
        return gw__reply_problem(r, 400, "Bad Request",
                                 "state must be discovered, pending, "
                                 "approved or blocked");
    json_t *items = gw__devices_list(r->g, state);
    return gw__reply_json(r, 200, json_pack("{s:o}", "items", items));
}

static enum MHD_Result get_device(struct gw_req *r)
{
    json_t *d;
    if (gw__device_get(r->g, r->id, &d) != HT_OK)
        return gw__reply_problem(r, 404, "Not Found", "unknown device");
    return gw__reply_json(r, 200, d);
}

static enum MHD_Result get_device_td(struct gw_req *r)
{
    long long ver;
    if (!gw__query_int(r, "version", 0, &ver) || ver < 0 || ver > 1000000)
        return gw__reply_problem(r, 400, "Bad Request", "bad version");
    json_t *td = NULL;
    int v = 0;
    int rc = ht_store_td_latest(r->g->store, r->id, &td, &v);
    if (rc == HT_OK && ver > 0 && ver != v) {
        json_decref(td);
        td = NULL;
        rc = HT_ENOENT; /* older versions: listed, bodies on request */
    }
    if (rc != HT_OK)
        return gw__reply_problem(r, 404, "Not Found", "no TD for this device");
    return gw__reply_json(r, 200, td);
}

static enum MHD_Result get_device_td_versions(struct gw_req *r)
{
    json_t *d;
    if (gw__device_get(r->g, r->id, &d) != HT_OK)
        return gw__reply_problem(r, 404, "Not Found", "unknown device");
    json_decref(d);
    return gw__reply_json(
        r, 200,
        json_pack("{s:o}", "items", ht_store_td_versions(r->g->store, r->id)));
}

static enum MHD_Result admin_job(struct gw_req *r, enum gw_job_kind kind)
{
    struct gw_job *j = gw__job_new(kind, r->id, r->actor);
    return gw__reply_job(r, j);
}

static enum MHD_Result post_approve(struct gw_req *r)
{
    return admin_job(r, GW_JOB_APPROVE);
}

static enum MHD_Result post_block(struct gw_req *r)
{
    return admin_job(r, GW_JOB_BLOCK);
}

static enum MHD_Result delete_device(struct gw_req *r)
{
    return admin_job(r, GW_JOB_DELETE);
}

static enum MHD_Result post_devices(struct gw_req *r)
{
    char err[320];
    json_t *b = parse_body(r, err, sizeof err);
    if (!b)
        return gw__reply_problem(r, 400, "Bad Request", err);
    const char *id = json_string_value(json_object_get(b, "id"));
    if (!json_is_object(b) || !id || !ht_id_valid(id)) {
        json_decref(b);
        return gw__reply_problem(r, 400, "Bad Request",
                                 "body must be {\"id\": ID} with ID matching "
                                 "[a-z0-9][a-z0-9._-]{0,63}");
    }
    struct gw_job *j = gw__job_new(GW_JOB_PREREG, id, r->actor);
    json_decref(b);
    return gw__reply_job(r, j);
}

/* ---- properties ---- */

/* The bare value, as a WoT consumer's readproperty expects; metadata in
 * headers, or everything with ?meta=1. */
static enum MHD_Result get_property(struct gw_req *r)
{
    json_t *p;
    if (gw__property_get(r->g, r->id, r->name, &p) != HT_OK)
        return gw__reply_problem(r, 404, "Not Found",
                                 "unknown device or property");
    const char *meta = gw__query(r, "meta");
    if (meta && strcmp(meta, "0"))
        return gw__reply_json(r, 200, p);
    json_t *v = json_object_get(p, "v");
    if (!v || json_is_null(v)) {
        json_decref(p);
        return gw__reply_problem(r, 404, "Not Found",
                                 "the property has no value yet");
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char ts[32];
    snprintf(ts, sizeof ts, "%lld",
             (long long)json_integer_value(json_object_get(p, "ts")));
    json_decref(p);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "X-Holotwin-Ts", ts);
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result put_property(struct gw_req *r)
{
    char err[320];
    json_t *v = parse_body(r, err, sizeof err);
    if (!v)
        return gw__reply_problem(r, 400, "Bad Request", err);
    struct gw_job *j = gw__job_new(GW_JOB_WRITE, r->id, r->actor);
    ht_strlcpy(j->prop, r->name, sizeof j->prop);
    j->value = v;
    return gw__reply_job(r, j);
}

static enum MHD_Result get_history(struct gw_req *r)
{
    long long from, to, limit, step;
    if (!gw__query_int(r, "from", 0, &from) ||
        !gw__query_int(r, "to", 0, &to) ||
        !gw__query_int(r, "limit", 1000, &limit) ||
        !gw__query_int(r, "step", 0, &step) || limit < 1 || limit > 100000 ||
        step < 0 || from < 0 || to < 0)
        return gw__reply_problem(r, 400, "Bad Request",
                                 "from, to, step (ms) and limit (1..100000) "
                                 "must be non-negative integers");
    json_t *d;
    if (gw__device_get(r->g, r->id, &d) != HT_OK)
        return gw__reply_problem(r, 404, "Not Found", "unknown device");
    json_decref(d);
    json_t *out;
    int rc = ht_store_history(r->g->store, r->id, r->name, from, to, (int)limit,
                              step, &out);
    if (rc)
        return gw__reply_problem(r, 500, "Store error", ht_strerror(rc));
    json_object_set_new(out, "device", json_string(r->id));
    json_object_set_new(out, "property", json_string(r->name));
    return gw__reply_history(r, out);
}

/* ---- events ---- */

static int64_t last_event_id(struct gw_req *r)
{
    const char *s =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
    if (!s)
        s = gw__query(r, "last_event_id");
    if (!s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    return v;
}

static enum MHD_Result stream(struct gw_req *r, bool observe, const char *dev,
                              const char *prop, const char *twin)
{
    /* Streams per token: one client cannot hold every connection with
     * streams (http.sse_per_token; counted on the HTTP thread, which is
     * the only one that opens streams). */
    if (gw__sse_owned(r->g, r->actor) >= (size_t)r->g->conf->http_sse_per_token)
        return gw__reply_problem(r, 429, "Too Many Requests",
                                 "this token holds http.sse_per_token "
                                 "event streams already");
    struct MHD_Response *resp = gw__sse_response(
        r->g, r->conn, last_event_id(r), observe, dev, prop, twin, r->actor);
    if (!resp)
        return gw__reply_problem(r, 503, "Unavailable", "cannot stream");
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result get_events(struct gw_req *r)
{
    const char *twin = gw__query(r, "twin");
    const char *dev = gw__query(r, "device");
    /* A plant view's twins are named by plant ids (plant.h). */
    bool twin_ok =
        !twin || (r->g->plant ? gw__plant_id_valid(twin) : ht_id_valid(twin));
    if (!twin_ok || (dev && !ht_id_valid(dev)))
        return gw__reply_problem(r, 400, "Bad Request", "invalid id filter");
    return stream(r, false, dev, NULL, twin);
}

static enum MHD_Result get_observe(struct gw_req *r)
{
    json_t *p;
    if (gw__property_get(r->g, r->id, r->name, &p) != HT_OK)
        return gw__reply_problem(r, 404, "Not Found",
                                 "unknown device or property");
    json_decref(p);
    return stream(r, true, r->id, r->name, NULL);
}

/* ---- tokens ---- */

static enum MHD_Result post_tokens(struct gw_req *r)
{
    char err[320];
    json_t *b = parse_body(r, err, sizeof err);
    if (!b)
        return gw__reply_problem(r, 400, "Bad Request", err);
    const char *role = json_string_value(json_object_get(b, "role"));
    const char *name = json_string_value(json_object_get(b, "name"));
    enum gw_role ro = gw__role_parse(role);
    if (!json_is_object(b) || ro == GW_ROLE_NONE || !name || !*name ||
        strlen(name) > 100) {
        json_decref(b);
        return gw__reply_problem(r, 400, "Bad Request",
                                 "body must be {\"role\": viewer|operator|"
                                 "technician|admin, \"name\": 1..100 chars}");
    }
    char id[33], *secret = NULL;
    int rc = gw__token_create(r->g, name, ro, id, &secret);
    if (rc) {
        json_decref(b);
        return gw__reply_problem(r, gw__store_status(rc), gw__store_title(rc),
                                 ht_strerror(rc));
    }
    ht_log(LOG_NOTICE, "auth", "token %s (%s, %s) created by %s", id, name,
           role, r->actor);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "token", secret,
                          "role", role, "name", name);
    free(secret);
    json_decref(b);
    return gw__reply_json(r, 201, o);
}

static enum MHD_Result get_tokens(struct gw_req *r)
{
    return gw__reply_json(
        r, 200, json_pack("{s:o}", "items", ht_store_token_list(r->g->store)));
}

static enum MHD_Result delete_token(struct gw_req *r)
{
    int rc = ht_store_token_delete(r->g->store, r->token_id);
    if (rc == HT_ENOENT)
        return gw__reply_problem(r, 404, "Not Found", "unknown token");
    if (rc)
        return gw__reply_problem(r, gw__store_status(rc), gw__store_title(rc),
                                 ht_strerror(rc));
    ht_log(LOG_NOTICE, "auth", "token %s deleted by %s", r->token_id, r->actor);
    return gw__reply_buf(r, 204, NULL, "", 0);
}

/* ---- MQTT accounts for apps (apps/apps.h) ---- */

/* {"name": ID, "role": "viewer"|"operator"}: the loop creates the broker
 * account (a job, audited like the other admin changes). */
static enum MHD_Result post_mqtt_accounts(struct gw_req *r)
{
    char err[320];
    json_t *b = parse_body(r, err, sizeof err);
    if (!b)
        return gw__reply_problem(r, 400, "Bad Request", err);
    const char *name = json_string_value(json_object_get(b, "name"));
    const char *role = json_string_value(json_object_get(b, "role"));
    if (!json_is_object(b) || !name || !ht_id_valid(name) || !role ||
        (strcmp(role, "viewer") && strcmp(role, "operator"))) {
        json_decref(b);
        return gw__reply_problem(r, 400, "Bad Request",
                                 "body must be {\"name\": an id, \"role\": "
                                 "viewer|operator}");
    }
    struct gw_job *j = gw__job_new(GW_JOB_ACCOUNT_ADD, name, r->actor);
    ht_strlcpy(j->prop, role, sizeof j->prop);
    json_decref(b);
    return gw__reply_job(r, j);
}

static enum MHD_Result get_mqtt_accounts(struct gw_req *r)
{
    json_t *items = gw__prov_app_list(r->g);
    if (!items)
        return gw__reply_problem(r, 500, "Store error", "cannot list");
    return gw__reply_json(r, 200, json_pack("{s:o}", "items", items));
}

static enum MHD_Result delete_mqtt_account(struct gw_req *r)
{
    return gw__reply_job(r,
                         gw__job_new(GW_JOB_ACCOUNT_DELETE, r->id, r->actor));
}

/* ---- audit ---- */

/* An action or result filter: a code such as "twin-write" or "timeout". */
static bool code_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' &&
            s[i] != '.')
            return false;
    return true;
}

/* Filters: device, action, result, who (token name), from/to (ms) and
 * limit; anything malformed is a 400 rather than an empty answer. */
static enum MHD_Result get_audit(struct gw_req *r)
{
    struct ht_store_audit_query q = {
        .device = gw__query(r, "device"),
        .action = gw__query(r, "action"),
        .result = gw__query(r, "result"),
        .who = gw__query(r, "who"),
    };
    long long limit, from, to;
    if ((q.device && !ht_id_valid(q.device)) ||
        (q.action && !code_valid(q.action)) ||
        (q.result && !code_valid(q.result)) ||
        (q.who && (!*q.who || strlen(q.who) > 100)) ||
        !gw__query_int(r, "limit", 100, &limit) || limit < 1 || limit > 10000 ||
        !gw__query_int(r, "from", 0, &from) || from < 0 ||
        !gw__query_int(r, "to", 0, &to) || to < 0)
        return gw__reply_problem(r, 400, "Bad Request",
                                 "device must be an id, action and result "
                                 "codes, who a token name, from and to ms, "
                                 "limit 1..10000");
    q.from = from;
    q.to = to;
    q.limit = (int)limit;
    return gw__reply_json(
        r, 200,
        json_pack("{s:o}", "items", ht_store_audit_list(r->g->store, &q)));
}

/* ---- route table (kept equal to gateway/openapi.yaml by a test) ---- */

static const struct gw_route routes[] = {
    {"GET", "/healthz", GW_ROLE_NONE, get_healthz},
    {"GET", "/metrics", GW_ROLE_VIEWER, gw__route_metrics},
    {"GET", "/.well-known/wot", GW_ROLE_VIEWER, gw__route_wellknown},
    {"GET", "/things", GW_ROLE_VIEWER, gw__route_things},
    {"GET", "/things/{thing}", GW_ROLE_VIEWER, gw__route_thing},
    {"POST", "/things", GW_ROLE_TECHNICIAN, gw__route_things_post},
    {"PUT", "/things/{thing}", GW_ROLE_TECHNICIAN, gw__route_thing_put},
    {"PATCH", "/things/{thing}", GW_ROLE_TECHNICIAN, gw__route_thing_patch},
    {"DELETE", "/things/{thing}", GW_ROLE_TECHNICIAN, gw__route_thing_delete},
    {"GET", "/search/jsonpath", GW_ROLE_VIEWER, gw__route_search_jsonpath},
    {"GET", "/api/v1/openapi.yaml", GW_ROLE_VIEWER, gw__route_openapi},
    {"GET", "/api/v1/devices", GW_ROLE_VIEWER, get_devices},
    {"POST", "/api/v1/devices", GW_ROLE_TECHNICIAN, post_devices},
    {"GET", "/api/v1/devices/{id}", GW_ROLE_VIEWER, get_device},
    {"DELETE", "/api/v1/devices/{id}", GW_ROLE_TECHNICIAN, delete_device},
    {"POST", "/api/v1/devices/{id}/approve", GW_ROLE_TECHNICIAN, post_approve},
    {"POST", "/api/v1/devices/{id}/block", GW_ROLE_TECHNICIAN, post_block},
    {"GET", "/api/v1/devices/{id}/td", GW_ROLE_VIEWER, get_device_td},
    {"GET", "/api/v1/devices/{id}/td/versions", GW_ROLE_VIEWER,
     get_device_td_versions},
    {"GET", "/api/v1/devices/{id}/properties/{name}", GW_ROLE_VIEWER,
     get_property},
    {"PUT", "/api/v1/devices/{id}/properties/{name}", GW_ROLE_OPERATOR,
     put_property},
    {"GET", "/api/v1/devices/{id}/properties/{name}/history", GW_ROLE_VIEWER,
     get_history},
    {"GET", "/api/v1/devices/{id}/properties/{name}/observe", GW_ROLE_VIEWER,
     get_observe},
    {"GET", "/api/v1/events", GW_ROLE_VIEWER, get_events},
    {"GET", "/api/v1/tokens", GW_ROLE_ADMIN, get_tokens},
    {"POST", "/api/v1/tokens", GW_ROLE_ADMIN, post_tokens},
    {"DELETE", "/api/v1/tokens/{token_id}", GW_ROLE_ADMIN, delete_token},
    {"GET", "/api/v1/audit", GW_ROLE_TECHNICIAN, get_audit},
    {"GET", "/api/v1/backup", GW_ROLE_ADMIN, gw__route_backup},
    {"GET", "/api/v1/mqtt-accounts", GW_ROLE_ADMIN, get_mqtt_accounts},
    {"POST", "/api/v1/mqtt-accounts", GW_ROLE_ADMIN, post_mqtt_accounts},
    {"DELETE", "/api/v1/mqtt-accounts/{id}", GW_ROLE_ADMIN,
     delete_mqtt_account},
    /* twins (routes_twins.c, assets.c) */
    {"GET", "/api/v1/alarms", GW_ROLE_VIEWER, gw__route_alarms},
    {"GET", "/api/v1/plant/cells", GW_ROLE_VIEWER, gw__route_plant_cells},
    {"GET", "/api/v1/plant/twins", GW_ROLE_VIEWER, gw__route_plant_twins},
    {"POST", "/api/v1/plant/commands", GW_ROLE_OPERATOR, gw__route_plant_cmd},
    {"GET", "/api/v1/alarms/history", GW_ROLE_VIEWER, gw__route_alarm_history},
    {"POST", "/api/v1/alarms/{alarm}/ack", GW_ROLE_OPERATOR,
     gw__route_alarm_cmd},
    {"POST", "/api/v1/alarms/{alarm}/shelve", GW_ROLE_OPERATOR,
     gw__route_alarm_cmd},
    {"POST", "/api/v1/alarms/{alarm}/unshelve", GW_ROLE_OPERATOR,
     gw__route_alarm_cmd},
    {"POST", "/api/v1/alarms/{alarm}/out-of-service", GW_ROLE_TECHNICIAN,
     gw__route_alarm_cmd},
    {"POST", "/api/v1/alarms/{alarm}/in-service", GW_ROLE_TECHNICIAN,
     gw__route_alarm_cmd},
    {"GET", "/api/v1/twins", GW_ROLE_VIEWER, gw__route_twins},
    {"GET", "/api/v1/twins/{id}", GW_ROLE_VIEWER, gw__route_twin_get},
    {"PUT", "/api/v1/twins/{id}", GW_ROLE_TECHNICIAN, gw__route_twin_put},
    {"DELETE", "/api/v1/twins/{id}", GW_ROLE_TECHNICIAN, gw__route_twin_delete},
    {"GET", "/api/v1/twins/{id}/state", GW_ROLE_VIEWER, gw__route_twin_state},
    {"GET", "/api/v1/twins/{id}/properties/{ref}", GW_ROLE_VIEWER,
     gw__route_twin_prop_get},
    {"GET", "/api/v1/twins/{id}/properties/{ref}/observe", GW_ROLE_VIEWER,
     gw__route_twin_prop_observe},
    {"GET", "/api/v1/twins/{id}/aas", GW_ROLE_VIEWER, gw__route_twin_aas},
    {"GET", "/api/v1/twins/{id}/events/{name}", GW_ROLE_VIEWER,
     gw__route_twin_event},
    {"PUT", "/api/v1/twins/{id}/properties/{ref}", GW_ROLE_OPERATOR,
     gw__route_twin_prop_put},
    {"GET", "/api/v1/twins/{id}/control", GW_ROLE_VIEWER,
     gw__route_twin_control_get},
    {"POST", "/api/v1/twins/{id}/control", GW_ROLE_OPERATOR,
     gw__route_twin_control_set},
    {"DELETE", "/api/v1/twins/{id}/control", GW_ROLE_OPERATOR,
     gw__route_twin_control_set},
    {"GET", "/api/v1/twins/{id}/history", GW_ROLE_VIEWER,
     gw__route_twin_history},
    {"GET", "/api/v1/twins/{id}/timeline", GW_ROLE_VIEWER,
     gw__route_twin_timeline},
    {"GET", "/api/v1/twins/{id}/ui", GW_ROLE_VIEWER, gw__route_twin_ui},
    {"GET", "/api/v1/twins/{id}/assets", GW_ROLE_VIEWER, gw__route_twin_assets},
    {"GET", "/api/v1/twins/{id}/assets/{asset}", GW_ROLE_VIEWER,
     gw__route_twin_asset_get},
    {"PUT", "/api/v1/twins/{id}/assets/{asset}", GW_ROLE_TECHNICIAN,
     gw__route_twin_asset_put},
    {"DELETE", "/api/v1/twins/{id}/assets/{asset}", GW_ROLE_TECHNICIAN,
     gw__route_twin_asset_delete},
    {NULL, NULL, GW_ROLE_NONE, NULL},
};

const struct gw_route *gw__routes(void)
{
    return routes;
}
