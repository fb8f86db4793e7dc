/* rollup.c - the store's time travel reads (store.h, "the past at an
 * instant"): values, presence and alarm states at an instant, the
 * timeline of a twin, and history answered from rollup levels. Every
 * query is an index seek on the main connection under the store's lock;
 * the writer thread fills the tables (store.c). */
#include "gateway/store/store.h"
#include "gateway/store/store_internal.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

const int64_t ht_store_level_ms[HT_STORE_LEVELS] = {60000, 3600000};

const char *ht_store_level_name(int level)
{
    static const char *const names[HT_STORE_LEVELS] = {"1m", "1h"};
    return level >= 0 && level < HT_STORE_LEVELS ? names[level] : "raw";
}

static sqlite3_stmt *rprep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        ht_log(LOG_ERR, "store", "prepare: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

static const char *rtext(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? t : "";
}

int ht_store_values_at(struct ht_store *s, struct ht_store_at *q, size_t n,
                       int64_t at)
{
    sqlite3 *db = store__lock(s);
    sqlite3_stmt *raw = rprep(db, "SELECT v, ts FROM history WHERE device=? "
                                  "AND name=? AND ts<=? ORDER BY ts DESC "
                                  "LIMIT 1");
    /* A bucket's last value is the value at its last_ts; buckets that
     * start after `at` cannot hold it, which bounds the scan. */
    sqlite3_stmt *roll = rprep(db, "SELECT last_v, last_ts FROM rollup WHERE "
                                   "level=? AND device=? AND name=? AND "
                                   "bucket<=? AND last_ts<=? ORDER BY bucket "
                                   "DESC LIMIT 1");
    int rc = raw && roll ? HT_OK : HT_EDB;
    for (size_t i = 0; rc == HT_OK && i < n; i++) {
        q[i].v = NULL;
        q[i].ts = 0;
        q[i].level = -1;
        sqlite3_bind_text(raw, 1, q[i].device, -1, SQLITE_STATIC);
        sqlite3_bind_text(raw, 2, q[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(raw, 3, at);
        int r = sqlite3_step(raw);
        if (r == SQLITE_ROW) {
            q[i].v = json_loads(rtext(raw, 0), JSON_DECODE_ANY, NULL);
            q[i].ts = sqlite3_column_int64(raw, 1);
        } else if (r != SQLITE_DONE) {
            rc = HT_EDB;
        }
        sqlite3_reset(raw);
        /* Raw rows gone with retention: the finest rollup still there. */
        for (int l = 0; rc == HT_OK && !q[i].v && l < HT_STORE_LEVELS; l++) {
            sqlite3_bind_int64(roll, 1, ht_store_level_ms[l]);
            sqlite3_bind_text(roll, 2, q[i].device, -1, SQLITE_STATIC);
            sqlite3_bind_text(roll, 3, q[i].name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(roll, 4, at);
            sqlite3_bind_int64(roll, 5, at);
            r = sqlite3_step(roll);
            if (r == SQLITE_ROW) {
                q[i].v = json_loads(rtext(roll, 0), JSON_DECODE_ANY, NULL);
                q[i].ts = sqlite3_column_int64(roll, 1);
                q[i].level = l;
            } else if (r != SQLITE_DONE) {
                rc = HT_EDB;
            }
            sqlite3_reset(roll);
        }
    }
    if (rc)
        ht_log(LOG_ERR, "store", "values at: %s", sqlite3_errmsg(db));
    sqlite3_finalize(raw);
    sqlite3_finalize(roll);
    store__unlock(s);
    return rc;
}

int ht_store_presence_at(struct ht_store *s, const char *device, int64_t at,
                         int64_t *off_ts, int64_t *on_ts)
{
    *off_ts = *on_ts = 0;
    sqlite3 *db = store__lock(s);
    sqlite3_stmt *st = rprep(db, "SELECT max(ts) FROM presence_log WHERE "
                                 "device=? AND online=? AND name IS NULL AND "
                                 "ts<=?");
    int rc = st ? HT_OK : HT_EDB;
    for (int online = 0; rc == HT_OK && online < 2; online++) {
        sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, online);
        sqlite3_bind_int64(st, 3, at);
        if (sqlite3_step(st) == SQLITE_ROW)
            *(online ? on_ts : off_ts) = sqlite3_column_int64(st, 0);
        else
            rc = HT_EDB;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    store__unlock(s);
    return rc;
}

int ht_store_quality_at(struct ht_store *s, const char *device,
                        const char *name, int64_t at, int64_t *good_ts,
                        int64_t *stale_ts)
{
    *good_ts = *stale_ts = 0;
    sqlite3 *db = store__lock(s);
    sqlite3_stmt *st = rprep(db, "SELECT max(ts) FROM presence_log WHERE "
                                 "device=? AND online=? AND name=? AND "
                                 "ts<=?");
    int rc = st ? HT_OK : HT_EDB;
    for (int k = 2; rc == HT_OK && k <= 3; k++) {
        sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, k);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, at);
        if (sqlite3_step(st) == SQLITE_ROW)
            *(k == 2 ? good_ts : stale_ts) = sqlite3_column_int64(st, 0);
        else
            rc = HT_EDB;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    store__unlock(s);
    return rc;
}

json_t *ht_store_alarm_at(struct ht_store *s, const char *twin,
                          const char *rule, int64_t at)
{
    json_t *out = NULL;
    sqlite3 *db = store__lock(s);
    sqlite3_stmt *st = rprep(db, "SELECT state FROM alarm_log WHERE twin=? "
                                 "AND rule=? AND ts<=? ORDER BY ts DESC, id "
                                 "DESC LIMIT 1");
    if (st) {
        sqlite3_bind_text(st, 1, twin, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rule, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, at);
        if (sqlite3_step(st) == SQLITE_ROW)
            out = json_loads(rtext(st, 0), 0, NULL);
    }
    sqlite3_finalize(st);
    store__unlock(s);
    return out;
}

static int cmp_ts(const void *a, const void *b)
{
    json_int_t x = json_integer_value(
                   json_object_get(*(json_t *const *)a, "ts")),
               y = json_integer_value(
                   json_object_get(*(json_t *const *)b, "ts"));
    return x < y ? -1 : x > y;
}

json_t *ht_store_timeline(struct ht_store *s, const char *twin,
                          const struct ht_store_ref *refs, size_t n,
                          int64_t from, int64_t to, int limit)
{
    if (limit <= 0 || limit > 100000)
        limit = 1000;
    if (to <= 0)
        to = INT64_MAX;
    json_t *all = json_array();
    sqlite3 *db = store__lock(s);
    /* Each source gives at most limit + 1 instants: enough to know the
     * merged page is cut and where the next one starts. */
    sqlite3_stmt *v = rprep(db, "SELECT ts FROM history WHERE device=? AND "
                                "name=? AND ts>=? AND ts<=? ORDER BY ts "
                                "LIMIT ?");
    sqlite3_stmt *a = rprep(db, "SELECT ts, rule, to_state FROM alarm_log "
                                "WHERE twin=? AND ts>=? AND ts<=? ORDER BY "
                                "ts, id LIMIT ?");
    sqlite3_stmt *p = rprep(db, "SELECT ts, online FROM presence_log WHERE "
                                "device=? AND name IS NULL AND ts>=? AND "
                                "ts<=? ORDER BY ts LIMIT ?");
    for (size_t i = 0; v && p && i < n; i++) {
        sqlite3_bind_text(v, 1, refs[i].device, -1, SQLITE_STATIC);
        sqlite3_bind_text(v, 2, refs[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(v, 3, from);
        sqlite3_bind_int64(v, 4, to);
        sqlite3_bind_int(v, 5, limit + 1);
        while (sqlite3_step(v) == SQLITE_ROW)
            json_array_append_new(
                all, json_pack("{s:I, s:s, s:s}", "ts",
                               (json_int_t)sqlite3_column_int64(v, 0), "kind",
                               "value", "ref", refs[i].label));
        sqlite3_reset(v);
        bool seen = false; /* a device bound twice: its presence once */
        for (size_t k = 0; k < i && !seen; k++)
            seen = !strcmp(refs[k].device, refs[i].device);
        if (seen)
            continue;
        sqlite3_bind_text(p, 1, refs[i].device, -1, SQLITE_STATIC);
        sqlite3_bind_int64(p, 2, from);
        sqlite3_bind_int64(p, 3, to);
        sqlite3_bind_int(p, 4, limit + 1);
        while (sqlite3_step(p) == SQLITE_ROW)
            json_array_append_new(
                all, json_pack("{s:I, s:s, s:s, s:b}", "ts",
                               (json_int_t)sqlite3_column_int64(p, 0), "kind",
                               "status", "device", refs[i].device, "online",
                               sqlite3_column_int(p, 1)));
        sqlite3_reset(p);
    }
    if (a) {
        sqlite3_bind_text(a, 1, twin, -1, SQLITE_STATIC);
        sqlite3_bind_int64(a, 2, from);
        sqlite3_bind_int64(a, 3, to);
        sqlite3_bind_int(a, 4, limit + 1);
        while (sqlite3_step(a) == SQLITE_ROW)
            json_array_append_new(
                all,
                json_pack("{s:I, s:s, s:s, s:s}", "ts",
                          (json_int_t)sqlite3_column_int64(a, 0), "kind",
                          "alarm", "rule", rtext(a, 1), "to", rtext(a, 2)));
    }
    bool ok = v && a && p;
    sqlite3_finalize(v);
    sqlite3_finalize(a);
    sqlite3_finalize(p);
    store__unlock(s);
    if (!ok) {
        json_decref(all);
        return NULL;
    }
    size_t cnt = json_array_size(all);
    json_t **items = ht_malloc((cnt ? cnt : 1) * sizeof *items);
    for (size_t i = 0; i < cnt; i++)
        items[i] = json_incref(json_array_get(all, i));
    /* Stable enough: equal instants keep no particular order. */
    qsort(items, cnt, sizeof *items, cmp_ts);
    json_t *out = json_array();
    json_int_t next = -1;
    for (size_t i = 0; i < cnt; i++) {
        if (json_array_size(out) >= (size_t)limit && next < 0)
            next = json_integer_value(json_object_get(items[i], "ts"));
        if (next < 0)
            json_array_append(out, items[i]);
        json_decref(items[i]);
    }
    free(items);
    json_decref(all);
    json_t *res = json_pack("{s:o}", "items", out);
    if (next >= 0)
        json_object_set_new(res, "next_from", json_integer(next));
    return res;
}

json_t *ht_store_history_rows(struct ht_store *s)
{
    json_t *o = json_object();
    sqlite3 *db = store__lock(s);
    static const char *const q[][2] = {
        {"raw", "SELECT count(*) FROM history"},
        {"1m", "SELECT count(*) FROM rollup WHERE level=60000"},
        {"1h", "SELECT count(*) FROM rollup WHERE level=3600000"},
        {"presence", "SELECT count(*) FROM presence_log"},
    };
    for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
        sqlite3_stmt *st = rprep(db, q[i][1]);
        if (st && sqlite3_step(st) == SQLITE_ROW)
            json_object_set_new(o, q[i][0],
                                json_integer(sqlite3_column_int64(st, 0)));
        sqlite3_finalize(st);
    }
    store__unlock(s);
    return o;
}

/* Oldest instant a level holds of one property (INT64_MAX: none). */
static int64_t level_oldest(sqlite3 *db, int level, const char *id,
                            const char *name)
{
    sqlite3_stmt *st =
        level < 0 ? rprep(db, "SELECT min(ts) FROM history WHERE device=?1 "
                              "AND name=?2")
                  : rprep(db, "SELECT min(bucket) FROM rollup WHERE level=?3 "
                              "AND device=?1 AND name=?2");
    int64_t t = INT64_MAX;
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        if (level >= 0)
            sqlite3_bind_int64(st, 3, ht_store_level_ms[level]);
        if (sqlite3_step(st) == SQLITE_ROW &&
            sqlite3_column_type(st, 0) != SQLITE_NULL)
            t = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return t;
}

int store__history_level(sqlite3 *db, const char *id, const char *name,
                         int64_t from, int64_t step)
{
    int64_t oldest[HT_STORE_LEVELS + 1], first = INT64_MAX;
    for (int l = -1; l < HT_STORE_LEVELS; l++) {
        oldest[l + 1] = level_oldest(db, l, id, name);
        if (oldest[l + 1] < first)
            first = oldest[l + 1];
    }
    /* A level "covers" when it reaches back to `from`. When none does
     * (young data, an open range, a range older than every retention),
     * the levels that reach back (within a bucket of the coarsest level)
     * as far as any does are as good. */
    const int64_t slack = ht_store_level_ms[HT_STORE_LEVELS - 1];
    for (int pass = 0; pass < 2; pass++) {
        int64_t want = pass == 0 ? from : first + slack;
        if (pass == 1 && first == INT64_MAX)
            break;
        /* Exact answers first: the coarsest level whose buckets add up
         * to step's, cheapest to read; else the finest. */
        for (int l = HT_STORE_LEVELS - 1; l >= -1; l--)
            if ((l < 0 || step % ht_store_level_ms[l] == 0) &&
                oldest[l + 1] <= want)
                return l;
        for (int l = -1; l < HT_STORE_LEVELS; l++)
            if (oldest[l + 1] <= want)
                return l;
    }
    return -1;
}

int store__history_rollup(sqlite3 *db, int level, const char *id,
                          const char *name, int64_t from, int64_t to, int limit,
                          int64_t step, json_t **out)
{
    if (step < ht_store_level_ms[level])
        step = ht_store_level_ms[level];
    /* max(last_ts) makes last_v the value of the newest bucket's row. */
    sqlite3_stmt *st =
        rprep(db, "SELECT bucket / ?5 * ?5 AS b, sum(sum) / sum(nnum), "
                  "min(min), max(max), sum(n), sum(nnum), max(last_ts), "
                  "last_v FROM rollup WHERE level=?6 AND device=?1 AND "
                  "name=?2 AND bucket>=?3 / ?6 * ?6 AND bucket<=?4 GROUP BY "
                  "b ORDER BY b DESC LIMIT ?7");
    if (!st)
        return HT_EDB;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_int64(st, 4, to);
    sqlite3_bind_int64(st, 5, step);
    sqlite3_bind_int64(st, 6, ht_store_level_ms[level]);
    sqlite3_bind_int(st, 7, limit);
    json_t *items = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o =
            json_pack("{s:I}", "ts", (json_int_t)sqlite3_column_int64(st, 0));
        int64_t n = sqlite3_column_int64(st, 4);
        if (n > 0 && sqlite3_column_int64(st, 5) == n) {
            json_object_set_new(o, "v",
                                json_real(sqlite3_column_double(st, 1)));
            json_object_set_new(o, "min",
                                json_real(sqlite3_column_double(st, 2)));
            json_object_set_new(o, "max",
                                json_real(sqlite3_column_double(st, 3)));
        } else {
            json_t *v = json_loads(rtext(st, 7), JSON_DECODE_ANY, NULL);
            json_object_set_new(o, "v", v ? v : json_null());
        }
        json_object_set_new(o, "n", json_integer(n));
        json_array_insert_new(items, 0, o);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        json_decref(items);
        return HT_EDB;
    }
    *out = json_pack("{s:o, s:s}", "items", items, "level",
                     ht_store_level_name(level));
    return HT_OK;
}
