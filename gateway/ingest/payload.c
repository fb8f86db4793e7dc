/* payload.c - the device messages' payloads parsed into records, with no
 * side effects: a TD (JSON, validated, its id matching the topic's), a
 * status and a property value. ingest.c dispatches by topic and hands the
 * records on; tests/fuzz/fuzz_ingest feeds these any bytes.
 */

#include "gateway/ingest/ingest_internal.h"

#include "ht_err.h"
#include "ht_json.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The TD is checked whole before anything is stored: JSON, the TD
 * structure (ht_sem_td_parse) and the id the topic names. */
int ingest__td_parse(const char *id, const char *payload, size_t len,
                     json_t **td, struct ht_sem_thing **thing, char *err,
                     size_t errlen)
{
    json_error_t je;
    *td = NULL;
    *thing = NULL;
    json_t *doc = json_loadb(payload, len, 0, &je);
    if (!doc) {
        snprintf(err, errlen, "line %d: %s", je.line, je.text);
        return HT_EPARSE;
    }
    struct ht_sem_thing *t = NULL;
    if (ht_sem_td_parse(doc, &t, err, errlen) != HT_OK) {
        json_decref(doc);
        return HT_EINVAL;
    }
    if (!t->id || strcmp(t->id, id)) {
        snprintf(err, errlen, "the TD on the topic of %s names %s", id,
                 t->id ? t->id : "(none)");
        ht_sem_thing_free(t);
        json_decref(doc);
        return HT_EINVAL;
    }
    *td = doc;
    *thing = t;
    return HT_OK;
}

int ingest__status_parse(const char *payload, size_t len, bool *online)
{
    json_t *j = json_loadb(payload, len, 0, NULL);
    const char *s = json_string_value(json_object_get(j, "state"));
    int rc = HT_EINVAL;
    if (s && (!strcmp(s, "online") || !strcmp(s, "offline"))) {
        *online = !strcmp(s, "online");
        rc = HT_OK;
    }
    json_decref(j);
    return rc;
}

/* A value's JSON text is printed once here, for the journal, the SSE
 * event and the observers. A missing or non-integer ts means "now". */
/* ---- property values: a fast path for the flat payloads boards send ---- */

/* A scalar or member of the fast path (see fast_value). */
struct scan {
    const char *p, *end;
};

static void skip_ws(struct scan *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* A string with no escapes, control characters or bytes >= 0x80 (those
 * go the slow way, which checks escapes and UTF-8 as jansson does). */
static bool scan_str(struct scan *c, const char **s, size_t *n)
{
    if (c->p >= c->end || *c->p != '"')
        return false;
    const char *b = ++c->p;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            *s = b;
            *n = (size_t)(c->p++ - b);
            return true;
        }
        if (ch < 0x20 || ch >= 0x80 || ch == '\\')
            return false;
        c->p++;
    }
    return false;
}

/* A JSON number (RFC 8259 grammar), as jansson makes it: an integer when
 * it has no fraction or exponent (at most 18 digits here: longer ones may
 * overflow, which jansson rejects), else a finite real. NULL: not one. */
static json_t *scan_num(struct scan *c)
{
    const char *b = c->p, *q = c->p;
    if (q < c->end && *q == '-')
        q++;
    if (q >= c->end || *q < '0' || *q > '9')
        return NULL;
    if (*q == '0' && q + 1 < c->end && q[1] >= '0' && q[1] <= '9')
        return NULL;
    const char *d = q;
    while (q < c->end && *q >= '0' && *q <= '9')
        q++;
    size_t ndig = (size_t)(q - d);
    bool real = false;
    if (q < c->end && *q == '.') {
        real = true;
        q++;
        const char *f = q;
        while (q < c->end && *q >= '0' && *q <= '9')
            q++;
        if (q == f)
            return NULL;
    }
    if (q < c->end && (*q == 'e' || *q == 'E')) {
        real = true;
        q++;
        if (q < c->end && (*q == '+' || *q == '-'))
            q++;
        const char *x = q;
        while (q < c->end && *q >= '0' && *q <= '9')
            q++;
        if (q == x)
            return NULL;
    }
    char tmp[64];
    if ((size_t)(q - b) >= sizeof tmp || (!real && ndig > 18))
        return NULL;
    if (!real) { /* at most 18 digits: no overflow, and no strtoll (locale
                  * and base handling were a third of this parser) */
        int64_t n = 0;
        for (const char *x = d; x < q; x++)
            n = n * 10 + (*x - '0');
        c->p = q;
        return json_integer(*b == '-' ? -n : n);
    }
    memcpy(tmp, b, (size_t)(q - b));
    tmp[q - b] = '\0';
    c->p = q;
    double v = strtod(tmp, NULL);
    return isfinite(v) ? json_real(v) : NULL;
}

/* One scalar value (new), or NULL for anything else (objects, arrays,
 * strings with escapes: the slow path). */
static json_t *scan_scalar(struct scan *c)
{
    if (c->p >= c->end)
        return NULL;
    static const struct {
        const char *w;
        size_t n;
    } words[] = {{"true", 4}, {"false", 5}, {"null", 4}};
    const char *s;
    size_t n;
    switch (*c->p) {
    case '"':
        return scan_str(c, &s, &n) ? json_stringn(s, n) : NULL;
    case 't':
    case 'f':
    case 'n':
        for (size_t i = 0; i < 3; i++)
            if ((size_t)(c->end - c->p) >= words[i].n &&
                !memcmp(c->p, words[i].w, words[i].n)) {
                c->p += words[i].n;
                return i == 0   ? json_true()
                       : i == 1 ? json_false()
                                : json_null();
            }
        return NULL;
    default:
        return scan_num(c);
    }
}

/* The payload of every board and of loadgen is one flat object of
 * scalars: {"v":21.5,"ts":..,"seq":..}. Read it without building a
 * jansson object (its parser was a tenth of a value's cost): HT_OK with
 * *v (new), *ts (unchanged when absent or not an integer) and *seq (0
 * likewise);
 * HT_EAGAIN for anything the fast path does not take (nesting, escapes,
 * non-ASCII, a repeated key, odd syntax), which then goes to jansson, so
 * what is accepted and how stays jansson's. */
static int fast_value(const char *payload, size_t len, json_t **v, int64_t *ts,
                      bool *ts_bad, int64_t *seq)
{
    struct scan c = {payload, payload + len};
    json_t *got[3] = {NULL, NULL, NULL}; /* v, ts, seq */
    static const char *const names[3] = {"v", "ts", "seq"};
    int rc = HT_EAGAIN;
    skip_ws(&c);
    if (c.p >= c.end || *c.p++ != '{')
        goto out;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}')
        goto close;
    for (;;) {
        const char *k;
        size_t kn;
        if (!scan_str(&c, &k, &kn))
            goto out;
        skip_ws(&c);
        if (c.p >= c.end || *c.p++ != ':')
            goto out;
        skip_ws(&c);
        json_t *x = scan_scalar(&c);
        if (!x)
            goto out;
        int slot = -1;
        for (int i = 0; i < 3; i++)
            if (kn == strlen(names[i]) && !memcmp(k, names[i], kn))
                slot = i;
        if (slot >= 0 && got[slot]) {
            json_decref(x); /* a repeated key: jansson's rules apply */
            goto out;
        }
        if (slot >= 0)
            got[slot] = x;
        else
            json_decref(x);
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            skip_ws(&c);
            continue;
        }
        break;
    }
close:
    if (c.p >= c.end || *c.p++ != '}')
        goto out;
    skip_ws(&c);
    if (c.p != c.end)
        goto out;
    if (!got[0]) {
        rc = HT_EINVAL;
        goto out;
    }
    *v = got[0];
    got[0] = NULL;
    if (json_is_integer(got[1]))
        *ts = json_integer_value(got[1]);
    *ts_bad = got[1] && !json_is_integer(got[1]);
    *seq = json_integer_value(got[2]);
    rc = HT_OK;
out:
    for (int i = 0; i < 3; i++)
        json_decref(got[i]);
    return rc;
}

int ingest__value_parse(const char *payload, size_t len, int64_t now,
                        struct ingest_value_msg *out)
{
    memset(out, 0, sizeof *out);
    json_t *fv = NULL;
    int64_t fts = now, fseq = 0;
    bool fbad = false;
    int frc = fast_value(payload, len, &fv, &fts, &fbad, &fseq);
    if (frc == HT_EINVAL)
        return HT_EINVAL;
    if (frc == HT_OK) {
        out->doc = fv;
        out->v = fv;
        out->text = ht_json_dumps(fv, false, NULL);
        out->ts = fts;
        out->ts_bad = fbad;
        out->seq = fseq;
        return HT_OK;
    }
    json_t *j = json_loadb(payload, len, 0, NULL);
    json_t *v = json_object_get(j, "v");
    if (!v) {
        json_decref(j);
        return HT_EINVAL;
    }
    char *text = ht_json_dumps(v, false, NULL);
    json_t *tsj = json_object_get(j, "ts");
    out->doc = j;
    out->v = v;
    out->text = text;
    out->ts = json_is_integer(tsj) ? json_integer_value(tsj) : now;
    out->ts_bad = tsj && !json_is_integer(tsj);
    out->seq = json_integer_value(json_object_get(j, "seq"));
    return HT_OK;
}

void ingest__value_msg_clear(struct ingest_value_msg *m)
{
    free(m->text);
    json_decref(m->doc);
    memset(m, 0, sizeof *m);
}
