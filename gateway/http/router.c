/* router.c - the pure half of routing: a request's decoded path split
 * into segments, matched against the route table with its placeholders
 * captured, and the placeholders checked. No libmicrohttpd calls, no
 * locks: server.c calls it on the HTTP thread and tests/fuzz/fuzz_router
 * calls it on any input.
 */

#include "gateway/http/http.h"
#include "gateway/plant/plant.h"

#include "ht_id.h"
#include "ht_mem.h"

#include <stdio.h>
#include <string.h>

/* Token ids are 1..32 lowercase hex digits (auth's own format). */
static bool token_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Split a copy of the path in place; false for paths we never serve (not
 * absolute, too deep). */
static bool split_path(struct gw_req *r)
{
    free(r->path);
    r->path = ht_strdup(r->url);
    r->nseg = 0;
    char *p = r->path;
    if (*p != '/')
        return false;
    if (p[1] == '\0')
        return true;
    p++;
    while (p) {
        if (r->nseg == GW_MAX_SEG)
            return false;
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        r->seg[r->nseg++] = p;
        p = slash ? slash + 1 : NULL;
    }
    return true;
}

/* Does pattern match r's segments? Captures placeholders into r. */
static bool match(struct gw_req *r, const char *pattern)
{
    const char *p = pattern + 1;
    size_t i = 0;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (i >= r->nseg)
            return false;
        if (p[0] == '{') {
            const char *s = r->seg[i];
            if (!strncmp(p, "{id}", n))
                r->id = s;
            else if (!strncmp(p, "{name}", n))
                r->name = s;
            else if (!strncmp(p, "{thing}", n))
                r->thing = s;
            else if (!strncmp(p, "{token_id}", n))
                r->token_id = s;
            else if (!strncmp(p, "{alarm}", n))
                r->alarm = s;
        } else if (strlen(r->seg[i]) != n || strncmp(p, r->seg[i], n)) {
            return false;
        }
        i++;
        p += n;
        if (*p == '/')
            p++;
    }
    return i == r->nseg;
}

/* The first route whose path and method match wins; HEAD is served by
 * the GET route. The methods of every route with this path are collected
 * for a 405's Allow header. */
int gw__route_find(struct gw_req *r, const struct gw_route **hit, char *allow,
                   size_t allowlen)
{
    bool path_hit = false;
    *hit = NULL;
    if (allowlen)
        allow[0] = '\0';
    if (!split_path(r))
        return 404;
    for (const struct gw_route *rt = gw__routes(); rt->method; rt++) {
        r->id = r->name = r->thing = r->token_id = r->alarm = NULL;
        if (!match(r, rt->path))
            continue;
        path_hit = true;
        if (allowlen && strlen(allow) + strlen(rt->method) + 3 < allowlen) {
            if (allow[0])
                strcat(allow, ", ");
            strcat(allow, rt->method);
        }
        if (!strcmp(rt->method, r->method) ||
            (!strcmp(rt->method, "GET") && !strcmp(r->method, "HEAD"))) {
            *hit = rt;
            return 200;
        }
    }
    r->id = r->name = r->thing = r->token_id = r->alarm = NULL;
    return path_hit ? 405 : 0;
}

/* "TWIN:RULE": two ids around one colon. */
static bool alarm_id_valid(const char *s)
{
    const char *c = strchr(s, ':');
    char twin[HT_ID_MAX + 1];
    if (!c || (size_t)(c - s) > HT_ID_MAX)
        return false;
    memcpy(twin, s, (size_t)(c - s));
    twin[c - s] = '\0';
    return ht_id_valid(twin) && ht_id_valid(c + 1);
}

/* Hostile or malformed ids are rejected before any handler runs. */
const char *gw__route_check(const struct gw_req *r)
{
    /* A plant view names the twins of every cell by plant ids. */
    if (r->id && r->g && r->g->plant && r->nseg >= 3 &&
        !strcmp(r->seg[2], "twins"))
        return gw__plant_id_valid(r->id)
                   ? NULL
                   : "invalid plant twin id: expected {site}~{cell}~{twin}, "
                     "three [a-z0-9][a-z0-9._-]{0,63}";
    if (r->id && !ht_id_valid(r->id))
        return "invalid id: expected [a-z0-9][a-z0-9._-]{0,63}";
    if (r->name && !ht_name_valid(r->name))
        return "invalid property name: expected [a-z0-9_]{1,32}";
    if (r->token_id && !token_id_valid(r->token_id))
        return "invalid token id";
    if (r->thing && strlen(r->thing) > 128)
        return "invalid thing id";
    if (r->alarm && r->g && r->g->plant) {
        /* "{plant id}:{rule}" (commands: routed to the cell) */
        const char *c = strrchr(r->alarm, ':');
        char pid[GW_PLANT_ID_MAX];
        size_t n = c ? (size_t)(c - r->alarm) : 0;
        if (!c || n >= sizeof pid || !ht_id_valid(c + 1))
            return "invalid alarm id: expected {plant id}:{rule}";
        memcpy(pid, r->alarm, n);
        pid[n] = '\0';
        return gw__plant_id_valid(pid) ? NULL
                                       : "invalid alarm id: expected {plant "
                                         "id}:{rule}";
    }
    if (r->alarm && !alarm_id_valid(r->alarm))
        return "invalid alarm id: expected TWIN:RULE (two ids)";
    return NULL;
}

/* The raw request target, before libmicrohttpd decodes it: "%00" would
 * become a NUL that silently truncates the path or a parameter, and every
 * parameter costs memory from the connection's pool (thousands of them
 * exhaust it and the request got no answer). Both are refused here with a
 * 400/414 before any parameter is looked at. */
int gw__uri_check(const char *raw, size_t max_params, char *why, size_t whylen)
{
    size_t nparams = 0;
    bool in_query = false, in_param = false;
    for (const char *p = raw; *p; p++) {
        if (*p == '%') {
            if (p[1] == '0' && p[2] == '0') {
                snprintf(why, whylen, "%%00 (NUL) in the request target");
                return 400;
            }
        }
        if (*p == '?' && !in_query) {
            in_query = true;
            continue;
        }
        if (!in_query)
            continue;
        if (*p == '&') {
            in_param = false;
        } else if (!in_param) {
            in_param = true;
            if (++nparams > max_params) {
                snprintf(why, whylen, "more than %zu query parameters",
                         max_params);
                return 414;
            }
        }
    }
    return 0;
}
