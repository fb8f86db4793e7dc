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
    if (r->idem.key[0] && r->g->server)
        gw__idem_finish(r->g->server->idem, &r->idem, status, ctype, buf, len);
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
    /* Who asks decides what the gate lets through: ?override=REASON (an
     * interlock or a permissive) and ?force (control) for technicians. */
    j->role = (int)r->role;
    const char *why = gw__query(r, "override");
    if (why)
        ht_strlcpy(j->reason, why, sizeof j->reason);
    const char *fv = NULL;
    size_t flen = 0;
    /* "?force" has no value: ask whether the key is there at all. */
    j->force = MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND,
                                             "force", 5, &fv, &flen) == MHD_YES;
    j->request =
        MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, "request",
                                      7, &fv, &flen) == MHD_YES;
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

/* ---- connection accounting ----
 * One client address may hold http.max_connections_per_ip connections.
 * Beyond http.max_connections, http.reserved_connections more are
 * accepted, but only from addresses holding fewer than RESERVE_HELD, and
 * on them only /healthz and admin requests are served (503 otherwise): a
 * client that fills the ordinary slots can never take the reserve. All on
 * the MHD thread (accept policy, connection notices, handlers). */
#define RESERVE_HELD 2

struct gw_conn_ctx {
    uint32_t addr;
    bool reserved; /* accepted beyond http.max_connections */
};

static uint32_t addr_of(const struct sockaddr *sa)
{
    if (sa && sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
    return 0;
}

/* The address's slot in the table, created when add (NULL if full). */
static struct gw_conn_ip *ip_slot(struct gw_server *s, uint32_t addr, bool add)
{
    struct gw_conn_ip *free_slot = NULL;
    for (size_t i = 0; i < s->nips; i++) {
        if (s->ips[i].n && s->ips[i].addr == addr)
            return &s->ips[i];
        if (!s->ips[i].n && !free_slot)
            free_slot = &s->ips[i];
    }
    if (add && free_slot)
        free_slot->addr = addr;
    return add ? free_slot : NULL;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr,
                                 socklen_t addrlen)
{
    (void)addrlen;
    struct ht_gw *g = cls;
    struct gw_server *s = g->server;
    const struct ht_gw_conf *c = g->conf;
    pthread_mutex_lock(&s->conn_mu);
    struct gw_conn_ip *ip = ip_slot(s, addr_of(addr), false);
    unsigned held = ip ? ip->n : 0;
    bool ok = held < (unsigned)c->http_max_conn_per_ip &&
              (s->nconn < (size_t)c->http_max_conn ||
               (s->nconn < (size_t)(c->http_max_conn + c->http_reserved_conn) &&
                held < RESERVE_HELD));
    if (!ok)
        s->refused++;
    pthread_mutex_unlock(&s->conn_mu);
    return ok ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct ht_gw *g = cls;
    struct gw_server *s = g->server;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct gw_conn_ctx *cc = ht_calloc(1, sizeof *cc);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        cc->addr = addr_of(ci ? ci->client_addr : NULL);
        pthread_mutex_lock(&s->conn_mu);
        cc->reserved = s->nconn >= (size_t)g->conf->http_max_conn;
        s->nconn++;
        struct gw_conn_ip *ip = ip_slot(s, cc->addr, true);
        if (ip)
            ip->n++;
        pthread_mutex_unlock(&s->conn_mu);
        *socket_ctx = cc;
        return;
    }
    struct gw_conn_ctx *cc = *socket_ctx;
    if (!cc)
        return;
    pthread_mutex_lock(&s->conn_mu);
    s->nconn--;
    struct gw_conn_ip *ip = ip_slot(s, cc->addr, false);
    if (ip)
        ip->n--;
    pthread_mutex_unlock(&s->conn_mu);
    free(cc);
    *socket_ctx = NULL;
}

/* Is r on a reserved connection, where only /healthz and admin go? */
static bool on_reserved_conn(const struct gw_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const struct gw_conn_ctx *cc = ci ? ci->socket_context : NULL;
    return cc && cc->reserved;
}

static enum MHD_Result reply_reserved(struct gw_req *r)
{
    return gw__reply_problem(r, 503, "Service Unavailable",
                             "every ordinary HTTP connection is taken; the "
                             "reserve serves /healthz and admin tokens only");
}

/* ---- routing ---- */

/* A POST or PUT with an Idempotency-Key: the first answer for this token
 * and key is kept and given again to a retry of the same request, which
 * then changes nothing (no second command, no second registration). */
static enum MHD_Result idempotent(struct gw_req *r, const struct gw_route *hit,
                                  const char *key)
{
    if (!r->g->server) /* the server is still starting */
        return hit->fn(r);
    if (!gw__idem_key_valid(key))
        return gw__reply_problem(r, 400, "Bad Request",
                                 "Idempotency-Key: 1..255 visible ASCII "
                                 "characters");
    struct gw_idem_answer a;
    int rc =
        gw__idem_begin(r->g->server->idem, r->actor, key, r->method, r->url,
                       r->body, r->body_len, ht_mono_ms(), &r->idem, &a);
    if (rc == GW_IDEM_MISMATCH)
        return gw__reply_problem(r, 422, "Unprocessable Content",
                                 "this Idempotency-Key was used for another "
                                 "request");
    if (rc == GW_IDEM_BUSY)
        return gw__reply_problem(r, 409, "Conflict",
                                 "the first request with this "
                                 "Idempotency-Key is still being answered");
    if (rc == GW_IDEM_NEW)
        return hit->fn(r);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(a.len, a.body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(a.body);
        return MHD_NO;
    }
    if (a.ctype[0])
        MHD_add_response_header(resp, "Content-Type", a.ctype);
    MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    enum MHD_Result ret = MHD_queue_response(r->conn, a.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

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
        if (on_reserved_conn(r))
            return reply_reserved(r);
        if (strncmp(r->url, "/api/", 5) &&
            (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD")))
            return gw__serve_static(r);
        return gw__reply_problem(r, 404, "Not Found", "no such resource");
    }
    if (g->plant) {
        const struct gw_route *ph = gw__plant_route(hit);
        if (ph)
            hit = ph;
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
        bool get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
        if (!authz && qt && get && strlen(qt) < 256) {
            snprintf(qauth, sizeof qauth, "Bearer %s", qt);
            authz = qauth;
        }
        /* A stream ticket from a TD's SSE form (auth.h): viewer, this
         * path only. */
        if (authz == qauth && !strncmp(qt, "t1.", 3)) {
            r->role = gw__ticket_check(g, qt, r->url, ht_time_ms() / 1000)
                          ? GW_ROLE_VIEWER
                          : GW_ROLE_NONE;
            /* Streams are counted per holder (http.sse_per_token): a
             * ticket's holder is its client address and path, so one
             * consumer can observe every property of a thing
             * (http.max_conn_per_ip still bounds the address). */
            const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
                r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
            snprintf(r->actor, sizeof r->actor, "ticket@%08x:%.120s",
                     (unsigned)addr_of(ci ? ci->client_addr : NULL), r->url);
        } else
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
    if (r->role != GW_ROLE_ADMIN && strcmp(hit->path, "/healthz") &&
        on_reserved_conn(r))
        return reply_reserved(r);
    if (!strcmp(r->method, "POST") || !strcmp(r->method, "PUT")) {
        const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                      "Idempotency-Key");
        if (key)
            return idempotent(r, hit, key);
    }
    return hit->fn(r);
}

static struct gw_req *new_req(struct ht_gw *g, struct MHD_Connection *conn,
                              const char *url)
{
    struct gw_req *r = ht_calloc(1, sizeof *r);
    r->g = g;
    r->conn = conn;
    r->url = url;
    return r;
}

/* MHD's URI log callback: the raw request target, before MHD splits and
 * decodes its query parameters (which all go into the connection's
 * memory pool: thousands of them exhaust it and MHD 0.9.75 then cannot
 * even send its 431, the client waits for the timeout). A target with too
 * many parameters has its query cut here, in MHD's own read buffer that
 * MHD is about to split in place anyway, so none of them is stored; the
 * request is answered 414 on the handler's first call, as is one with
 * "%00" (400), which decoding would turn into a NUL that truncates ids. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct ht_gw *g = cls;
    struct gw_req *r = new_req(g, conn, NULL);
    r->uri_status = gw__uri_check(uri, (size_t)g->conf->http_max_query,
                                  r->uri_why, sizeof r->uri_why);
    if (r->uri_status == 414) {
        char *q = strchr((char *)uri, '?');
        if (q)
            q[1] = '\0';
    }
    return r;
}

/* A Content-Length above http.max_body is refused on the first call. */
static bool declared_too_big(const struct gw_req *r)
{
    const char *cl = MHD_lookup_connection_value(
        r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return errno || end == cl ||
           n > (unsigned long long)r->g->conf->http_max_body;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    (void)version;
    struct ht_gw *g = cls;
    struct gw_req *r = *req_cls;
    if (!r) /* on_uri always runs first; in case it did not */
        r = *req_cls = new_req(g, conn, url);
    if (!r->started) {
        r->started = true;
        r->method = method;
        r->url = url;
        pthread_mutex_lock(&g->metrics->mu);
        g->metrics->http_requests++;
        pthread_mutex_unlock(&g->metrics->mu);
        /* Refused before a byte of the body is read (no "100 Continue"):
         * MHD closes the connection after an answer queued this early. */
        if (r->uri_status) {
            r->too_big = true;
            return gw__reply_problem(r, (unsigned)r->uri_status,
                                     r->uri_status == 414 ? "URI Too Long"
                                                          : "Bad Request",
                                     r->uri_why);
        }
        if (declared_too_big(r)) {
            r->too_big = true;
            return gw__reply_problem(r, 413, "Payload Too Large",
                                     "the declared request body exceeds "
                                     "http.max_body");
        }
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
    if (r->idem.key[0] && g->server)
        gw__idem_abort(g->server->idem, &r->idem);
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
        {MHD_OPTION_CONNECTION_LIMIT,
         (intptr_t)(c->http_max_conn + c->http_reserved_conn), NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0, NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, g},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, g},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)c->http_timeout_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)c->http_max_header,
         NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, g},
        {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_END, 0, NULL},
    };
    s->idem = gw__idem_new();
    pthread_mutex_init(&s->conn_mu, NULL);
    pthread_mutex_init(&s->things_mu, NULL);
    s->nips = (size_t)(c->http_max_conn + c->http_reserved_conn);
    s->ips = ht_calloc(s->nips, sizeof *s->ips);
    g->server = s; /* the accept policy and notices read it */
    s->d =
        MHD_start_daemon(flags, (uint16_t)c->http_port, on_accept, g,
                         on_request, g, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!s->d) {
        g->server = NULL;
        pthread_mutex_destroy(&s->conn_mu);
        pthread_mutex_destroy(&s->things_mu);
        free(s->ips);
        snprintf(err, errlen, "cannot listen on %s:%d (in use?)", c->http_bind,
                 c->http_port);
        free(s->tls_cert);
        free(s->tls_key);
        gw__idem_free(s->idem);
        free(s);
        return HT_EHTTP;
    }
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
    gw__idem_free(s->idem);
    pthread_mutex_destroy(&s->conn_mu);
    free(s->ips);
    free(s->tls_cert);
    free(s->tls_key);
    free(s);
    g->server = NULL;
}
