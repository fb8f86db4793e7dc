/* server.c - the server module's HTTP core on libmicrohttpd: daemon set-up
 * (internal polling thread + epoll, suspend/resume, loopback by default,
 * connection/body/header limits and timeouts, optional HTTPS), request
 * bodies, routing with per-route roles, and RFC 9457 problem replies.
 *
 * Requests are answered on the access handler's second call (or later):
 * answering on the first call makes MHD 0.9.75 drop keep-alive.
 */

#include "gateway/auth/auth.h"
#include "gateway/http/http.h"
#include "gateway/metrics/metrics.h"
#include "gateway/sse/sse.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "http"

/* ---- replies ---- */

enum MHD_Result gw__reply_buf(struct gw_req *r, unsigned status,
                              const char *ctype, const void *buf, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)buf, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(resp, "Content-Type", ctype);
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate",
                                "Bearer realm=\"holotwin\"");
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply_json_ctype(struct gw_req *r, unsigned status,
                                        json_t *body, const char *ctype)
{
    if (!body)
        return gw__reply_buf(r, status, NULL, "", 0);
    char *s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (!s)
        return gw__reply_buf(r, 500, "text/plain", "encoding error\n", 15);
    size_t n = strlen(s);
    s = ht_realloc(s, n + 2);
    s[n++] = '\n';
    s[n] = '\0';
    enum MHD_Result ret = gw__reply_buf(r, status, ctype, s, n);
    free(s);
    return ret;
}

enum MHD_Result gw__reply_json(struct gw_req *r, unsigned status, json_t *body)
{
    const char *ct = "application/json";
    if (json_is_object(body) && json_object_get(body, "type") &&
        json_object_get(body, "title") && json_object_get(body, "status"))
        ct = "application/problem+json";
    return reply_json_ctype(r, status, body, ct);
}

enum MHD_Result gw__reply_problem(struct gw_req *r, unsigned status,
                                  const char *title, const char *detail)
{
    json_t *p = gw__problem((int)status, title, detail);
    if (r->url)
        json_object_set_new(p, "instance", json_string(r->url));
    return reply_json_ctype(r, status, p, "application/problem+json");
}

enum MHD_Result gw__reply_job(struct gw_req *r, struct gw_job *j)
{
    if (gw__job_submit(r->g, j, r->conn) != HT_OK) {
        gw__job_unref(r->g, j);
        return gw__reply_problem(r, 503, "Gateway stopping",
                                 "the gateway is shutting down");
    }
    r->job = j;
    return MHD_YES;
}

const char *gw__query(struct gw_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

bool gw__query_int(struct gw_req *r, const char *key, long long def,
                   long long *out)
{
    const char *s = gw__query(r, key);
    *out = def;
    if (!s)
        return true;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

/* ---- routing ---- */

static enum MHD_Result dispatch(struct gw_req *r)
{
    struct ht_gw *g = r->g;
    const struct gw_route *hit;
    char allow[128];
    int found = gw__route_find(r, &hit, allow, sizeof allow);
    if (found == 404)
        return gw__reply_problem(r, 404, "Not Found", "no such resource");
    bool path_hit = found == 405;
    if (!hit) {
        if (path_hit) {
            json_t *p = gw__problem(405, "Method Not Allowed", r->method);
            char *s = json_dumps(p, JSON_COMPACT);
            json_decref(p);
            struct MHD_Response *resp = MHD_create_response_from_buffer(
                strlen(s), s, MHD_RESPMEM_MUST_FREE);
            MHD_add_response_header(resp, "Content-Type",
                                    "application/problem+json");
            MHD_add_response_header(resp, "Allow", allow);
            enum MHD_Result ret = MHD_queue_response(r->conn, 405, resp);
            MHD_destroy_response(resp);
            return ret;
        }
        if (strncmp(r->url, "/api/", 5) &&
            (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD")))
            return gw__serve_static(r);
        return gw__reply_problem(r, 404, "Not Found", "no such resource");
    }
    const char *bad = gw__route_check(r);
    if (bad)
        return gw__reply_problem(r, 400, "Bad Request", bad);
    if (hit->role > GW_ROLE_NONE) {
        const char *authz = MHD_lookup_connection_value(
            r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        /* Browsers' EventSource cannot send headers: for GET requests
         * only, an access_token query parameter stands in (RFC 6750 2.3). */
        char qauth[300];
        const char *qt = gw__query(r, "access_token");
        if (!authz && qt && !strcmp(r->method, "GET") && strlen(qt) < 256) {
            snprintf(qauth, sizeof qauth, "Bearer %s", qt);
            authz = qauth;
        }
        r->role = gw__auth_check(g, authz, r->actor, sizeof r->actor);
        if (r->role == GW_ROLE_NONE)
            return gw__reply_problem(r, 401, "Unauthorized",
                                     "a valid bearer token is required");
        if (r->role < hit->role) {
            char d[96];
            snprintf(d, sizeof d, "this needs the %s role (token has %s)",
                     gw__role_name(hit->role), gw__role_name(r->role));
            return gw__reply_problem(r, 403, "Forbidden", d);
        }
    }
    return hit->fn(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    (void)version;
    struct ht_gw *g = cls;
    struct gw_req *r = *req_cls;
    if (!r) {
        r = ht_calloc(1, sizeof *r);
        r->g = g;
        r->conn = conn;
        r->method = method;
        r->url = url;
        *req_cls = r;
        pthread_mutex_lock(&g->metrics->mu);
        g->metrics->http_requests++;
        pthread_mutex_unlock(&g->metrics->mu);
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_big)
            return MHD_YES;
        if (r->body_len + n > (size_t)g->conf->http_max_body) {
            r->too_big = true;
            free(r->body);
            r->body = NULL;
            r->body_len = 0;
            /* Answer now; MHD closes the connection after it. */
            return gw__reply_problem(r, 413, "Payload Too Large",
                                     "the request body exceeds http.max_body");
        }
        r->body = ht_realloc(r->body, r->body_len + n + 1);
        memcpy(r->body + r->body_len, upload, n);
        r->body_len += n;
        r->body[r->body_len] = '\0';
        return MHD_YES;
    }
    if (r->too_big)
        return MHD_YES; /* 413 already queued */
    if (r->job) {
        if (!gw__job_done(g, r->job))
            return MHD_YES;
        struct gw_job *j = r->job;
        pthread_mutex_lock(&g->jobs->mu);
        json_t *body = j->body;
        j->body = NULL;
        pthread_mutex_unlock(&g->jobs->mu);
        unsigned status = (unsigned)j->status;
        r->job = NULL;
        gw__job_unref(g, j);
        if (status == 204) {
            json_decref(body);
            return gw__reply_buf(r, 204, NULL, "", 0);
        }
        return gw__reply_json(r, status, body);
    }
    if (r->seen)
        return MHD_YES;
    r->seen = true;
    return dispatch(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct ht_gw *g = cls;
    struct gw_req *r = *req_cls;
    if (!r)
        return;
    gw__job_unref(g, r->job);
    free(r->path);
    free(r->body);
    free(r);
    *req_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    ht_log(LOG_WARNING, MOD, "%s", buf);
}

int gw__server_start(struct ht_gw *g, char *err, size_t errlen)
{
    const struct ht_gw_conf *c = g->conf;
    struct gw_server *s = ht_calloc(1, sizeof *s);
    s->sa.sin_family = AF_INET;
    s->sa.sin_port = htons((uint16_t)c->http_port);
    if (inet_pton(AF_INET, c->http_bind ? c->http_bind : "127.0.0.1",
                  &s->sa.sin_addr) != 1) {
        snprintf(err, errlen, "http.bind: '%s' is not an IPv4 address",
                 c->http_bind);
        free(s);
        return HT_EINVAL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    bool tls = c->tls_cert || c->tls_key;
    if (tls) {
        if (!c->tls_cert || !c->tls_key) {
            snprintf(err, errlen,
                     "HTTPS needs both http.tls_cert and "
                     "http.tls_key");
            free(s);
            return HT_EINVAL;
        }
        int rc = ht_file_read(c->tls_cert, 1 << 20, &s->tls_cert, NULL);
        if (rc == HT_OK)
            rc = ht_file_read(c->tls_key, 1 << 20, &s->tls_key, NULL);
        if (rc) {
            snprintf(err, errlen, "HTTPS: %s", ht_strerror(rc));
            free(s->tls_cert);
            free(s);
            return rc;
        }
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &s->sa},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)c->http_max_conn, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)c->http_timeout_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)c->http_max_header,
         NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, g},
        {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_END, 0, NULL},
    };
    s->d =
        MHD_start_daemon(flags, (uint16_t)c->http_port, NULL, NULL, on_request,
                         g, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use?)", c->http_bind,
                 c->http_port);
        free(s->tls_cert);
        free(s->tls_key);
        free(s);
        return HT_EHTTP;
    }
    pthread_mutex_init(&s->things_mu, NULL);
    g->server = s;
    ht_log(LOG_INFO, MOD, "listening on %s://%s:%d", tls ? "https" : "http",
           c->http_bind, c->http_port);
    return HT_OK;
}

void gw__server_stop(struct ht_gw *g)
{
    struct gw_server *s = g->server;
    if (!s)
        return;
    MHD_quiesce_daemon(s->d);
    /* Jobs were answered by gw__event_stop; end the streams too, so no
     * connection is suspended when the daemon stops. */
    gw__sse_close(g);
    MHD_stop_daemon(s->d);
    if (s->things_resp)
        MHD_destroy_response(s->things_resp);
    pthread_mutex_destroy(&s->things_mu);
    free(s->tls_cert);
    free(s->tls_key);
    free(s);
    g->server = NULL;
}
