/* routes_assets.c - GET|PUT|DELETE /api/v1/twins/{id}/assets/{name}:
 * binary twin assets (models, markers) stored by the twin glue, served
 * with their SHA-256 as ETag; plus the ETag helpers the twin routes share.
 */
#include "gateway/http/http.h"
#include "gateway/twinglue/twinglue.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_sha256.h"
#include "ht_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MOD "assets"

/* The allow-list: what HMD apps consume. */
static const char *const allowed_types[] = {
    "model/gltf-binary", "model/gltf+json",          "image/png",
    "image/jpeg",        "application/octet-stream", NULL,
};

/* ---- HTTP ---- */

/* The asset name is the segment after .../assets/ (not a {name} capture:
 * asset names allow dots and capitals, property names do not). */
static const char *seg_asset(const struct gw_req *r)
{
    return r->nseg == 6 ? r->seg[5] : NULL;
}

static json_t *asset_json(struct ht_gw *g, const char *twin, const char *name,
                          const json_t *a)
{
    char *http = gw__http_base(g);
    json_t *o = json_pack(
        "{s:s, s:O, s:O, s:O, s:O, s:o, s:o}", "name", name, "type",
        json_object_get(a, "type"), "size", json_object_get(a, "size"),
        "sha256", json_object_get(a, "sha256"), "updated",
        json_object_get(a, "updated"), "etag",
        json_sprintf("\"%s\"", gw__asset_str(a, "sha256")), "href",
        json_sprintf("%s/api/v1/twins/%s/assets/%s", http, twin, name));
    free(http);
    return o;
}

static enum MHD_Result unknown_twin(struct gw_req *r)
{
    return gw__reply_problem(r, 404, "Not Found", "unknown twin");
}

enum MHD_Result gw__route_twin_assets(struct gw_req *r)
{
    struct gw_twins *tw = r->g->twins;
    if (!gw__twin_exists(r->g, r->id, NULL))
        return unknown_twin(r);
    pthread_mutex_lock(&tw->asset_mu);
    json_t *idx = gw__asset_index_load(tw, r->id);
    pthread_mutex_unlock(&tw->asset_mu);
    json_t *items = json_array();
    const char *name;
    json_t *a;
    /* Object keys come in insertion order; the index is saved sorted. */
    json_object_foreach(idx, name, a)
        json_array_append_new(items, asset_json(r->g, r->id, name, a));
    json_decref(idx);
    return gw__reply_json(
        r, 200, json_pack("{s:s, s:o}", "twin", r->id, "items", items));
}

bool gw__etag_match(const char *header, const char *etag)
{
    if (!header)
        return false;
    size_t el = strlen(etag);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (!strncmp(p, "W/", 2))
            p += 2;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == el && !strncmp(p, etag, n))
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

enum MHD_Result gw__reply_not_modified(struct gw_req *r, const char *etag)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    enum MHD_Result ret = MHD_queue_response(r->conn, 304, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result gw__route_twin_asset_get(struct gw_req *r)
{
    struct gw_twins *tw = r->g->twins;
    const char *name = seg_asset(r);
    if (!gw__asset_name_valid(name))
        return gw__reply_problem(r, 400, "Bad Request",
                                 "invalid asset name: expected "
                                 "[A-Za-z0-9][A-Za-z0-9._-]{0,127}, no '..'");
    if (!gw__twin_exists(r->g, r->id, NULL))
        return unknown_twin(r);
    pthread_mutex_lock(&tw->asset_mu);
    json_t *idx = gw__asset_index_load(tw, r->id);
    json_t *a = json_object_get(idx, name);
    char *data = NULL;
    size_t len = 0;
    int rc = HT_ENOENT;
    char etag[72] = "", ctype[64] = "";
    if (a) {
        const char *sha = gw__asset_str(a, "sha256");
        snprintf(etag, sizeof etag, "\"%s\"", sha);
        ht_strlcpy(ctype, gw__asset_str(a, "type"), sizeof ctype);
        const char *inm = MHD_lookup_connection_value(
            r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
        if (gw__etag_match(inm, etag)) {
            pthread_mutex_unlock(&tw->asset_mu);
            json_decref(idx);
            return gw__reply_not_modified(r, etag);
        }
        char *p = gw__asset_blob_path(tw, *sha ? sha : "missing");
        rc = ht_file_read(p, (size_t)r->g->conf->asset_max + 1, &data, &len);
        free(p);
    }
    pthread_mutex_unlock(&tw->asset_mu);
    json_decref(idx);
    if (rc == HT_ENOENT && !a)
        return gw__reply_problem(r, 404, "Not Found", "unknown asset");
    if (rc) {
        free(data);
        return gw__reply_problem(r, 500, "Asset unreadable", ht_strerror(rc));
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The body must be what its type says: a client that mislabels a file
 * would otherwise make every HMD fail later, far from the cause. */
static const char *content_mismatch(const char *type, const char *b, size_t n)
{
    if (!strcmp(type, "image/png"))
        return n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)
                   ? NULL
                   : "the body is not a PNG image";
    if (!strcmp(type, "image/jpeg"))
        return n >= 3 && !memcmp(b, "\xff\xd8\xff", 3)
                   ? NULL
                   : "the body is not a JPEG image";
    if (!strcmp(type, "model/gltf-binary"))
        return n >= 12 && !memcmp(b, "glTF", 4)
                   ? NULL
                   : "the body is not a binary glTF (GLB) file";
    if (!strcmp(type, "model/gltf+json")) {
        json_t *j = json_loadb(b, n, 0, NULL);
        bool ok = json_is_object(json_object_get(j, "asset"));
        json_decref(j);
        return ok ? NULL
                  : "the body is not a glTF JSON document "
                    "(an object with \"asset\")";
    }
    return NULL;
}

enum MHD_Result gw__route_twin_asset_put(struct gw_req *r)
{
    struct ht_gw *g = r->g;
    struct gw_twins *tw = g->twins;
    const char *name = seg_asset(r);
    if (!gw__asset_name_valid(name))
        return gw__reply_problem(r, 400, "Bad Request",
                                 "invalid asset name: expected "
                                 "[A-Za-z0-9][A-Za-z0-9._-]{0,127}, no '..'");
    if (!gw__twin_exists(g, r->id, NULL))
        return unknown_twin(r);
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    char type[64] = "";
    if (ct) {
        size_t n = strcspn(ct, "; \t");
        if (n < sizeof type) {
            memcpy(type, ct, n);
            type[n] = '\0';
            for (char *p = type; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
        }
    }
    bool allowed = false;
    for (size_t i = 0; allowed_types[i] && !allowed; i++)
        allowed = !strcmp(type, allowed_types[i]);
    if (!allowed)
        return gw__reply_problem(r, 415, "Unsupported Media Type",
                                 "Content-Type must be model/gltf-binary, "
                                 "model/gltf+json, image/png, image/jpeg or "
                                 "application/octet-stream");
    if (!r->body || r->body_len == 0)
        return gw__reply_problem(r, 400, "Bad Request", "empty asset");
    if (r->body_len > (size_t)g->conf->asset_max) {
        char d[96];
        snprintf(d, sizeof d,
                 "assets are limited to %d bytes "
                 "(twins.asset_max)",
                 g->conf->asset_max);
        return gw__reply_problem(r, 413, "Payload Too Large", d);
    }
    const char *bad = content_mismatch(type, r->body, r->body_len);
    if (bad)
        return gw__reply_problem(r, 400, "Bad Request", bad);
    char sha[65];
    ht_sha256_hex(r->body, r->body_len, sha);
    pthread_mutex_lock(&tw->asset_mu);
    char *p = gw__asset_blob_path(tw, sha);
    int rc = access(p, F_OK) == 0
                 ? HT_OK
                 : ht_file_write_atomic(p, r->body, r->body_len, 0600);
    free(p);
    json_t *idx = gw__asset_index_load(tw, r->id);
    json_t *prev = json_object_get(idx, name);
    char old[65] = "";
    if (prev)
        ht_strlcpy(old, gw__asset_str(prev, "sha256"), sizeof old);
    bool created = !prev;
    json_t *a =
        json_pack("{s:s, s:s, s:I, s:I}", "sha256", sha, "type", type, "size",
                  (json_int_t)r->body_len, "updated", (json_int_t)ht_time_ms());
    json_object_set(idx, name, a);
    if (rc == HT_OK)
        rc = gw__asset_index_save(tw, r->id, idx);
    if (rc == HT_OK && old[0] && strcmp(old, sha))
        gw__asset_blob_release(tw, old);
    pthread_mutex_unlock(&tw->asset_mu);
    json_decref(idx);
    if (rc) {
        json_decref(a);
        return gw__reply_problem(r, 500, "Cannot store the asset",
                                 ht_strerror(rc));
    }
    ht_log(LOG_INFO, MOD, "twin %s: asset %s (%s, %zu bytes) by %s", r->id,
           name, type, r->body_len, r->actor);
    json_t *body = asset_json(g, r->id, name, a);
    json_decref(a);
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    char etag[72];
    snprintf(etag, sizeof etag, "\"%s\"", sha);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "ETag", etag);
    enum MHD_Result ret =
        MHD_queue_response(r->conn, created ? 201 : 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result gw__route_twin_asset_delete(struct gw_req *r)
{
    struct gw_twins *tw = r->g->twins;
    const char *name = seg_asset(r);
    if (!gw__asset_name_valid(name))
        return gw__reply_problem(r, 400, "Bad Request", "invalid asset name");
    if (!gw__twin_exists(r->g, r->id, NULL))
        return unknown_twin(r);
    pthread_mutex_lock(&tw->asset_mu);
    json_t *idx = gw__asset_index_load(tw, r->id);
    json_t *a = json_object_get(idx, name);
    char sha[65] = "";
    int rc = HT_ENOENT;
    if (a) {
        ht_strlcpy(sha, gw__asset_str(a, "sha256"), sizeof sha);
        json_object_del(idx, name);
        rc = gw__asset_index_save(tw, r->id, idx);
        if (rc == HT_OK)
            gw__asset_blob_release(tw, sha);
    }
    pthread_mutex_unlock(&tw->asset_mu);
    json_decref(idx);
    if (rc == HT_ENOENT)
        return gw__reply_problem(r, 404, "Not Found", "unknown asset");
    if (rc)
        return gw__reply_problem(r, 500, "Cannot delete the asset",
                                 ht_strerror(rc));
    ht_log(LOG_INFO, MOD, "twin %s: asset %s deleted by %s", r->id, name,
           r->actor);
    return gw__reply_buf(r, 204, NULL, "", 0);
}
