/* routes_tdd.c - W3C WoT Discovery registration and search (HTTP
 * thread): PUT, POST, PATCH and DELETE of third-party TDs in /things
 * (technician), and GET /search/jsonpath (viewer) over every TD of the
 * directory. The TDs themselves live in the tdd module. */
#include "gateway/http/http.h"
#include "gateway/tdd/tdd.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* 400 with the Discovery spec's "validationErrors". errs taken. */
static enum MHD_Result invalid(struct gw_req *r, json_t *errs)
{
    json_t *p = gw__problem(400, "Invalid Thing Description",
                            "the TD fails validation: see validationErrors");
    json_object_set_new(p, "validationErrors", errs);
    json_object_set_new(p, "instance", json_string(r->url));
    return gw__reply_json(r, 400, p);
}

/* The body as a JSON object, or NULL after answering 400. */
static json_t *body_td(struct gw_req *r, enum MHD_Result *ret)
{
    json_error_t je;
    json_t *td =
        r->body && r->body_len
            ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je)
            : NULL;
    if (!json_is_object(td)) {
        json_decref(td);
        json_t *errs = json_array();
        json_array_append_new(
            errs, json_pack("{s:s, s:s}", "field", "(root)", "description",
                            "the body must be a TD (a JSON object)"));
        *ret = invalid(r, errs);
        return NULL;
    }
    return td;
}

/* Ids of our own devices and twins are not for registration. */
static bool reserved(const char *id)
{
    return !strncmp(id, "urn:holotwin:", 13);
}

/* Validate and store td (taken) as id; answers 201 (Location) or 204. */
static enum MHD_Result store(struct gw_req *r, const char *id, json_t *td,
                             bool location)
{
    json_t *errs = gw__tdd_validate(td);
    if (json_array_size(errs)) {
        json_decref(td);
        return invalid(r, errs);
    }
    json_decref(errs);
    bool created = false;
    int rc = gw__tdd_put(r->g, id, td, &created);
    if (rc == HT_ETOOBIG)
        return gw__reply_problem(r, 507, "Insufficient Storage",
                                 "the directory holds the most registered "
                                 "TDs it keeps");
    if (rc)
        return gw__reply_problem(r, 500, "Internal error", ht_strerror(rc));
    ht_log(LOG_NOTICE, "tdd", "TD %s %s by %s", id,
           created ? "registered" : "updated", r->actor);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (location) {
        char *loc = ht_asprintf("/things/%s", id);
        MHD_add_response_header(resp, "Location", loc);
        free(loc);
    }
    enum MHD_Result ret =
        MHD_queue_response(r->conn, created ? 201 : 204, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* PUT /things/{id}: create or replace (the body's "id", if any, must be
 * the one in the path). */
enum MHD_Result gw__route_thing_put(struct gw_req *r)
{
    enum MHD_Result ret;
    json_t *td = body_td(r, &ret);
    if (!td)
        return ret;
    const char *bid = json_string_value(json_object_get(td, "id"));
    if (bid && strcmp(bid, r->thing)) {
        json_decref(td);
        return gw__reply_problem(r, 400, "Bad Request",
                                 "the TD's id differs from the one in the "
                                 "path");
    }
    if (reserved(r->thing)) {
        json_decref(td);
        return gw__reply_problem(r, 409, "Conflict",
                                 "urn:holotwin: ids are the gateway's own "
                                 "devices and twins");
    }
    if (!bid)
        json_object_set_new(td, "id", json_string(r->thing));
    return store(r, r->thing, td, false);
}

/* POST /things: an anonymous TD gets a urn:uuid id (RFC 9562 version 4). */
enum MHD_Result gw__route_things_post(struct gw_req *r)
{
    enum MHD_Result ret;
    json_t *td = body_td(r, &ret);
    if (!td)
        return ret;
    if (json_object_get(td, "id")) {
        json_decref(td);
        return gw__reply_problem(r, 400, "Bad Request",
                                 "POST registers anonymous TDs: use PUT "
                                 "/things/{id} for a TD with an id");
    }
    unsigned char u[16];
    if (getrandom(u, sizeof u, 0) != (ssize_t)sizeof u) {
        json_decref(td);
        return gw__reply_problem(r, 500, "Internal error", "no randomness");
    }
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    char id[48];
    snprintf(id, sizeof id,
             "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x"
             "%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
             u[11], u[12], u[13], u[14], u[15]);
    json_object_set_new(td, "id", json_string(id));
    return store(r, id, td, true);
}

/* PATCH /things/{id}: a JSON merge patch (RFC 7396), validated as a
 * whole afterwards; the id cannot change. */
enum MHD_Result gw__route_thing_patch(struct gw_req *r)
{
    const char *ct =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    if (!ct || strncmp(ct, "application/merge-patch+json", 28))
        return gw__reply_problem(r, 415, "Unsupported Media Type",
                                 "PATCH takes application/merge-patch+json");
    enum MHD_Result ret;
    json_t *patch = body_td(r, &ret);
    if (!patch)
        return ret;
    json_t *td = gw__tdd_get(r->g, r->thing);
    if (!td) {
        json_decref(patch);
        return gw__reply_problem(r, 404, "Not Found",
                                 "no registered TD with this id");
    }
    gw__tdd_merge_patch(td, patch);
    json_decref(patch);
    const char *id = json_string_value(json_object_get(td, "id"));
    if (!id || strcmp(id, r->thing)) {
        json_decref(td);
        return gw__reply_problem(r, 400, "Bad Request",
                                 "a patch cannot change or remove the id");
    }
    return store(r, r->thing, td, false);
}

/* DELETE /things/{id}. */
enum MHD_Result gw__route_thing_delete(struct gw_req *r)
{
    int rc = gw__tdd_delete(r->g, r->thing);
    if (rc == HT_ENOENT)
        return gw__reply_problem(r, 404, "Not Found",
                                 reserved(r->thing)
                                     ? "devices and twins leave the directory "
                                       "through /api/v1"
                                     : "no registered TD with this id");
    if (rc)
        return gw__reply_problem(r, 500, "Internal error", ht_strerror(rc));
    ht_log(LOG_NOTICE, "tdd", "TD %s deleted by %s", r->thing, r->actor);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(r->conn, 204, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* GET /search/jsonpath?query=...: the query over the array of every TD
 * of the directory (devices, twins, registered), as the Discovery spec's
 * JSONPath search does. */
enum MHD_Result gw__route_search_jsonpath(struct gw_req *r)
{
    const char *q = gw__query(r, "query");
    if (!q || !*q)
        return gw__reply_problem(r, 400, "Bad Request",
                                 "query=JSONPATH is required");
    json_t *all = gw__directory_tds(r->g);
    char err[200];
    json_t *res = gw__tdd_jsonpath(all, q, err, sizeof err);
    json_decref(all);
    if (!res)
        return gw__reply_problem(r, 400, "Bad Request", err);
    return gw__reply_json(r, 200, res);
}
