/* test_store.c - the gateway's semantic module on a real SQLite file in a
 * temporary directory: schema and migrations, devices, TD versions and
 * capabilities, batched values with history queries, downsampling and
 * retention, twins with versions, hashed tokens, the audit log and the
 * event log, and that what was written survives a reopen. */
#include "gateway/store/journal.h"
#include "gateway/store/store.h"

#include "ht_err.h"
#include "ht_sha256.h"

#include <check.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];
static struct ht_store *s;

static void rm_rf(const char *d)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", d);
}

static void open_store(const struct ht_store_opts *o)
{
    char err[256] = "";
    ck_assert_msg(ht_store_open(dir, o, &s, err, sizeof err) == HT_OK, "%s",
                  err);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/ht-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    open_store(NULL);
}

static void teardown(void)
{
    ht_store_close(s);
    s = NULL;
    rm_rf(dir);
}

static void reopen(const struct ht_store_opts *o)
{
    ht_store_close(s);
    open_store(o);
}

START_TEST(schema_is_versioned_and_wal)
{
    ck_assert_int_eq(ht_store_schema_version(s), HT_STORE_SCHEMA_VERSION);
    char path[300];
    snprintf(path, sizeof path, "%s/holotwin.db", dir);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    /* A database from a newer gatewayd is refused, not damaged. */
    ck_assert_int_eq(
        sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    ht_store_close(s);
    s = NULL;
    char err[256] = "";
    ck_assert_int_eq(ht_store_open(dir, NULL, &s, err, sizeof err), HT_EDB);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err, "newer"));
}
END_TEST

START_TEST(devices_roundtrip_and_delete)
{
    struct ht_store_device d = {.id = "press-1",
                                .title = "Press",
                                .state = "pending",
                                .online = true,
                                .last_seen = 42,
                                .created = 7};
    ck_assert_int_eq(ht_store_device_put(s, &d), HT_OK);
    strcpy(d.state, "approved");
    ck_assert_int_eq(ht_store_device_put(s, &d), HT_OK);
    reopen(NULL);
    struct ht_store_device out;
    ck_assert_int_eq(ht_store_device_get(s, "press-1", &out), HT_OK);
    ck_assert_str_eq(out.state, "approved");
    ck_assert_str_eq(out.title, "Press");
    ck_assert_int_eq(out.last_seen, 42);
    ck_assert_int_eq(ht_store_device_get(s, "nope", &out), HT_ENOENT);
    json_t *v = json_integer(5);
    ck_assert_int_eq(ht_store_value_add(s, "press-1", "speed", v, NULL, 100, 1),
                     HT_OK);
    json_decref(v);
    ck_assert_int_eq(ht_store_device_delete(s, "press-1"), HT_OK);
    ck_assert_int_eq(ht_store_device_get(s, "press-1", &out), HT_ENOENT);
    ck_assert_int_eq(ht_store_device_delete(s, "press-1"), HT_ENOENT);
    json_t *h;
    ck_assert_int_eq(ht_store_history(s, "press-1", "speed", 0, 0, 10, 0, &h),
                     HT_OK);
    ck_assert_int_eq(json_array_size(json_object_get(h, "items")), 0);
    json_decref(h);
}
END_TEST

START_TEST(td_versions_only_on_change)
{
    json_t *td1 =
        json_pack("{s:s, s:s}", "id", "urn:holotwin:device:a", "title", "A");
    json_t *td2 =
        json_pack("{s:s, s:s}", "id", "urn:holotwin:device:a", "title", "A2");
    struct ht_sem_prop p = {
        .name = "lamp", .dtype = HT_SEM_BOOLEAN, .sem_type = "ht:Lamp"};
    struct ht_sem_thing th = {.id = "a", .props = &p, .nprops = 1};
    int v = 0;
    ck_assert_int_eq(ht_store_td_add(s, "a", td1, &th, 1, &v), HT_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(ht_store_td_add(s, "a", td1, &th, 2, &v), HT_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(ht_store_td_add(s, "a", td2, &th, 3, &v), HT_OK);
    ck_assert_int_eq(v, 2);
    json_t *latest;
    ck_assert_int_eq(ht_store_td_latest(s, "a", &latest, &v), HT_OK);
    ck_assert_int_eq(v, 2);
    ck_assert(json_equal(latest, td2));
    json_decref(latest);
    json_t *vers = ht_store_td_versions(s, "a");
    ck_assert_int_eq(json_array_size(vers), 2);
    json_decref(vers);
    json_t *caps = ht_store_caps(s, "a");
    ck_assert_int_eq(json_array_size(caps), 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(caps, 0), "type")),
        "boolean");
    json_decref(caps);
    ck_assert_int_eq(ht_store_td_latest(s, "b", &latest, &v), HT_ENOENT);
    json_decref(td1);
    json_decref(td2);
}
END_TEST

/* A board that keeps changing its TD keeps only the newest versions. */
START_TEST(td_versions_are_bounded)
{
    struct ht_sem_thing th = {.id = "a"};
    int v = 0;
    for (int i = 1; i <= HT_STORE_TD_VERSIONS + 10; i++) {
        json_t *td =
            json_pack("{s:s, s:i}", "id", "urn:holotwin:device:a", "title", i);
        ck_assert_int_eq(ht_store_td_add(s, "a", td, &th, i, &v), HT_OK);
        ck_assert_int_eq(v, i);
        json_decref(td);
    }
    json_t *vers = ht_store_td_versions(s, "a");
    ck_assert_int_eq(json_array_size(vers), HT_STORE_TD_VERSIONS);
    json_decref(vers);
    json_t *latest;
    ck_assert_int_eq(ht_store_td_latest(s, "a", &latest, &v), HT_OK);
    ck_assert_int_eq(v, HT_STORE_TD_VERSIONS + 10);
    json_decref(latest);
}
END_TEST

/* Large values: a history page stops near HT_STORE_HISTORY_MAX_BYTES and
 * says where the next (older) page ends; the pages together hold every
 * row exactly once, also across rows of the same millisecond. */
START_TEST(history_pages_are_bounded_by_size)
{
    size_t big = 256 << 10;
    char *text = malloc(big + 3);
    text[0] = '"';
    memset(text + 1, 'x', big);
    text[big + 1] = '"';
    text[big + 2] = '\0';
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    int n = 0;
    for (int i = 0; i < 40; i++) { /* 10 MiB, ts 1000..1019 twice each */
        ck_assert_int_eq(
            ht_store_value_add(s, "d", "blob", v, text, 1000 + i / 2, i),
            HT_OK);
        n++;
    }
    json_decref(v);
    free(text);
    int64_t to = 0;
    int got = 0, pages = 0;
    for (;;) {
        json_t *h;
        ck_assert_int_eq(ht_store_history(s, "d", "blob", 0, to, 1000, 0, &h),
                         HT_OK);
        json_t *items = json_object_get(h, "items");
        size_t k = json_array_size(items);
        ck_assert_uint_gt(k, 0);
        ck_assert_uint_le(k * big, HT_STORE_HISTORY_MAX_BYTES);
        got += (int)k;
        pages++;
        json_t *next = json_object_get(h, "next_to");
        if (!next) {
            json_decref(h);
            break;
        }
        /* Every row of this page is newer than the next page's end. */
        ck_assert_int_gt(
            json_integer_value(json_object_get(json_array_get(items, 0), "ts")),
            json_integer_value(next));
        to = json_integer_value(next);
        json_decref(h);
        ck_assert_int_lt(pages, 20);
    }
    ck_assert_int_eq(got, n);
    ck_assert_int_ge(pages, 3);
}
END_TEST

/* At open: a zero-length database, or none next to its journal, is not
 * a fresh install (corrupt files: tests/integration/test_startup_faults). */
START_TEST(open_refuses_empty_or_missing_databases)
{
    char path[300], err[512] = "";
    snprintf(path, sizeof path, "%s/holotwin.db", dir);
    ht_store_close(s);
    s = NULL;
    ck_assert_int_eq(truncate(path, 0), 0);
    ck_assert_int_eq(ht_store_open(dir, NULL, &s, err, sizeof err), HT_EDB);
    ck_assert_ptr_nonnull(strstr(err, "is empty"));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    ck_assert_int_eq(unlink(path), 0);
    err[0] = '\0';
    ck_assert_int_eq(ht_store_open(dir, NULL, &s, err, sizeof err), HT_EDB);
    ck_assert_ptr_nonnull(strstr(err, "is missing but"));
}
END_TEST

static int nlatest;
static void count_latest(void *ud, const char *id, const char *name,
                         const json_t *v, int64_t ts, int64_t seq)
{
    (void)ud;
    (void)seq;
    ck_assert_str_eq(id, "d");
    ck_assert_str_eq(name, "t");
    ck_assert_int_eq(ts, 99000);
    ck_assert_int_eq((int)json_number_value(v), 99);
    nlatest++;
}

START_TEST(values_batched_history_and_downsampling)
{
    /* A long batch wait: the rows stay pending until the flush. */
    struct ht_store_opts o = {.flush_ms = 60000};
    reopen(&o);
    for (int i = 0; i < 100; i++) {
        json_t *v = json_real(i);
        ck_assert_int_eq(ht_store_value_add(s, "d", "t", v, NULL, i * 1000, i),
                         HT_OK);
        json_decref(v);
    }
    ck_assert_uint_eq(ht_store_pending(s), 100);
    size_t n = 0;
    ck_assert_int_eq(ht_store_flush(s, &n), HT_OK);
    ck_assert_uint_eq(n, 100);
    ck_assert_uint_eq(ht_store_pending(s), 0);
    nlatest = 0;
    ck_assert_int_eq(ht_store_latest_each(s, count_latest, NULL), HT_OK);
    ck_assert_int_eq(nlatest, 1);

    json_t *h;
    ck_assert_int_eq(ht_store_history(s, "d", "t", 10000, 19000, 1000, 0, &h),
                     HT_OK);
    json_t *items = json_object_get(h, "items");
    ck_assert_int_eq(json_array_size(items), 10);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_array_get(items, 0), "ts")),
        10000);
    json_decref(h);
    /* limit keeps the newest. */
    ck_assert_int_eq(ht_store_history(s, "d", "t", 0, 0, 3, 0, &h), HT_OK);
    items = json_object_get(h, "items");
    ck_assert_int_eq(json_array_size(items), 3);
    ck_assert_double_eq(
        json_number_value(json_object_get(json_array_get(items, 2), "v")), 99);
    json_decref(h);
    /* 25 s buckets: mean/min/max/n. */
    ck_assert_int_eq(ht_store_history(s, "d", "t", 0, 0, 100, 25000, &h),
                     HT_OK);
    items = json_object_get(h, "items");
    ck_assert_int_eq(json_array_size(items), 4);
    json_t *b = json_array_get(items, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "ts")), 25000);
    ck_assert_double_eq(json_number_value(json_object_get(b, "v")), 37.0);
    ck_assert_double_eq(json_number_value(json_object_get(b, "min")), 25.0);
    ck_assert_double_eq(json_number_value(json_object_get(b, "max")), 49.0);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "n")), 25);
    json_decref(h);
    /* Non-numeric values downsample to the bucket's last value. */
    for (int i = 0; i < 4; i++) {
        json_t *v = json_string(i % 2 ? "on" : "off");
        ht_store_value_add(s, "d", "mode", v, NULL, i * 1000, i);
        json_decref(v);
    }
    ck_assert_int_eq(ht_store_history(s, "d", "mode", 0, 0, 10, 10000, &h),
                     HT_OK);
    items = json_object_get(h, "items");
    ck_assert_int_eq(json_array_size(items), 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(items, 0), "v")),
        "on");
    json_decref(h);
}
END_TEST

START_TEST(retention_by_rows_and_age)
{
    struct ht_store_opts o = {.history_max_rows = 10,
                              .history_max_age_ms = 50000};
    reopen(&o);
    for (int i = 0; i < 100; i++) {
        json_t *v = json_integer(i);
        ht_store_value_add(s, "d", "t", v, NULL, i * 1000, i);
        json_decref(v);
    }
    ht_store_flush(s, NULL);
    int64_t del = 0;
    ck_assert_int_eq(ht_store_retention(s, 100000, &del), HT_OK);
    ck_assert_int_eq(del, 90);
    json_t *h;
    ht_store_history(s, "d", "t", 0, 0, 1000, 0, &h);
    ck_assert_int_eq(json_array_size(json_object_get(h, "items")), 10);
    json_decref(h);
    /* Age: now = 145 s, max age 50 s -> rows before 95 s go. */
    ck_assert_int_eq(ht_store_retention(s, 145000, &del), HT_OK);
    ck_assert_int_eq(del, 5);
}
END_TEST

START_TEST(twins_are_versioned)
{
    json_t *m1 = json_pack("{s:s}", "name", "press");
    json_t *m2 = json_pack("{s:s, s:i}", "name", "press", "rev", 2);
    int v;
    ck_assert_int_eq(ht_store_twin_put(s, "line-1", m1, 10, &v), HT_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(ht_store_twin_put(s, "line-1", m2, 20, &v), HT_OK);
    ck_assert_int_eq(v, 2);
    reopen(NULL);
    json_t *got;
    ck_assert_int_eq(ht_store_twin_get(s, "line-1", &got, &v), HT_OK);
    ck_assert_int_eq(v, 2);
    ck_assert(json_equal(got, m2));
    json_decref(got);
    ck_assert_int_eq(ht_store_twin_get_version(s, "line-1", 1, &got), HT_OK);
    ck_assert(json_equal(got, m1));
    json_decref(got);
    json_t *l = ht_store_twin_list(s);
    ck_assert_int_eq(json_array_size(l), 1);
    json_decref(l);
    l = ht_store_twin_versions(s, "line-1");
    ck_assert_int_eq(json_array_size(l), 2);
    json_decref(l);
    ck_assert_int_eq(ht_store_twin_delete(s, "line-1"), HT_OK);
    ck_assert_int_eq(ht_store_twin_get(s, "line-1", &got, &v), HT_ENOENT);
    ck_assert_int_eq(ht_store_twin_delete(s, "line-1"), HT_ENOENT);
    json_decref(m1);
    json_decref(m2);
}
END_TEST

START_TEST(tokens_store_only_hashes)
{
    char hash[65];
    ht_sha256_hex("ht_secret", 9, hash);
    struct ht_store_token t = {.id = "0123456789abcdef",
                               .name = "op",
                               .role = "operator",
                               .created = 5};
    ck_assert_int_eq(ht_store_token_add(s, &t, hash), HT_OK);
    ck_assert_int_eq(ht_store_token_add(s, &t, hash), HT_EEXIST);
    ck_assert_int_eq(ht_store_token_count(s), 1);
    reopen(NULL);
    struct ht_store_token out;
    ck_assert_int_eq(ht_store_token_find(s, hash, &out), HT_OK);
    ck_assert_str_eq(out.role, "operator");
    ck_assert_int_eq(ht_store_token_find(s, "00", &out), HT_ENOENT);
    json_t *l = ht_store_token_list(s);
    char *dump = json_dumps(l, 0);
    ck_assert_ptr_null(strstr(dump, hash));
    free(dump);
    json_decref(l);
    /* The secret itself is nowhere in the file. */
    char path[300], *cmd;
    snprintf(path, sizeof path, "%s/holotwin.db", dir);
    ck_assert_int_ne(asprintf(&cmd, "grep -q ht_secret '%s'*", path), -1);
    ck_assert_int_ne(system(cmd), 0);
    free(cmd);
    ck_assert_int_eq(ht_store_token_delete(s, "0123456789abcdef"), HT_OK);
    ck_assert_int_eq(ht_store_token_delete(s, "0123456789abcdef"), HT_ENOENT);
}
END_TEST

/* Lookups are served from memory: the copy must follow every add and
 * delete at once (revocation is immediate) and be rebuilt on open. */
START_TEST(token_lookup_follows_add_delete_and_reopen)
{
    enum { N = 40 };
    char hash[N][65];
    for (int i = 0; i < N; i++) {
        char secret[32];
        snprintf(secret, sizeof secret, "ht_secret_%d", i);
        ht_sha256_hex(secret, strlen(secret), hash[i]);
        struct ht_store_token t = {.role = "viewer", .created = i};
        snprintf(t.id, sizeof t.id, "tok%02d", i);
        snprintf(t.name, sizeof t.name, "name-%d", i);
        ck_assert_int_eq(ht_store_token_add(s, &t, hash[i]), HT_OK);
    }
    struct ht_store_token out;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(ht_store_token_find(s, hash[i], &out), HT_OK);
        char want[16];
        snprintf(want, sizeof want, "tok%02d", i);
        ck_assert_str_eq(out.id, want);
        ck_assert_int_eq(out.created, i);
    }
    /* Revoke every third token: refused at once, the others untouched. */
    for (int i = 0; i < N; i += 3) {
        char id[16];
        snprintf(id, sizeof id, "tok%02d", i);
        ck_assert_int_eq(ht_store_token_delete(s, id), HT_OK);
        ck_assert_int_eq(ht_store_token_find(s, hash[i], &out), HT_ENOENT);
    }
    /* A failed add (duplicate id) must not make its hash valid. */
    char other[65];
    ht_sha256_hex("ht_other", 8, other);
    struct ht_store_token dup = {.id = "tok01", .name = "x", .role = "admin"};
    ck_assert_int_eq(ht_store_token_add(s, &dup, other), HT_EEXIST);
    ck_assert_int_eq(ht_store_token_find(s, other, &out), HT_ENOENT);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < N; i++) {
            int rc = ht_store_token_find(s, hash[i], &out);
            ck_assert_int_eq(rc, i % 3 == 0 ? HT_ENOENT : HT_OK);
            if (rc == HT_OK) {
                char want[24];
                snprintf(want, sizeof want, "name-%d", i);
                ck_assert_str_eq(out.name, want);
                ck_assert_str_eq(out.role, "viewer");
            }
        }
        reopen(NULL);
    }
}
END_TEST

START_TEST(audit_and_events_persist)
{
    struct ht_store_audit a = {.ts = 1,
                               .actor = "op:1",
                               .action = "write",
                               .device = "d",
                               .target = "lamp",
                               .value = "true",
                               .result = "ok",
                               .status = 200,
                               .latency_ms = 3};
    ck_assert_int_eq(ht_store_audit_add(s, &a), HT_OK);
    a.device = "e";
    a.result = "timeout";
    a.status = 504;
    ck_assert_int_eq(ht_store_audit_add(s, &a), HT_OK);
    for (int i = 1; i <= 5; i++)
        ck_assert_int_eq(ht_store_event_add(s, i, i, "state", "{\"v\":1}"),
                         HT_OK);
    reopen(NULL);
    struct ht_store_audit_query q = {.device = "d", .limit = 10};
    json_t *l = ht_store_audit_list(s, &q);
    ck_assert_int_eq(json_array_size(l), 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(l, 0), "result")),
        "ok");
    json_decref(l);
    q.device = NULL;
    l = ht_store_audit_list(s, &q);
    ck_assert_int_eq(json_array_size(l), 2);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_array_get(l, 0), "status")),
        504);
    json_decref(l);
    ck_assert_int_eq(ht_store_event_max(s), 5);
    l = ht_store_events_since(s, 2, 10);
    ck_assert_int_eq(json_array_size(l), 3);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_array_get(l, 0), "id")), 3);
    json_decref(l);
}
END_TEST

static int64_t count_rows(const char *sql)
{
    char path[300];
    snprintf(path, sizeof path, "%s/holotwin.db", dir);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* What a process journaled survives its kill -9 before any batch commit:
 * the next open replays values, events and last-seen times, once. */
/* Leave 500 values, an event and a last-seen time in the journal only: a
 * child journals them and dies by SIGKILL before the writer commits. */
static void journal_then_kill_9(void)
{
    struct ht_store_device d = {
        .id = "press-1", .state = "approved", .created = 1};
    ck_assert_int_eq(ht_store_device_put(s, &d), HT_OK);
    ht_store_close(s);
    s = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct ht_store *c = NULL;
        struct ht_store_opts o = {.flush_ms = 60000, .batch_max = 100000};
        char err[256];
        if (ht_store_open(dir, &o, &c, err, sizeof err))
            _exit(3);
        for (int i = 0; i < 500; i++) {
            json_t *v = json_integer(i);
            ht_store_value_add(c, "press-1", "speed", v, NULL, 1000 + i, i);
            json_decref(v);
        }
        ht_store_event_add(c, 1, 5, "state", "{\"x\":1}");
        ht_store_seen_add(c, "press-1", 777);
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "child did not die by SIGKILL (status %d)", status);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM history"), 0);
}

START_TEST(journal_replays_what_a_kill_9_left)
{
    journal_then_kill_9();
    open_store(NULL);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM history"), 500);
    ck_assert_int_eq(count_rows("SELECT max(ts) FROM history"), 1499);
    ck_assert_int_eq(count_rows("SELECT v FROM latest"), 499);
    ck_assert_int_eq(ht_store_event_max(s), 1);
    struct ht_store_device back;
    ck_assert_int_eq(ht_store_device_get(s, "press-1", &back), HT_OK);
    ck_assert_int_eq(back.last_seen, 777);
    /* Replayed once: a second open adds nothing. */
    reopen(NULL);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM history"), 500);
}
END_TEST

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* A ring of the first on-disk format (magic HTJNL001, FNV-1a sums), as an
 * older release leaves it when killed, is replayed by this one and then
 * replaced by a ring of the current format. The conversion writes the
 * first format's layout: a 4096-byte header, then records of {u64 pos,
 * u32 len, u32 sum, i64 ts, i64 seq, f64 num, u32 alen, blen, tlen, u8
 * kind, ...} padded to 64 bytes, the sum over everything after it. */
START_TEST(journal_of_the_first_format_replays)
{
    journal_then_kill_9();
    char path[300];
    snprintf(path, sizeof path, "%s/holotwin.journal", dir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    uint8_t *b = malloc((size_t)size);
    rewind(f);
    ck_assert_int_eq(fread(b, 1, (size_t)size, f), (size_t)size);
    ck_assert_mem_eq(b, "HTJNL002", 8);
    memcpy(b, "HTJNL001", 8);
    size_t recs = 0;
    for (size_t off = 4096; off + 64 <= (size_t)size;) {
        uint64_t pos;
        uint32_t len, alen, blen, tlen;
        memcpy(&pos, b + off, 8);
        memcpy(&len, b + off + 8, 4);
        if (len == 0 || pos != off - 4096)
            break;
        memcpy(&alen, b + off + 40, 4);
        memcpy(&blen, b + off + 44, 4);
        memcpy(&tlen, b + off + 48, 4);
        if (b[off + 52] != 255) { /* not a pad */
            uint32_t sum =
                fnv1a(b + off + 16, 56 + alen + blen + tlen + 3 - 16);
            memcpy(b + off + 12, &sum, 4);
            recs++;
        }
        off += len;
    }
    ck_assert_uint_ge(recs, 502);
    rewind(f);
    ck_assert_int_eq(fwrite(b, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    free(b);
    open_store(NULL);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM history"), 500);
    ck_assert_int_eq(ht_store_event_max(s), 1);
    struct ht_store_device back;
    ck_assert_int_eq(ht_store_device_get(s, "press-1", &back), HT_OK);
    ck_assert_int_eq(back.last_seen, 777);
    char magic[8] = "";
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fread(magic, 1, 8, f), 8);
    fclose(f);
    ck_assert_mem_eq(magic, "HTJNL002", 8);
    /* New records go to the new ring and survive a reopen. */
    json_t *v = json_integer(9);
    ht_store_value_add(s, "press-1", "speed", v, NULL, 5000, 900);
    json_decref(v);
    reopen(NULL);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM history"), 501);
}
END_TEST

static char latest[256];

static void on_latest(void *ud, const char *twin, const char *rule,
                      const json_t *state)
{
    (void)ud;
    char line[64];
    snprintf(line, sizeof line, "%s/%s@%lld;", twin, rule,
             (long long)json_integer_value(json_object_get(state, "since")));
    strcat(latest, line);
}

/* The alarm journal keeps every transition (newest first, filtered) and is
 * trimmed like the history. */
START_TEST(alarm_journal_filters_and_retains)
{
    static const char *const tr[][3] = {
        {"normal", "active_unacknowledged", "condition"},
        {"active_unacknowledged", "active_acknowledged", "ack"},
        {"active_acknowledged", "normal", "condition"},
    };
    for (int i = 0; i < 30; i++) {
        struct ht_store_alarm a = {.ts = 1000 * (i + 1),
                                   .twin = i % 2 ? "line-b" : "line-a",
                                   .rule = i % 3 ? "hot" : "cold",
                                   .from = tr[i % 3][0],
                                   .to = tr[i % 3][1],
                                   .cause = tr[i % 3][2],
                                   .who = i % 3 == 1 ? "alice" : NULL,
                                   .priority = "high"};
        json_t *state =
            json_pack("{s:s, s:I}", "state", a.to, "since", (json_int_t)a.ts);
        a.state = state;
        ck_assert_int_eq(ht_store_alarm_add(s, &a), HT_OK);
        json_decref(state);
    }
    json_t *h = ht_store_alarm_history(s, NULL, NULL, 0, 0, 100);
    ck_assert_uint_eq(json_array_size(h), 30);
    json_t *first = json_array_get(h, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(first, "ts")), 30000);
    ck_assert_str_eq(json_string_value(json_object_get(first, "cause")),
                     "condition");
    ck_assert_ptr_null(json_object_get(first, "who"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(first, "state"), "state")),
                     "normal");
    json_decref(h);
    /* line-b and hot: i odd and i % 3 != 0 -> 10 rows; in [5 s, 12 s]
     * (i = 4..11): 5, 7, 11. */
    h = ht_store_alarm_history(s, "line-b", "hot", 0, 0, 100);
    ck_assert_uint_eq(json_array_size(h), 10);
    json_decref(h);
    h = ht_store_alarm_history(s, "line-b", "hot", 5000, 12000, 100);
    ck_assert_uint_eq(json_array_size(h), 3);
    /* newest first: i = 11, 7 (acknowledged by alice), 5 */
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(h, 1), "who")),
        "alice");
    ck_assert_ptr_null(json_object_get(json_array_get(h, 2), "who"));
    json_decref(h);
    h = ht_store_alarm_history(s, NULL, NULL, 0, 0, 2);
    ck_assert_uint_eq(json_array_size(h), 2);
    json_decref(h);
    /* The newest state of each alarm, for the restore at start-up. */
    latest[0] = 0;
    ck_assert_int_eq(ht_store_alarm_latest_each(s, on_latest, NULL), HT_OK);
    ck_assert_str_eq(latest, "line-a/cold@25000;line-b/cold@28000;"
                             "line-a/hot@29000;line-b/hot@30000;");
    /* Retention: 10 rows at most, then nothing older than 25 s at 50 s. */
    struct ht_store_opts o = {.history_max_rows = 10,
                              .history_max_age_ms = 25000};
    reopen(&o);
    int64_t del = 0;
    ck_assert_int_eq(ht_store_retention(s, 0, &del), HT_OK);
    h = ht_store_alarm_history(s, NULL, NULL, 0, 0, 100);
    ck_assert_uint_eq(json_array_size(h), 10);
    json_decref(h);
    ck_assert_int_eq(ht_store_retention(s, 50000, &del), HT_OK);
    h = ht_store_alarm_history(s, NULL, NULL, 0, 0, 100);
    ck_assert_uint_eq(json_array_size(h), 6); /* 25 s .. 30 s */
    json_decref(h);
}
END_TEST

/* The writer commits on its own within flush_ms of the first row. */
START_TEST(writer_commits_without_a_flush)
{
    struct ht_store_opts o = {.flush_ms = 20};
    reopen(&o);
    json_t *v = json_true();
    ck_assert_int_eq(ht_store_value_add(s, "d", "on", v, "true", 42, 1), HT_OK);
    json_decref(v);
    int64_t n = 0;
    for (int i = 0; i < 500 && n == 0; i++) {
        usleep(10000);
        n = count_rows("SELECT count(*) FROM history WHERE num=1");
    }
    ck_assert_int_eq(n, 1);
    struct ht_store_batch_stats st;
    ht_store_batch_stats(s, &st);
    ck_assert_uint_ge(st.batches, 1);
    ck_assert_uint_eq(st.rows, 1);
    ck_assert_uint_eq(st.journal_bytes, 0);
}
END_TEST

/* A journal smaller than the load makes appends wait for the writer;
 * nothing is lost. A deleted device is not brought back by its seen row. */
START_TEST(small_journal_waits_and_loses_nothing)
{
    struct ht_store_opts o = {.flush_ms = 60000, .journal_size = 65536};
    reopen(&o);
    char text[300];
    memset(text, 'x', sizeof text);
    text[0] = '"';
    text[sizeof text - 2] = '"';
    text[sizeof text - 1] = '\0';
    for (int i = 0; i < 2000; i++) {
        json_t *v = json_string(text);
        ck_assert_int_eq(ht_store_value_add(s, "d", "s", v, text, i, i), HT_OK);
        json_decref(v);
    }
    ht_store_seen_add(s, "gone", 5);
    ck_assert_int_eq(ht_store_flush(s, NULL), HT_OK);
    struct ht_store_batch_stats st;
    ht_store_batch_stats(s, &st);
    ck_assert_uint_gt(st.full_waits, 0);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM history"), 2000);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM devices"), 0);
}
END_TEST

static void audit_cb(void *ud, int rc)
{
    int *got = ud;
    __atomic_store_n(got, rc == HT_OK ? 1 : -1, __ATOMIC_RELEASE);
}

/* An audit record handed to the writer is committed at once (no flush_ms
 * wait), then its callback runs; the record is in the log. */
START_TEST(audit_async_commits_then_calls_back)
{
    struct ht_store_opts o = {.flush_ms = 60000};
    reopen(&o);
    int got = 0;
    struct ht_store_audit a = {.ts = 9,
                               .actor = "tech",
                               .action = "write",
                               .device = "press-1",
                               .target = "speed",
                               .value = "42",
                               .result = "ok",
                               .status = 200,
                               .latency_ms = 3};
    ck_assert_int_eq(ht_store_audit_add_async(s, &a, audit_cb, &got), HT_OK);
    for (int i = 0; i < 1000 && !__atomic_load_n(&got, __ATOMIC_ACQUIRE); i++)
        usleep(5000);
    ck_assert_int_eq(got, 1);
    struct ht_store_audit_query q = {.device = "press-1"};
    json_t *l = ht_store_audit_list(s, &q);
    ck_assert_int_eq(json_array_size(l), 1);
    json_t *r = json_array_get(l, 0);
    ck_assert_str_eq(json_string_value(json_object_get(r, "actor")), "tech");
    ck_assert_str_eq(json_string_value(json_object_get(r, "value")), "42");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "status")), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "latency_ms")), 3);
    json_decref(l);
}
END_TEST

static char *text_row(const char *sql)
{
    char path[300];
    snprintf(path, sizeof path, "%s/holotwin.db", dir);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    const char *t = (const char *)sqlite3_column_text(st, 0);
    char *out = strdup(t ? t : "(null)");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static void text_is(const char *sql, const char *want)
{
    char *got = text_row(sql);
    ck_assert_str_eq(got, want);
    free(got);
}

/* The mixed records of feed_mixed(): values of 7 properties on 3 devices
 * (numbers, strings and objects, properties repeated), events (one id
 * given twice: the later one replaces it) and last-seen times. With
 * `each`, every record is flushed alone. 100 records. */
static void feed_mixed(bool each)
{
    static const char *const devs[] = {"d1", "d2", "dev-3"};
    static const char *const props[] = {"t", "h", "p", "mode", "on", "x", "y"};
    for (int i = 0; i < 100; i++) {
        int64_t ts = 1700000000000 + i * 250;
        if (i % 5 == 3) {
            char data[64];
            snprintf(data, sizeof data, "{\"i\":%d}", i);
            int64_t id = i == 58 ? 8 : i;
            ck_assert_int_eq(ht_store_event_add(s, id, ts, "state", data),
                             HT_OK);
        } else if (i % 11 == 7) {
            ck_assert_int_eq(ht_store_seen_add(s, devs[i % 3], ts), HT_OK);
        } else {
            json_t *v = i % 4 == 0   ? json_sprintf("s%d", i)
                        : i % 9 == 0 ? json_pack("{si}", "k", i)
                                     : json_real(i * 0.5);
            ck_assert_int_eq(ht_store_value_add(s, devs[i % 3],
                                                props[(i * 7 + i / 3) % 7], v,
                                                NULL, ts, i),
                             HT_OK);
            json_decref(v);
        }
        if (each)
            ck_assert_int_eq(ht_store_flush(s, NULL), HT_OK);
    }
    ck_assert_int_eq(ht_store_flush(s, NULL), HT_OK);
}

static void put_mixed_devices(void)
{
    static const char *const devs[] = {"d1", "d2", "dev-3"};
    for (int i = 0; i < 3; i++) {
        struct ht_store_device d = {.created = 1};
        strcpy(d.id, devs[i]);
        strcpy(d.state, "approved");
        ck_assert_int_eq(ht_store_device_put(s, &d), HT_OK);
    }
}

/* Everything the writer writes for values and events, as text. */
static char *dump_written(void)
{
    return text_row(
        "SELECT (SELECT group_concat(r, ';') FROM (SELECT rowid || ',' || "
        "device || ',' || name || ',' || ts || ',' || v || ',' || "
        "quote(num) AS r FROM history ORDER BY rowid)) || '|' || (SELECT "
        "group_concat(r, ';') FROM (SELECT id || ',' || ts || ',' || type "
        "|| ',' || data AS r FROM events ORDER BY id)) || '|' || (SELECT "
        "group_concat(r, ';') FROM (SELECT device || ',' || name || ',' || "
        "v || ',' || ts || ',' || seq AS r FROM latest ORDER BY device, "
        "name)) || '|' || (SELECT group_concat(r, ';') FROM (SELECT level "
        "|| ',' || device || ',' || name || ',' || bucket || ',' || n || "
        "',' || nnum || ',' || quote(sum) || ',' || quote(min) || ',' || "
        "quote(max) || ',' || last_ts || ',' || last_v AS r FROM rollup "
        "ORDER BY level, device, name, bucket)) || '|' || (SELECT "
        "group_concat(id || ',' || last_seen, ';') FROM devices)");
}

/* The writer inserts a batch's values, `latest` rows and events with
 * multi-row statements: a batch of 100 mixed records is stored exactly as
 * the same records committed one by one (single-row statements). */
START_TEST(a_batch_is_stored_as_records_one_by_one)
{
    struct ht_store_opts o = {.flush_ms = 60000};
    reopen(&o);
    put_mixed_devices();
    struct ht_store_batch_stats b0, b1;
    ht_store_batch_stats(s, &b0);
    feed_mixed(false);
    ht_store_batch_stats(s, &b1);
    ck_assert_uint_eq(b1.batches - b0.batches, 1);
    char *batched = dump_written();
    /* Not vacuous: 73 history rows, 20 events minus the replaced one. */
    text_is("SELECT count(*) FROM history", "73");
    text_is("SELECT count(*) FROM events", "19");
    text_is("SELECT data FROM events WHERE id=8", "{\"i\":58}");
    text_is("SELECT count(*) FROM latest", "21");

    ht_store_close(s);
    s = NULL;
    rm_rf(dir);
    ck_assert_ptr_nonnull(mkdtemp(strcpy(dir, "/tmp/ht-store-XXXXXX")));
    open_store(&o);
    put_mixed_devices();
    ht_store_batch_stats(s, &b0);
    feed_mixed(true);
    ht_store_batch_stats(s, &b1);
    ck_assert_uint_ge(b1.batches - b0.batches, 100);
    char *single = dump_written();
    ck_assert_str_eq(batched, single);
    free(batched);
    free(single);
}
END_TEST

/* An audit record crosses the journal as length-prefixed fields: every
 * byte of its strings (separators, digits, the format's own marker,
 * empty strings) and its NULLs arrive as they were given. */
START_TEST(audit_fields_survive_the_journal)
{
    struct ht_store_opts o = {.flush_ms = 60000};
    reopen(&o);
    int got = 0;
    struct ht_store_audit a = {.ts = 11,
                               .actor = "12:ab;-\x01x",
                               .action = "write",
                               .device = "",
                               .target = NULL,
                               .value = "{\"v\":\"3:abc\"}",
                               .result = "-",
                               .status = 504,
                               .latency_ms = 7,
                               .command_id = "c-9",
                               .sent = 1700000000123,
                               .deadline = -5};
    ck_assert_int_eq(ht_store_audit_add_async(s, &a, audit_cb, &got), HT_OK);
    for (int i = 0; i < 1000 && !__atomic_load_n(&got, __ATOMIC_ACQUIRE); i++)
        usleep(5000);
    ck_assert_int_eq(got, 1);
    text_is("SELECT actor FROM audit", "12:ab;-\x01x");
    text_is("SELECT action FROM audit", "write");
    text_is("SELECT device FROM audit", "");
    ck_assert_int_eq(count_rows("SELECT target IS NULL FROM audit"), 1);
    text_is("SELECT value FROM audit", "{\"v\":\"3:abc\"}");
    text_is("SELECT result FROM audit", "-");
    text_is("SELECT command_id FROM audit", "c-9");
    ck_assert_int_eq(count_rows("SELECT sent FROM audit"), 1700000000123);
    ck_assert_int_eq(count_rows("SELECT deadline FROM audit"), -5);
    ck_assert_int_eq(count_rows("SELECT status FROM audit"), 504);
    ck_assert_int_eq(count_rows("SELECT latency_ms FROM audit"), 7);
    /* Without a command: its id, sent and deadline are NULL. */
    got = 0;
    struct ht_store_audit b = {.ts = 12, .action = "approve", .status = 200};
    ck_assert_int_eq(ht_store_audit_add_async(s, &b, audit_cb, &got), HT_OK);
    for (int i = 0; i < 1000 && !__atomic_load_n(&got, __ATOMIC_ACQUIRE); i++)
        usleep(5000);
    ck_assert_int_eq(got, 1);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM audit WHERE ts=12 AND "
                                "actor IS NULL AND command_id IS NULL AND "
                                "sent IS NULL AND deadline IS NULL"),
                     1);
}
END_TEST

/* A journal written by an older release (audit records as JSON) left
 * behind by a kill -9 is replayed by this one. */
START_TEST(audit_json_records_of_older_releases_replay)
{
    ht_store_close(s);
    s = NULL;
    int64_t epoch = count_rows("SELECT v FROM meta WHERE k='journal_epoch'");
    int64_t pos = count_rows("SELECT coalesce((SELECT v FROM meta WHERE "
                             "k='journal_pos'), 0)");
    char path[300], err[256] = "";
    snprintf(path, sizeof path, "%s/holotwin.journal", dir);
    struct ht_journal *j = NULL;
    ck_assert_msg(ht_journal_open(path, 8u << 20, (uint64_t)epoch,
                                  (uint64_t)pos, &j, err, sizeof err) == HT_OK,
                  "%s", err);
    struct ht_jrec r = {
        .kind = HT_JREC_AUDIT,
        .a = "write",
        .text = "{\"actor\":\"old\",\"action\":\"write\",\"device\":"
                "\"press-1\",\"value\":\"1\",\"result\":\"ok\","
                "\"command_id\":\"c-1\",\"sent\":5,\"deadline\":9}",
        .ts = 3,
        .seq = 200,
        .num = 2};
    ck_assert_int_eq(ht_journal_append(j, &r), HT_OK);
    ht_journal_close(j);
    open_store(NULL);
    text_is("SELECT actor || '/' || device || '/' || value || '/' || "
            "command_id || '/' || sent || '/' || deadline || '/' || status "
            "FROM audit",
            "old/press-1/1/c-1/5/9/200");
    ck_assert_int_eq(count_rows("SELECT target IS NULL FROM audit"), 1);
}
END_TEST

/* A command's record: who (the token name), its id, sent and deadline;
 * a late ack journaled after it lands on it; every filter narrows. */
START_TEST(audit_late_ack_and_filters)
{
    struct ht_store_audit a = {.ts = 100,
                               .actor = "line:3: tablet:0a1b",
                               .action = "write",
                               .device = "press-1",
                               .target = "lamp",
                               .value = "true",
                               .result = "timeout",
                               .status = 504,
                               .latency_ms = 1500,
                               .command_id = "c-1",
                               .sent = 98,
                               .deadline = 1598};
    ck_assert_int_eq(ht_store_audit_add(s, &a), HT_OK);
    a.ts = 200;
    a.actor = "other:0c";
    a.result = "ok";
    a.status = 200;
    a.command_id = "c-2";
    ck_assert_int_eq(ht_store_audit_add(s, &a), HT_OK);
    ck_assert_int_eq(ht_store_audit_late_ack(s, "c-1", "expired", 2100, 2002),
                     HT_OK);
    ck_assert_int_eq(ht_store_flush(s, NULL), HT_OK);
    struct ht_store_audit_query q = {.result = "timeout"};
    json_t *l = ht_store_audit_list(s, &q);
    ck_assert_int_eq(json_array_size(l), 1);
    json_t *r = json_array_get(l, 0);
    ck_assert_str_eq(json_string_value(json_object_get(r, "who")),
                     "line:3: tablet");
    ck_assert_str_eq(json_string_value(json_object_get(r, "command_id")),
                     "c-1");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "sent")), 98);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "deadline")), 1598);
    json_t *late = json_object_get(r, "late_ack");
    ck_assert_str_eq(json_string_value(json_object_get(late, "result")),
                     "expired");
    ck_assert_int_eq(json_integer_value(json_object_get(late, "ts")), 2100);
    ck_assert_int_eq(json_integer_value(json_object_get(late, "after_ms")),
                     2002);
    json_decref(l);
    struct ht_store_audit_query qs[] = {
        {.who = "line:3: tablet"},
        {.who = "line"},
        {.who = "other"},
        {.from = 150},
        {.to = 150},
        {.action = "block"},
        {.device = "press-2"},
        {.limit = 1},
    };
    static const size_t want[] = {1, 0, 1, 1, 1, 0, 0, 1};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        l = ht_store_audit_list(s, &qs[i]);
        ck_assert_msg(json_array_size(l) == want[i], "query %zu: %zu", i,
                      json_array_size(l));
        json_decref(l);
    }
}
END_TEST

/* What the upstream's catch-up reads: records after an id, oldest first,
 * paged; newest first stays the default. */
START_TEST(audit_after_an_id_oldest_first)
{
    struct ht_store_audit a = {
        .actor = "t:1", .action = "write", .result = "ok", .status = 200};
    for (int i = 1; i <= 5; i++) {
        a.ts = 100 * i;
        ck_assert_int_eq(ht_store_audit_add(s, &a), HT_OK);
    }
    struct ht_store_audit_query q = {
        .limit = 2, .after_id = 2, .oldest_first = true};
    json_t *l = ht_store_audit_list(s, &q);
    ck_assert_int_eq(json_array_size(l), 2);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_array_get(l, 0), "id")), 3);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_array_get(l, 1), "ts")), 400);
    json_decref(l);
    q.after_id = 4;
    l = ht_store_audit_list(s, &q);
    ck_assert_int_eq(json_array_size(l), 1);
    json_decref(l);
    q = (struct ht_store_audit_query){.after_id = 3};
    l = ht_store_audit_list(s, &q);
    ck_assert_int_eq(json_array_size(l), 2);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_array_get(l, 0), "id")), 5);
    json_decref(l);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, schema_is_versioned_and_wal);
    tcase_add_test(tc, audit_after_an_id_oldest_first);
    tcase_add_test(tc, devices_roundtrip_and_delete);
    tcase_add_test(tc, td_versions_only_on_change);
    tcase_add_test(tc, td_versions_are_bounded);
    tcase_add_test(tc, history_pages_are_bounded_by_size);
    tcase_add_test(tc, open_refuses_empty_or_missing_databases);
    tcase_add_test(tc, values_batched_history_and_downsampling);
    tcase_add_test(tc, retention_by_rows_and_age);
    tcase_add_test(tc, twins_are_versioned);
    tcase_add_test(tc, tokens_store_only_hashes);
    tcase_add_test(tc, token_lookup_follows_add_delete_and_reopen);
    tcase_add_test(tc, audit_and_events_persist);
    tcase_add_test(tc, journal_replays_what_a_kill_9_left);
    tcase_add_test(tc, journal_of_the_first_format_replays);
    tcase_add_test(tc, audit_fields_survive_the_journal);
    tcase_add_test(tc, a_batch_is_stored_as_records_one_by_one);
    tcase_add_test(tc, audit_json_records_of_older_releases_replay);
    tcase_add_test(tc, writer_commits_without_a_flush);
    tcase_add_test(tc, small_journal_waits_and_loses_nothing);
    tcase_add_test(tc, audit_async_commits_then_calls_back);
    tcase_add_test(tc, audit_late_ack_and_filters);
    tcase_add_test(tc, alarm_journal_filters_and_retains);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
