/* test_store_rollup.c - the store's time travel on a real SQLite file:
 * rollups written by the writer thread (1 min and 1 h), history answered
 * from the finest level that covers the range, retention of raw values vs
 * each rollup level, values / presence / alarms at an instant and the
 * timeline. Timestamps are given, never read from a clock. */
#include "gateway/store/store.h"

#include "ht_err.h"

#include <check.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];
static struct ht_store *s;

#define MIN 60000LL
#define HOUR 3600000LL
#define DAY (24 * HOUR)

static void open_store(const struct ht_store_opts *o)
{
    char err[256] = "";
    ck_assert_msg(ht_store_open(dir, o, &s, err, sizeof err) == HT_OK, "%s",
                  err);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/ht-rollup-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    open_store(NULL);
}

static void teardown(void)
{
    ht_store_close(s);
    s = NULL;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}

static void add_num(const char *d, const char *p, double x, int64_t ts)
{
    json_t *v = json_real(x);
    ck_assert_int_eq(ht_store_value_add(s, d, p, v, NULL, ts, ts), HT_OK);
    json_decref(v);
}

static json_t *item(json_t *h, size_t i)
{
    return json_array_get(json_object_get(h, "items"), i);
}

static double num(json_t *o, const char *k)
{
    ck_assert_msg(json_is_number(json_object_get(o, k)), "no %s", k);
    return json_number_value(json_object_get(o, k));
}

/* One value a second for 2 h 30 min (9000 values, v = second index), in
 * batches of every size the writer makes. */
static void two_and_a_half_hours(void)
{
    for (int64_t i = 0; i < 9000; i++)
        add_num("d", "t", (double)i, i * 1000);
    ck_assert_int_eq(ht_store_flush(s, NULL), HT_OK);
}

START_TEST(rollups_match_raw_downsampling)
{
    two_and_a_half_hours();
    json_t *rows = ht_store_history_rows(s);
    ck_assert_int_eq(json_integer_value(json_object_get(rows, "raw")), 9000);
    ck_assert_int_eq(json_integer_value(json_object_get(rows, "1m")), 150);
    ck_assert_int_eq(json_integer_value(json_object_get(rows, "1h")), 3);
    json_decref(rows);
    /* Step 1 h: the 1-hour level answers, exactly as raw would. */
    json_t *h;
    ck_assert_int_eq(ht_store_history(s, "d", "t", 0, 0, 100, HOUR, &h), HT_OK);
    ck_assert_str_eq(json_string_value(json_object_get(h, "level")), "1h");
    ck_assert_uint_eq(json_array_size(json_object_get(h, "items")), 3);
    json_t *b = item(h, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "ts")), HOUR);
    ck_assert_double_eq(num(b, "min"), 3600);
    ck_assert_double_eq(num(b, "max"), 7199);
    ck_assert_double_eq(num(b, "v"), (3600 + 7199) / 2.0);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "n")), 3600);
    b = item(h, 2); /* the last half hour */
    ck_assert_int_eq(json_integer_value(json_object_get(b, "n")), 1800);
    json_decref(h);
    /* Step 5 min: 1-minute buckets summed, same numbers as raw. */
    json_t *r;
    ck_assert_int_eq(ht_store_history(s, "d", "t", 0, 0, 100, 5 * MIN, &h),
                     HT_OK);
    ck_assert_str_eq(json_string_value(json_object_get(h, "level")), "1m");
    /* 7 s is no multiple of a level: raw rows answer. */
    ck_assert_int_eq(ht_store_history(s, "d", "t", 0, 0, 100000, 7000, &r),
                     HT_OK);
    ck_assert_str_eq(json_string_value(json_object_get(r, "level")), "raw");
    json_decref(r);
    ck_assert_int_eq(ht_store_history(s, "d", "t", 0, 0, 100, 5 * MIN, &r),
                     HT_OK);
    ck_assert_uint_eq(json_array_size(json_object_get(h, "items")), 30);
    json_decref(r);
    b = item(h, 7);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "ts")), 35 * MIN);
    ck_assert_double_eq(num(b, "min"), 2100);
    ck_assert_double_eq(num(b, "max"), 2399);
    ck_assert_double_eq(num(b, "v"), (2100 + 2399) / 2.0);
    json_decref(h);
    /* Without a step: raw rows. */
    ck_assert_int_eq(ht_store_history(s, "d", "t", 0, 0, 10, 0, &h), HT_OK);
    ck_assert_str_eq(json_string_value(json_object_get(h, "level")), "raw");
    json_decref(h);
}
END_TEST

static int64_t db_int(const char *sql)
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

/* The writer holds open buckets across batches; a kill -9 after the
 * history rows were committed but before those buckets were written
 * loses nothing: the next open folds the rows again, once. */
START_TEST(rollups_held_by_the_writer_survive_kill_9)
{
    ht_store_close(s);
    s = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct ht_store *c = NULL;
        struct ht_store_opts o = {.flush_ms = 10};
        char err[256];
        if (ht_store_open(dir, &o, &c, err, sizeof err))
            _exit(3);
        /* 10 minutes at 1 value/s; the last minute's bucket stays open. */
        for (int64_t i = 0; i < 600; i++) {
            json_t *v = json_integer(i);
            ht_store_value_add(c, "d", "t", v, NULL, i * 1000, i);
            json_decref(v);
            if (i % 50 == 0)
                usleep(20000); /* several batches */
        }
        struct ht_store_batch_stats st;
        for (int k = 0; k < 1000; k++) {
            ht_store_batch_stats(c, &st);
            if (st.rows == 600 && st.journal_bytes == 0)
                break;
            usleep(5000);
        }
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "child did not die by SIGKILL (status %d)", status);
    ck_assert_int_eq(db_int("SELECT count(*) FROM history"), 600);
    /* What the child had written: not all of it (else this proves
     * nothing). */
    ck_assert_int_lt(db_int("SELECT coalesce(sum(n), 0) FROM rollup WHERE "
                            "level=60000"),
                     600);
    for (int round = 0; round < 2; round++) {
        open_store(NULL);
        json_t *rows = ht_store_history_rows(s);
        ck_assert_int_eq(json_integer_value(json_object_get(rows, "1m")), 10);
        ck_assert_int_eq(json_integer_value(json_object_get(rows, "1h")), 1);
        json_decref(rows);
        json_t *h;
        ck_assert_int_eq(ht_store_history(s, "d", "t", 0, 0, 100, HOUR, &h),
                         HT_OK);
        ck_assert_str_eq(json_string_value(json_object_get(h, "level")), "1h");
        json_t *b = item(h, 0);
        ck_assert_int_eq(json_integer_value(json_object_get(b, "n")), 600);
        ck_assert_double_eq(num(b, "min"), 0);
        ck_assert_double_eq(num(b, "max"), 599);
        ck_assert_double_eq(num(b, "v"), 599 / 2.0);
        json_decref(h);
        ck_assert_int_eq(
            ht_store_history(s, "d", "t", 9 * MIN, 0, 100, MIN, &h), HT_OK);
        ck_assert_str_eq(json_string_value(json_object_get(h, "level")), "1m");
        ck_assert_int_eq(json_integer_value(json_object_get(item(h, 0), "n")),
                         60);
        json_decref(h);
        if (round == 0)
            ht_store_close(s); /* a second open adds nothing */
    }
}
END_TEST

/* Values the writer committed on its own leave their buckets open; a
 * history query (which flushes) still sees every one of them. */
START_TEST(open_buckets_are_written_before_a_query)
{
    struct ht_store_opts o = {.flush_ms = 10};
    ht_store_close(s);
    open_store(&o);
    for (int64_t i = 0; i < 30; i++)
        add_num("d", "t", (double)i, 2 * MIN + i * 1000);
    struct ht_store_batch_stats st;
    for (int k = 0; k < 1000; k++) {
        ht_store_batch_stats(s, &st);
        if (st.rows == 30 && st.journal_bytes == 0)
            break;
        usleep(5000);
    }
    ck_assert_uint_eq(st.rows, 30);
    /* Committed by the writer's timer, the bucket still open. */
    ck_assert_int_eq(db_int("SELECT count(*) FROM rollup"), 0);
    json_t *h;
    ck_assert_int_eq(ht_store_history(s, "d", "t", 0, 0, 100, HOUR, &h), HT_OK);
    ck_assert_str_eq(json_string_value(json_object_get(h, "level")), "1h");
    ck_assert_uint_eq(json_array_size(json_object_get(h, "items")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(item(h, 0), "n")), 30);
    ck_assert_double_eq(num(item(h, 0), "max"), 29);
    json_decref(h);
    /* Both levels' buckets are in the table now. */
    ck_assert_int_eq(db_int("SELECT count(*) FROM rollup"), 2);
}
END_TEST

START_TEST(rollups_of_other_values_keep_the_last)
{
    /* Strings and booleans: counted, the bucket's last value kept; a
     * bucket written by two batches merges. */
    const char *modes[] = {"off", "on", "auto"};
    for (int i = 0; i < 3; i++) {
        json_t *v = json_string(modes[i]);
        ht_store_value_add(s, "d", "mode", v, NULL, 1000 + i, i);
        json_decref(v);
        ht_store_flush(s, NULL);
    }
    json_t *h;
    ck_assert_int_eq(ht_store_history(s, "d", "mode", 0, 0, 10, MIN, &h),
                     HT_OK);
    ck_assert_str_eq(json_string_value(json_object_get(h, "level")), "1m");
    ck_assert_str_eq(json_string_value(json_object_get(item(h, 0), "v")),
                     "auto");
    ck_assert_int_eq(json_integer_value(json_object_get(item(h, 0), "n")), 3);
    json_decref(h);
    /* Numbers in two batches: min/max/mean over both. */
    add_num("d", "x", 5, 2000);
    ht_store_flush(s, NULL);
    add_num("d", "x", -1, 3000);
    add_num("d", "x", 2, 4000);
    ht_store_flush(s, NULL);
    ck_assert_int_eq(ht_store_history(s, "d", "x", 0, 0, 10, HOUR, &h), HT_OK);
    ck_assert_double_eq(num(item(h, 0), "min"), -1);
    ck_assert_double_eq(num(item(h, 0), "max"), 5);
    ck_assert_double_eq(num(item(h, 0), "v"), 2);
    json_decref(h);
    /* Young data (a range reaching back before every level): the levels
     * that hold all of it are as good; a 5-minute step reads minutes. */
    add_num("d", "y", 1, HOUR + 1000);
    add_num("d", "y", 3, HOUR + 2000);
    ht_store_flush(s, NULL);
    ck_assert_int_eq(
        ht_store_history(s, "d", "y", HOUR - DAY, 0, 10, 5 * MIN, &h), HT_OK);
    ck_assert_str_eq(json_string_value(json_object_get(h, "level")), "1m");
    ck_assert_double_eq(num(item(h, 0), "v"), 2);
    json_decref(h);
}
END_TEST

START_TEST(retention_keeps_rollups_longer_than_raw)
{
    struct ht_store_opts o = {.history_max_age_ms = 1 * HOUR,
                              .rollup_max_age_ms = {2 * HOUR, 30 * DAY}};
    ht_store_close(s);
    open_store(&o);
    two_and_a_half_hours();
    /* A value 3 days later: now is then. */
    add_num("d", "t", 1, 3 * DAY);
    ht_store_flush(s, NULL);
    int64_t del = 0;
    ck_assert_int_eq(ht_store_retention(s, 3 * DAY, &del), HT_OK);
    json_t *rows = ht_store_history_rows(s);
    /* Raw and 1-minute rows of day 0 are gone, the hours stay. */
    ck_assert_int_eq(json_integer_value(json_object_get(rows, "raw")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(rows, "1m")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(rows, "1h")), 4);
    ck_assert_int_eq(del, 9000 + 150);
    json_decref(rows);
    /* A query of day 0 at 1-minute steps: only the 1-hour level covers. */
    json_t *h;
    ck_assert_int_eq(ht_store_history(s, "d", "t", 1, 3 * HOUR, 100, MIN, &h),
                     HT_OK);
    ck_assert_str_eq(json_string_value(json_object_get(h, "level")), "1h");
    ck_assert_uint_eq(json_array_size(json_object_get(h, "items")), 3);
    json_decref(h);
    /* The value at an instant of day 0 comes from the hour's last value. */
    struct ht_store_at q = {.device = "d", .name = "t"};
    ck_assert_int_eq(ht_store_values_at(s, &q, 1, 2 * HOUR + 10), HT_OK);
    ck_assert_int_eq(q.level, 1);
    ck_assert_double_eq(json_number_value(q.v), 7199);
    ck_assert_int_eq(q.ts, 7199000);
    json_decref(q.v);
    /* Past every level's age: everything goes, nothing grows. */
    ck_assert_int_eq(ht_store_retention(s, 40 * DAY, &del), HT_OK);
    rows = ht_store_history_rows(s);
    ck_assert_int_eq(json_integer_value(json_object_get(rows, "1h")), 0);
    json_decref(rows);
}
END_TEST

START_TEST(state_inputs_at_an_instant)
{
    two_and_a_half_hours();
    struct ht_store_at q[2] = {{.device = "d", .name = "t"},
                               {.device = "d", .name = "none"}};
    ck_assert_int_eq(ht_store_values_at(s, q, 2, 4321500), HT_OK);
    ck_assert_int_eq(q[0].level, -1);
    ck_assert_int_eq(q[0].ts, 4321000);
    ck_assert_double_eq(json_number_value(q[0].v), 4321);
    ck_assert_ptr_null(q[1].v);
    json_decref(q[0].v);
    /* Before the first value: nothing. */
    ck_assert_int_eq(ht_store_values_at(s, q, 1, -1), HT_OK);
    ck_assert_ptr_null(q[0].v);

    ht_store_presence_add(s, "d", false, 5000);
    ht_store_presence_add(s, "d", true, 8000);
    ht_store_presence_add(s, "d", false, 9000);
    ht_store_flush(s, NULL);
    int64_t off, on;
    ck_assert_int_eq(ht_store_presence_at(s, "d", 8500, &off, &on), HT_OK);
    ck_assert_int_eq(off, 5000);
    ck_assert_int_eq(on, 8000);
    ck_assert_int_eq(ht_store_presence_at(s, "d", 4000, &off, &on), HT_OK);
    ck_assert_int_eq(off + on, 0);
    /* Quality changes of one property, apart from the status rows. */
    ht_store_quality_add(s, "d", "t", false, 8200);
    ht_store_quality_add(s, "d", "t", true, 8400);
    ht_store_flush(s, NULL);
    int64_t good, stale;
    ck_assert_int_eq(ht_store_quality_at(s, "d", "t", 8300, &good, &stale),
                     HT_OK);
    ck_assert_int_eq(good, 0);
    ck_assert_int_eq(stale, 8200);
    ck_assert_int_eq(ht_store_quality_at(s, "d", "t", 9000, &good, &stale),
                     HT_OK);
    ck_assert_int_eq(good, 8400);
    ck_assert_int_eq(ht_store_presence_at(s, "d", 8500, &off, &on), HT_OK);
    ck_assert_int_eq(off, 5000);
    ck_assert_int_eq(on, 8000);

    json_t *a1 =
        json_pack("{s:s, s:b}", "state", "active_unacknowledged", "active", 1);
    json_t *a2 =
        json_pack("{s:s, s:b}", "state", "active_acknowledged", "active", 1);
    struct ht_store_alarm al = {.ts = 6000,
                                .twin = "tw",
                                .rule = "r",
                                .from = "normal",
                                .to = "active_unacknowledged",
                                .cause = "condition",
                                .priority = "high",
                                .state = a1};
    ck_assert_int_eq(ht_store_alarm_add(s, &al), HT_OK);
    al.ts = 7000;
    al.from = "active_unacknowledged";
    al.to = "active_acknowledged";
    al.cause = "ack";
    al.state = a2;
    ck_assert_int_eq(ht_store_alarm_add(s, &al), HT_OK);
    ht_store_flush(s, NULL);
    json_t *st = ht_store_alarm_at(s, "tw", "r", 6500);
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")),
                     "active_unacknowledged");
    json_decref(st);
    st = ht_store_alarm_at(s, "tw", "r", 7000);
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")),
                     "active_acknowledged");
    json_decref(st);
    ck_assert_ptr_null(ht_store_alarm_at(s, "tw", "r", 5999));
    json_decref(a1);
    json_decref(a2);

    /* The timeline of [5000, 9000]: 5 values, 3 presence changes, 2
     * alarm transitions, oldest first; a limit cuts with next_from. */
    struct ht_store_ref refs[] = {{"d", "t", "c.t"}};
    json_t *tl = ht_store_timeline(s, "tw", refs, 1, 5000, 9000, 100);
    json_t *items = json_object_get(tl, "items");
    ck_assert_uint_eq(json_array_size(items), 5 + 3 + 2);
    ck_assert_ptr_null(json_object_get(tl, "next_from"));
    int64_t prev = 0;
    size_t k;
    json_t *it;
    json_array_foreach(items, k, it)
    {
        int64_t ts = json_integer_value(json_object_get(it, "ts"));
        ck_assert_int_ge(ts, prev);
        prev = ts;
    }
    json_t *first_alarm = NULL;
    json_array_foreach(
        items, k,
        it) if (!first_alarm &&
                !strcmp(json_string_value(json_object_get(it, "kind")),
                        "alarm")) first_alarm = it;
    ck_assert_ptr_nonnull(first_alarm);
    ck_assert_int_eq(json_integer_value(json_object_get(first_alarm, "ts")),
                     6000);
    ck_assert_str_eq(json_string_value(json_object_get(first_alarm, "to")),
                     "active_unacknowledged");
    json_decref(tl);
    tl = ht_store_timeline(s, "tw", refs, 1, 5000, 9000, 4);
    ck_assert_uint_eq(json_array_size(json_object_get(tl, "items")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(tl, "next_from")),
                     7000);
    json_decref(tl);
}
END_TEST

START_TEST(device_delete_takes_its_past)
{
    struct ht_store_device d = {.id = "d", .state = "approved"};
    ck_assert_int_eq(ht_store_device_put(s, &d), HT_OK);
    add_num("d", "t", 1, HOUR);
    add_num("e", "t", 1, HOUR);
    ht_store_presence_add(s, "d", true, HOUR);
    ht_store_quality_add(s, "d", "t", false, HOUR + 1);
    ht_store_flush(s, NULL);
    ck_assert_int_eq(ht_store_device_delete(s, "d"), HT_OK);
    json_t *rows = ht_store_history_rows(s);
    /* What is left is the other device's. */
    ck_assert_int_eq(json_integer_value(json_object_get(rows, "raw")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(rows, "1m")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(rows, "1h")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(rows, "presence")), 0);
    json_decref(rows);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_rollup");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rollups_match_raw_downsampling);
    tcase_add_test(tc, rollups_held_by_the_writer_survive_kill_9);
    tcase_add_test(tc, open_buckets_are_written_before_a_query);
    tcase_add_test(tc, rollups_of_other_values_keep_the_last);
    tcase_add_test(tc, retention_keeps_rollups_longer_than_raw);
    tcase_add_test(tc, state_inputs_at_an_instant);
    tcase_add_test(tc, device_delete_takes_its_past);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
