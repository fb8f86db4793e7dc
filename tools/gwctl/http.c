/* http.c - gwctl's HTTP client: libcurl, bearer token, problem+json. */
#include "gwctl.h"

#include "ht_mem.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct buf {
    char *p;
    size_t n;
};

/* Responses are bounded: a descriptor or a device list is kilobytes. */
#define GW_MAX_BODY (64u << 20)

static size_t on_body(char *data, size_t sz, size_t nm, void *ud)
{
    struct buf *b = ud;
    size_t n = sz * nm;
    if (b->n + n > GW_MAX_BODY)
        return 0;
    b->p = ht_realloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

static size_t on_header(char *data, size_t sz, size_t nm, void *ud)
{
    struct gw_resp *r = ud;
    size_t n = sz * nm;
    if (n > 5 && !strncasecmp(data, "ETag:", 5)) {
        const char *v = data + 5;
        while (*v == ' ')
            v++;
        size_t l = n - (size_t)(v - data);
        while (l && (v[l - 1] == '\r' || v[l - 1] == '\n'))
            l--;
        free(r->etag);
        r->etag = ht_strndup(v, l);
    } else if (n > 14 && !strncasecmp(data, "X-Holotwin-Ts:", 14)) {
        r->ts = strtoll(data + 14, NULL, 10);
    }
    return n;
}

int gw_request(const struct gwctl *g, const char *method, const char *path,
               const char *body, const char *ctype, struct gw_resp *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "gwctl: cannot initialise libcurl\n");
        return GW_EXIT_UNREACHABLE;
    }
    char *url = ht_asprintf("%s%s", g->gateway, path);
    struct curl_slist *h = NULL;
    char *auth = NULL;
    if (g->token) {
        auth = ht_asprintf("Authorization: Bearer %s", g->token);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Accept: application/json");
    char *ct = NULL;
    if (body) {
        ct =
            ht_asprintf("Content-Type: %s", ctype ? ctype : "application/json");
        h = curl_slist_append(h, ct);
    }
    struct buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, g->timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    int ret = GW_EXIT_OK;
    if (rc != CURLE_OK) {
        /* A timeout after connecting is a slow answer (a device that does
         * not ack), not an unreachable gateway. */
        curl_off_t connected = 0;
        curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connected);
        if (rc == CURLE_OPERATION_TIMEDOUT && connected > 0) {
            fprintf(stderr, "gwctl: %s %s: no answer within %ld s\n", method,
                    path, g->timeout_s);
            ret = GW_EXIT_DEVICE;
        } else {
            fprintf(stderr, "gwctl: gateway %s unreachable: %s\n", g->gateway,
                    curl_easy_strerror(rc));
            ret = GW_EXIT_UNREACHABLE;
        }
        free(b.p);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *t = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &t);
    r->ctype = t ? ht_strdup(t) : NULL;
    r->body = b.p ? b.p : ht_strdup("");
    if (r->ctype && strstr(r->ctype, "json"))
        r->json = json_loads(r->body, JSON_DECODE_ANY, NULL);
out:
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(url);
    free(auth);
    free(ct);
    return ret;
}

void gw_resp_clear(struct gw_resp *r)
{
    json_decref(r->json);
    free(r->body);
    free(r->ctype);
    free(r->etag);
    memset(r, 0, sizeof *r);
}

int gw_status_exit(long status)
{
    switch (status) {
    case 400:
    case 413:
    case 422:
        return GW_EXIT_USAGE;
    case 404:
    case 410:
        return GW_EXIT_NOTFOUND;
    case 401:
    case 403:
    case 409:
        return GW_EXIT_REFUSED;
    default:
        return status >= 500 ? GW_EXIT_DEVICE : GW_EXIT_REFUSED;
    }
}

/* One line: what failed, the status, the problem's detail (or title) and
 * its machine code when the gateway sends one (e.g. a device's ack code). */
int gw_fail(const struct gwctl *g, const struct gw_resp *r, const char *what)
{
    (void)g;
    const char *detail = NULL, *title = NULL, *code = NULL;
    if (json_is_object(r->json)) {
        detail = json_string_value(json_object_get(r->json, "detail"));
        title = json_string_value(json_object_get(r->json, "title"));
        code = json_string_value(json_object_get(r->json, "code"));
    }
    const char *msg = detail ? detail : title ? title : "request failed";
    char clean[512];
    size_t n = 0;
    /* Keep it one line whatever the gateway sent. */
    for (const char *p = msg; *p && n + 1 < sizeof clean; p++)
        clean[n++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
    clean[n] = '\0';
    if (code)
        fprintf(stderr, "gwctl: %s: %ld %s (%s)\n", what, r->status, clean,
                code);
    else
        fprintf(stderr, "gwctl: %s: %ld %s\n", what, r->status, clean);
    return gw_status_exit(r->status);
}

int gw_get_json(const struct gwctl *g, const char *path, json_t **out)
{
    *out = NULL;
    struct gw_resp r;
    int rc = gw_request(g, "GET", path, NULL, NULL, &r);
    if (rc != GW_EXIT_OK)
        return rc;
    if (r.status < 200 || r.status > 299 || !r.json) {
        rc = r.status / 100 == 2 ? GW_EXIT_DEVICE : gw_fail(g, &r, path);
        if (r.status / 100 == 2)
            fprintf(stderr, "gwctl: %s: the gateway did not answer JSON\n",
                    path);
        gw_resp_clear(&r);
        return rc;
    }
    *out = json_incref(r.json);
    gw_resp_clear(&r);
    return GW_EXIT_OK;
}

int gw_list(const struct gwctl *g, const char *path, json_t **res,
            json_t **items)
{
    *items = NULL;
    int rc = gw_get_json(g, path, res);
    if (rc != GW_EXIT_OK)
        return rc;
    *items = gw_items(*res);
    if (!*items) {
        fprintf(stderr, "gwctl: unexpected answer from the gateway\n");
        json_decref(*res);
        *res = NULL;
        return GW_EXIT_DEVICE;
    }
    if (g->json) {
        gw_print_json(*items);
        json_decref(*res);
        *res = NULL;
        *items = NULL;
    }
    return GW_EXIT_OK;
}

int gw_act(const struct gwctl *g, const char *method, const char *path,
           const char *prefix, const char *id, const char *action,
           const char *done)
{
    struct gw_resp r;
    int rc = gw_request(g, method, path, NULL, NULL, &r);
    if (rc != GW_EXIT_OK)
        return rc;
    if (r.status / 100 != 2) {
        rc = gw_fail(g, &r, id);
    } else if (g->json) {
        json_t *o =
            json_pack("{s:s, s:s, s:b}", "id", id, "action", action, "ok", 1);
        gw_print_json(o);
        json_decref(o);
    } else {
        printf("%s%s: %s\n", prefix, id, done);
    }
    gw_resp_clear(&r);
    return rc;
}

char *gw_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *r = ht_strdup(e ? e : "");
    curl_free(e);
    return r;
}
