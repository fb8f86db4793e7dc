/* fuzz_router - the REST router: the first line is "METHOD TARGET" (the
 * raw request target with its query string), the rest the body. The raw
 * target goes through gw__uri_check, its path is decoded like
 * libmicrohttpd does and routed (gw__route_find, gw__route_check); a
 * placeholder that passes the check is a valid id or name. Bodies of the
 * routes that take JSON are parsed as the handlers do (twin documents by
 * the twin model). */
#include "fuzz.h"

#include "gateway/http/http.h"

#include "twins/twin.h"

#include "ht_err.h"
#include "ht_id.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* In place, as MHD_http_unescape: %XX becomes the byte (a NUL included). */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        int h, l;
        if (r[0] == '%' && (h = hexval(r[1])) >= 0 && (l = hexval(r[2])) >= 0) {
            *w++ = (char)(h * 16 + l);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *body;
    size_t blen;
    char *line = fuzz_split(data, size, &body, &blen);
    char *sp = strchr(line, ' ');
    const char *method = "GET";
    char *target = line;
    if (sp) {
        *sp = '\0';
        method = line;
        target = sp + 1;
    }
    char why[128];
    int bad = gw__uri_check(target, 64, why, sizeof why);
    FUZZ_ASSERT(bad == 0 || bad == 400 || bad == 414);
    char *q = strchr(target, '?');
    if (q)
        *q = '\0';
    unescape(target);
    struct gw_req r = {.method = method, .url = target};
    const struct gw_route *hit = NULL;
    char allow[128];
    int st = gw__route_find(&r, &hit, allow, sizeof allow);
    FUZZ_ASSERT(st == 0 || st == 200 || st == 404 || st == 405);
    FUZZ_ASSERT((st == 200) == (hit != NULL));
    if (st == 405)
        FUZZ_ASSERT(allow[0] != '\0');
    if (hit && !gw__route_check(&r)) {
        FUZZ_ASSERT(!r.id || (ht_id_valid(r.id) && !strstr(r.id, "..")));
        FUZZ_ASSERT(!r.name || ht_name_valid(r.name));
        json_t *doc =
            json_loadb((const char *)body, blen, JSON_DECODE_ANY, NULL);
        if (doc && !strcmp(hit->method, "PUT") &&
            !strcmp(hit->path, "/api/v1/twins/{id}")) {
            struct ht_twin_model *m = NULL;
            char err[256];
            if (ht_twin_model_parse(doc, &m, err, sizeof err, NULL, 0) == HT_OK)
                FUZZ_ASSERT(ht_id_valid(m->id));
            ht_twin_model_free(m);
        }
        json_decref(doc);
    }
    free(r.path);
    free(line);
    return 0;
}
