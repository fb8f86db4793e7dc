/* history.c - a twin's state at an instant and its timeline (history.h). */
#include "gateway/history/history.h"

#include "gateway/store/store.h"
#include "gateway/twinglue/twinglue.h"

#include "ht_err.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Rows younger than this may still sit in the store's journal: a query
 * that reaches them waits for the writer first. */
#define RECENT_MS 5000

/* The document in force at `at`: the newest stored version not younger
 * than it, else the current one (automatic twins, or `at` before the
 * first version). New reference or NULL. */
static json_t *doc_at(struct ht_gw *g, const char *twin, int64_t at)
{
    json_t *vers = ht_store_twin_versions(g->store, twin);
    int pick = 0;
    size_t i;
    json_t *v;
    json_array_foreach(vers, i, v)
    {
        if (json_integer_value(json_object_get(v, "ts")) <= at)
            pick = (int)json_integer_value(json_object_get(v, "version"));
    }
    json_decref(vers);
    json_t *doc = NULL;
    if (pick && ht_store_twin_get_version(g->store, twin, pick, &doc) == HT_OK)
        return doc;
    return gw__twin_doc(g, twin);
}

/* Each distinct bound (device, property) of a model once. */
static size_t model_refs(const struct ht_twin_model *m,
                         struct ht_store_ref **out)
{
    size_t cap = 0, n = 0;
    for (size_t c = 0; c < m->ncomps; c++)
        cap += m->comps[c].nprops;
    struct ht_store_ref *r = ht_calloc(cap ? cap : 1, sizeof *r);
    for (size_t c = 0; c < m->ncomps; c++)
        for (size_t p = 0; p < m->comps[c].nprops; p++) {
            const struct ht_twin_prop *tp = &m->comps[c].props[p];
            size_t k = 0;
            while (k < n && (strcmp(r[k].device, tp->device) ||
                             strcmp(r[k].name, tp->device_prop)))
                k++;
            if (k < n)
                continue;
            r[n].device = tp->device;
            r[n].name = tp->device_prop;
            r[n].label = ht_asprintf("%s.%s", m->comps[c].id, tp->name);
            n++;
        }
    *out = r;
    return n;
}

static void refs_free(struct ht_store_ref *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)r[i].label);
    free(r);
}

int gw__history_state_at(struct ht_gw *g, const char *twin, int64_t at,
                         json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    json_t *doc = doc_at(g, twin, at);
    if (!doc) {
        snprintf(err, errlen, "unknown twin");
        return HT_ENOENT;
    }
    struct ht_twin_model *m = NULL;
    int rc = ht_twin_model_parse(doc, &m, err, errlen, NULL, 0);
    if (rc) {
        json_decref(doc);
        return rc;
    }
    if (at >= ht_time_ms() - RECENT_MS)
        ht_store_flush(g->store, NULL);
    struct ht_store_ref *refs;
    size_t n = model_refs(m, &refs);
    struct ht_store_at *q = ht_calloc(n ? n : 1, sizeof *q);
    for (size_t i = 0; i < n; i++) {
        q[i].device = refs[i].device;
        q[i].name = refs[i].name;
    }
    rc = ht_store_values_at(g->store, q, n, at);
    struct ht_twin_past_value *pv = ht_calloc(n ? n : 1, sizeof *pv);
    /* Two transitions a device at most: its last going offline and its
     * last coming back (enough for offline and stale). */
    struct ht_twin_past_status *ps = ht_calloc(2 * n + 1, sizeof *ps);
    size_t nps = 0;
    int coarsest = -1;
    for (size_t i = 0; rc == HT_OK && i < n; i++) {
        pv[i] = (struct ht_twin_past_value){q[i].device, q[i].name, q[i].v,
                                            q[i].ts,     0,         0};
        if (q[i].v)
            ht_store_quality_at(g->store, q[i].device, q[i].name, at,
                                &pv[i].good_ts, &pv[i].stale_ts);
        if (q[i].v && q[i].level > coarsest)
            coarsest = q[i].level;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = !strcmp(refs[k].device, refs[i].device);
        int64_t off = 0, on = 0;
        if (seen || ht_store_presence_at(g->store, refs[i].device, at, &off,
                                         &on) != HT_OK)
            continue;
        if (off)
            ps[nps++] =
                (struct ht_twin_past_status){refs[i].device, false, off};
        if (on)
            ps[nps++] = (struct ht_twin_past_status){refs[i].device, true, on};
    }
    json_t *alarms = json_object();
    for (size_t r = 0; rc == HT_OK && r < m->nrules; r++) {
        if (!m->rules[r].alarm)
            continue;
        json_t *st = ht_store_alarm_at(g->store, twin, m->rules[r].id, at);
        if (st)
            json_object_set_new(alarms, m->rules[r].id, st);
    }
    if (rc == HT_OK) {
        *out = ht_twin_state_at(doc, pv, n, ps, nps, alarms, at, err, errlen);
        if (!*out)
            rc = HT_EINVAL;
    } else {
        snprintf(err, errlen, "store: %s", ht_strerror(rc));
    }
    if (*out) {
        json_object_set_new(*out, "control", json_null());
        /* Raw rows answered, or (older than raw retention) the last value
         * of a rollup bucket: the coarsest one used. */
        json_object_set_new(*out, "resolution",
                            json_string(ht_store_level_name(coarsest)));
    }
    for (size_t i = 0; i < n; i++)
        json_decref(q[i].v);
    free(q);
    free(pv);
    free(ps);
    json_decref(alarms);
    refs_free(refs, n);
    ht_twin_model_free(m);
    json_decref(doc);
    return rc;
}

json_t *gw__history_timeline(struct ht_gw *g, const char *twin, int64_t from,
                             int64_t to, int limit)
{
    struct ht_twin_model *m = gw__twin_model(g, twin);
    if (!m)
        return NULL;
    if (to <= 0 || to >= ht_time_ms() - RECENT_MS)
        ht_store_flush(g->store, NULL);
    struct ht_store_ref *refs;
    size_t n = model_refs(m, &refs);
    json_t *out = ht_store_timeline(g->store, twin, refs, n, from, to, limit);
    refs_free(refs, n);
    ht_twin_model_free(m);
    return out;
}

int gw__history_time(const char *s, int64_t *out)
{
    if (!s || !*s)
        return HT_EINVAL;
    bool digits = true;
    for (const char *p = s; *p && digits; p++)
        digits = isdigit((unsigned char)*p);
    if (digits) {
        if (strlen(s) > 15)
            return HT_EINVAL;
        *out = strtoll(s, NULL, 10);
        return HT_OK;
    }
    int y, mo, d, h, mi, sec, used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
               &used) != 6 ||
        used != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 60 || y < 1970)
        return HT_EINVAL;
    const char *p = s + used;
    int64_t ms = 0;
    if (*p == '.') {
        int k = 0;
        for (p++; isdigit((unsigned char)*p); p++, k++)
            if (k < 3)
                ms = ms * 10 + (*p - '0');
        if (k == 0)
            return HT_EINVAL;
        for (; k < 3; k++)
            ms *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, n2 = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n2) != 2 || n2 != 5 ||
            oh > 23 || om > 59)
            return HT_EINVAL;
        off = (*p == '+' ? 1 : -1) * (int64_t)(oh * 60 + om) * 60000;
        p += 6;
    } else {
        return HT_EINVAL;
    }
    if (*p)
        return HT_EINVAL;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    *out = (int64_t)timegm(&tm) * 1000 + ms - off;
    return HT_OK;
}

/* Append one CSV field: numbers as JSON writes them, strings quoted with
 * their quotes doubled, anything else as compact JSON, quoted. */
static void csv_field(char **buf, size_t *len, size_t *cap, const json_t *v)
{
    char *t = NULL;
    bool quote = false;
    if (!v || json_is_null(v)) {
        t = ht_strdup("");
    } else if (json_is_string(v)) {
        t = ht_strdup(json_string_value(v));
        quote = true;
    } else {
        t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        quote = !json_is_number(v) && !json_is_boolean(v);
    }
    size_t need = 2 * strlen(t) + 4;
    if (*len + need > *cap) {
        *cap = 2 * (*len + need);
        *buf = ht_realloc(*buf, *cap);
    }
    char *o = *buf + *len;
    if (quote)
        *o++ = '"';
    for (const char *c = t; *c; c++) {
        if (quote && *c == '"')
            *o++ = '"';
        *o++ = *c;
    }
    if (quote)
        *o++ = '"';
    *len = (size_t)(o - *buf);
    free(t);
}

char *gw__history_csv(const json_t *hist, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = ht_malloc(cap);
    static const char head[] = "ts,time,value,min,max,n\r\n";
    memcpy(buf, head, sizeof head - 1);
    n = sizeof head - 1;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(hist, "items"), i, it)
    {
        int64_t ts = json_integer_value(json_object_get(it, "ts"));
        time_t secs = (time_t)(ts / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char pre[96];
        int k = snprintf(
            pre, sizeof pre, "%lld,%04d-%02d-%02dT%02d:%02d:%02d.%03dZ,",
            (long long)ts, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
            tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts % 1000));
        if (n + (size_t)k + 1 > cap) {
            cap = 2 * (n + (size_t)k + 1);
            buf = ht_realloc(buf, cap);
        }
        memcpy(buf + n, pre, (size_t)k);
        n += (size_t)k;
        static const char *const keys[] = {"v", "min", "max", "n"};
        for (int f = 0; f < 4; f++) {
            csv_field(&buf, &n, &cap, json_object_get(it, keys[f]));
            if (n + 3 > cap) {
                cap *= 2;
                buf = ht_realloc(buf, cap);
            }
            if (f < 3)
                buf[n++] = ',';
        }
        buf[n++] = '\r';
        buf[n++] = '\n';
    }
    *len = n;
    return buf;
}
