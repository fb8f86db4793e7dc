/* test_common.c - unit tests for common/: loop, timers, wakeup, config
 * positions, ids, files. */
#include "ht_conf.h"
#include "ht_err.h"
#include "ht_json.h"
#include "ht_loop.h"
#include "ht_mem.h"
#include "ht_sha256.h"
#include "ht_util.h"

#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fake clock the tests move by hand. */
static uint64_t fake_now;
static uint64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static int fired[8];
static void on_timer(struct ht_timer *t, void *ud)
{
    (void)t;
    fired[(intptr_t)ud]++;
}

START_TEST(timers_fire_in_order_of_due_time)
{
    struct ht_loop *l;
    ck_assert_int_eq(ht_loop_new(&l), HT_OK);
    fake_now = 1000;
    ht_loop_set_clock(l, fake_clock, NULL);
    memset(fired, 0, sizeof fired);
    struct ht_timer *a = ht_timer_new(l, on_timer, (void *)0);
    struct ht_timer *b = ht_timer_new(l, on_timer, (void *)1);
    struct ht_timer *c = ht_timer_new(l, on_timer, (void *)2);
    ht_timer_start(a, 100, 0);
    ht_timer_start(b, 50, 50);
    ht_timer_start(c, 500, 0);
    fake_now = 1050;
    ht_loop_run_once(l, 0);
    ck_assert_int_eq(fired[0], 0);
    ck_assert_int_eq(fired[1], 1);
    fake_now = 1100;
    ht_loop_run_once(l, 0);
    ck_assert_int_eq(fired[0], 1);
    ck_assert_int_eq(fired[1], 2);
    ck_assert(!ht_timer_active(a));
    ht_timer_stop(c);
    fake_now = 2000;
    ht_loop_run_once(l, 0);
    ck_assert_int_eq(fired[2], 0);
    ht_timer_free(a);
    ht_timer_free(b);
    ht_timer_free(c);
    ht_loop_free(l);
}
END_TEST

static void free_self(struct ht_timer *t, void *ud)
{
    (*(int *)ud)++;
    ht_timer_free(t);
}

START_TEST(timer_may_free_itself_in_callback)
{
    struct ht_loop *l;
    ht_loop_new(&l);
    fake_now = 0;
    ht_loop_set_clock(l, fake_clock, NULL);
    int n = 0;
    struct ht_timer *t = ht_timer_new(l, free_self, &n);
    ht_timer_start(t, 10, 10);
    fake_now = 10;
    ht_loop_run_once(l, 0);
    fake_now = 100;
    ht_loop_run_once(l, 0);
    ck_assert_int_eq(n, 1);
    ht_loop_free(l);
}
END_TEST

struct idrec {
    char id[8];
    int v;
};

START_TEST(id_bsearch_finds_and_places)
{
    struct idrec a = {"a", 1}, c = {"c", 3}, e = {"e", 5};
    void *v[] = {&a, &c, &e};
    size_t pos = 99;
    ck_assert_int_eq(ht_id_bsearch(v, 3, "c", &pos), 1);
    ck_assert_uint_eq(pos, 1);
    ck_assert_int_eq(ht_id_bsearch(v, 3, "d", &pos), -1);
    ck_assert_uint_eq(pos, 2);
    ck_assert_int_eq(ht_id_bsearch(v, 3, "0", &pos), -1);
    ck_assert_uint_eq(pos, 0);
    ck_assert_int_eq(ht_id_bsearch(v, 3, "z", NULL), -1);
    ck_assert_int_eq(ht_id_bsearch(v, 0, "a", &pos), -1);
    ck_assert_uint_eq(pos, 0);
    char hex[9];
    ht_hex("\x01\xab\xff\x10", 4, hex);
    ck_assert_str_eq(hex, "01abff10");
}
END_TEST

static void rearm_now(struct ht_timer *t, void *ud)
{
    (*(int *)ud)++;
    ht_timer_start(t, 0, 0);
}

/* Work done in slices re-arms a zero-delay timer: it runs once per
 * iteration, so the poll (I/O, signals) gets its turn in between; older
 * due timers still run first. */
START_TEST(zero_delay_rearm_runs_once_per_iteration)
{
    struct ht_loop *l;
    ck_assert_int_eq(ht_loop_new(&l), HT_OK);
    fake_now = 0;
    ht_loop_set_clock(l, fake_clock, NULL);
    memset(fired, 0, sizeof fired);
    int n = 0;
    struct ht_timer *slice = ht_timer_new(l, rearm_now, &n);
    struct ht_timer *other = ht_timer_new(l, on_timer, (void *)0);
    ht_timer_start(slice, 0, 0);
    ht_timer_start(other, 0, 0);
    ht_loop_run_once(l, 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(fired[0], 1);
    ht_loop_run_once(l, 0);
    ht_loop_run_once(l, 0);
    ck_assert_int_eq(n, 3);
    ht_timer_free(slice);
    ht_timer_free(other);
    ht_loop_free(l);
}
END_TEST

struct pipe_ctx {
    int reads;
    struct ht_io *other;
};

static void on_read(struct ht_io *io, int fd, unsigned ev, void *ud)
{
    struct pipe_ctx *c = ud;
    char b[16];
    ck_assert(ev & HT_LOOP_READ);
    ck_assert_int_gt(read(fd, b, sizeof b), 0);
    c->reads++;
    /* Free both watchers from inside a callback. */
    ht_io_free(c->other);
    ht_io_free(io);
}

START_TEST(io_watchers_dispatch_and_free_inside_callback)
{
    struct ht_loop *l;
    ht_loop_new(&l);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    struct pipe_ctx c = {0};
    struct ht_io *w = ht_io_new(l, p[0], HT_LOOP_READ, on_read, &c);
    c.other = ht_io_new(l, p[0], 0, on_read, &c);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_ge(ht_loop_run_once(l, 1000), 1);
    ck_assert_int_eq(c.reads, 1);
    (void)w;
    /* Nothing left to watch: a second iteration just times out. */
    ck_assert_int_eq(write(p[1], "y", 1), 1);
    ck_assert_int_eq(ht_loop_run_once(l, 0), 0);
    close(p[0]);
    close(p[1]);
    ht_loop_free(l);
}
END_TEST

static void on_wake(struct ht_loop *l, void *ud)
{
    (*(int *)ud)++;
    ht_loop_stop(l);
}

static void *waker(void *arg)
{
    usleep(20000);
    ht_loop_wakeup(arg);
    return NULL;
}

START_TEST(wakeup_from_another_thread_stops_run)
{
    struct ht_loop *l;
    ht_loop_new(&l);
    int n = 0;
    ht_loop_on_wakeup(l, on_wake, &n);
    pthread_t th;
    pthread_create(&th, NULL, waker, l);
    ck_assert_int_eq(ht_loop_run(l), HT_OK);
    pthread_join(th, NULL);
    ck_assert_int_eq(n, 1);
    ht_loop_free(l);
}
END_TEST

START_TEST(ids_follow_the_contract)
{
    ck_assert(ht_id_valid("demo-1"));
    ck_assert(ht_id_valid("a.b_c-9"));
    ck_assert(ht_id_valid("0"));
    ck_assert(!ht_id_valid(""));
    ck_assert(!ht_id_valid(NULL));
    ck_assert(!ht_id_valid(".."));
    ck_assert(!ht_id_valid(".hidden"));
    ck_assert(!ht_id_valid("a/b"));
    ck_assert(!ht_id_valid("a+b"));
    ck_assert(!ht_id_valid("a#"));
    ck_assert(!ht_id_valid("Upper"));
    ck_assert(!ht_id_valid("-x"));
    /* docs/api.md: ".." anywhere is refused (found by fuzz_router). */
    ck_assert(!ht_id_valid("a.."));
    ck_assert(!ht_id_valid("a..b"));
    ck_assert(ht_id_valid("a.b.c"));
    char long_id[70];
    memset(long_id, 'a', 64);
    long_id[64] = '\0';
    ck_assert(ht_id_valid(long_id));
    long_id[64] = 'a';
    long_id[65] = '\0';
    ck_assert(!ht_id_valid(long_id));
}
END_TEST

START_TEST(locate_finds_line_and_column_of_values)
{
    const char *text = "{\n  \"a\": 1,\n  \"caps\": [\n    {\"kind\": \"x\"},\n"
                       "    {\"kind\": \"bad\", \"n\": [1, 2]}\n  ]\n}\n";
    int line, col;
    ck_assert_int_eq(ht_conf_locate(text, "/a", &line, &col), HT_OK);
    ck_assert_int_eq(line, 2);
    ck_assert_int_eq(col, 8);
    ck_assert_int_eq(ht_conf_locate(text, "/caps/1/kind", &line, &col), HT_OK);
    ck_assert_int_eq(line, 5);
    ck_assert_int_eq(col, 14);
    ck_assert_int_eq(ht_conf_locate(text, "/caps/1/n/1", &line, &col), HT_OK);
    ck_assert_int_eq(line, 5);
    ck_assert_int_eq(col, 30);
    ck_assert_int_eq(ht_conf_locate(text, "/nope", &line, &col), HT_ENOENT);
}
END_TEST

struct cfg {
    int port;
    bool verbose;
    char *name;
    double ratio;
};

static const struct ht_conf_key tab[] = {
    {"mqtt.port", HT_CONF_INT, offsetof(struct cfg, port), "1883", 1, 65535,
     false, "port"},
    {"verbose", HT_CONF_BOOL, offsetof(struct cfg, verbose), "false", 0, 0,
     true, "verbose"},
    {"name", HT_CONF_STR, offsetof(struct cfg, name), "gw", 0, 0, false,
     "name"},
    {"ratio", HT_CONF_DOUBLE, offsetof(struct cfg, ratio), "0.5", 0, 1, true,
     "ratio"},
    {0},
};

static char *write_tmp(const char *content)
{
    char *p = ht_strdup("/tmp/ht-conf-XXXXXX");
    int fd = mkstemp(p);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, strlen(content)),
                     (ssize_t)strlen(content));
    close(fd);
    return p;
}

START_TEST(conf_loads_defaults_file_and_reports_positions)
{
    struct cfg c;
    char err[256];
    ht_conf_defaults(tab, &c);
    ck_assert_int_eq(c.port, 1883);
    ck_assert_str_eq(c.name, "gw");

    char *p = write_tmp("{\"mqtt\": {\"port\": 2000}, \"name\": \"x\"}");
    ck_assert_int_eq(ht_conf_load(tab, &c, p, NULL, NULL, err, sizeof err),
                     HT_OK);
    ck_assert_int_eq(c.port, 2000);
    ck_assert_str_eq(c.name, "x");
    unlink(p);
    free(p);

    p = write_tmp("{\n \"mqtt\": {\"port\": 70000}\n}");
    ck_assert_int_eq(ht_conf_load(tab, &c, p, NULL, NULL, err, sizeof err),
                     HT_ERANGE);
    ck_assert_msg(strstr(err, ":2:19: mqtt.port"), "%s", err);
    unlink(p);
    free(p);

    p = write_tmp("{\"verbose\": true,\n \"bogus\": 1}");
    ck_assert_int_eq(ht_conf_load(tab, &c, p, NULL, NULL, err, sizeof err),
                     HT_EINVAL);
    ck_assert_msg(strstr(err, ":2:11: unknown setting 'bogus'"), "%s", err);
    unlink(p);
    free(p);

    p = write_tmp("{\"verbose\": tru}");
    ck_assert_int_eq(ht_conf_load(tab, &c, p, NULL, NULL, err, sizeof err),
                     HT_EPARSE);
    ck_assert_msg(strstr(err, ":1:"), "%s", err);
    unlink(p);
    free(p);

    ck_assert_int_eq(ht_conf_set(tab, &c, "ratio", "2", err, sizeof err),
                     HT_ERANGE);
    ck_assert_int_eq(ht_conf_set(tab, &c, "verbose", "maybe", err, sizeof err),
                     HT_ETYPE);
    ck_assert_int_eq(ht_conf_set(tab, &c, "mqtt.port", "1.5", err, sizeof err),
                     HT_ETYPE);
    ck_assert_int_eq(ht_conf_set(tab, &c, "nope", "1", err, sizeof err),
                     HT_ENOENT);
    ht_conf_clear(tab, &c);
}
END_TEST

/* --help text: each key with its default; an empty string default reads
 * "empty" (a key may give the word "none" a meaning of its own), and a
 * help that states its default is not given a second one. */
START_TEST(conf_help_states_each_default_once)
{
    static const struct ht_conf_key h[] = {
        {"mqtt.port", HT_CONF_INT, 0, "1883", 1, 65535, false, "port"},
        {"plugin", HT_CONF_STR, 0, "", 0, 0, false,
         "the plugin (empty: search; \"none\": off)"},
        {"host", HT_CONF_STR, 0, NULL, 0, 0, false,
         "host name (default: the bind address)"},
        {0},
    };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ht_conf_print_help(h, f);
    fclose(f);
    ck_assert_str_eq(buf, "  mqtt.port                  port (default: 1883)\n"
                          "  plugin                     the plugin (empty: "
                          "search; \"none\": off) (default: empty)\n"
                          "  host                       host name (default: "
                          "the bind address)\n");
    free(buf);
}
END_TEST

START_TEST(files_roundtrip_and_size_limit)
{
    char dir[] = "/tmp/ht-file-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *path = ht_asprintf("%s/a/b/f.txt", dir);
    char *sub = ht_asprintf("%s/a/b", dir);
    ck_assert_int_eq(ht_mkdir_p(sub, 0755), HT_OK);
    ck_assert_int_eq(ht_file_write_atomic(path, "hello", 5, 0600), HT_OK);
    char *s;
    size_t n;
    ck_assert_int_eq(ht_file_read(path, 100, &s, &n), HT_OK);
    ck_assert_str_eq(s, "hello");
    ck_assert_uint_eq(n, 5);
    free(s);
    ck_assert_int_eq(ht_file_read(path, 4, &s, &n), HT_ETOOBIG);
    ck_assert_ptr_null(s);
    char host[64];
    int port;
    ck_assert_int_eq(
        ht_parse_hostport("127.0.0.1:1883", host, sizeof host, &port), HT_OK);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_int_eq(port, 1883);
    ck_assert_int_ne(ht_parse_hostport("x:0", host, sizeof host, &port), HT_OK);
    ck_assert_int_ne(ht_parse_hostport("nohost", host, sizeof host, &port),
                     HT_OK);
    char *cmd = ht_asprintf("rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    free(path);
    free(sub);
}
END_TEST

START_TEST(sha256_known_answers)
{
    char hex[65];
    ht_sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223"
                          "b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ht_sha256_hex(m, strlen(m), hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039"
                          "a33ce45964ff2167f6ecedd419db06c1");
    ht_sha256_hex("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                          "27ae41e4649b934ca495991b7852b855");
    /* Split updates across the block boundary give the same digest. */
    char big[200];
    memset(big, 'x', sizeof big);
    char one[65];
    ht_sha256_hex(big, sizeof big, one);
    struct ht_sha256 c;
    uint8_t d[HT_SHA256_LEN];
    ht_sha256_init(&c);
    ht_sha256_update(&c, big, 63);
    ht_sha256_update(&c, big + 63, 137);
    ht_sha256_final(&c, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    ck_assert_str_eq(hex, one);
}
END_TEST

/* ht_json_dumps writes what json_dumps writes (compact, with and without
 * sorted keys) for random trees: integers at the extremes, reals that
 * need ".0" or an exponent, strings with every escape and an embedded
 * NUL, nested arrays and objects. */
static uint64_t rnd_state = 88172645463325252ULL;
static unsigned rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (unsigned)rnd_state;
}

static json_t *rnd_json(int depth)
{
    switch (rnd() % (depth > 3 ? 5 : 7)) {
    case 0: {
        uint64_t u = (uint64_t)rnd() << 32 | rnd();
        if (rnd() % 4 == 0)
            u = rnd() % 2 ? (uint64_t)INT64_MIN : (uint64_t)INT64_MAX;
        return json_integer((json_int_t)u);
    }
    case 1: {
        static const double r[] = {0.0,           -0.0,     1.0,
                                   1e20,          1e-7,     1.0 / 3,
                                   123456789.125, -2.5e300, 5e-324};
        return json_real(r[rnd() % (sizeof r / sizeof *r)] * (rnd() % 9));
    }
    case 2: {
        char b[24];
        size_t n = rnd() % sizeof b;
        static const char pick[] = "\"\\/\x01\x1f\x7f\b\f\n\r\tab\xc3\xa9";
        for (size_t i = 0; i < n; i++)
            b[i] = pick[rnd() % (sizeof pick - 1)];
        if (n && rnd() % 5 == 0)
            b[rnd() % n] = '\0';
        json_t *j = json_stringn(b, n); /* NULL: torn UTF-8 */
        return j ? j : json_string("torn");
    }
    case 3:
        return json_boolean(rnd() % 2);
    case 4:
        return json_null();
    case 5: {
        json_t *a = json_array();
        for (unsigned i = rnd() % 5; i > 0; i--)
            json_array_append_new(a, rnd_json(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (unsigned i = rnd() % 40; i > 0; i--) {
            char k[16];
            snprintf(k, sizeof k, "%c%u", 'a' + rnd() % 26, rnd() % 50);
            json_object_set_new(o, k, rnd_json(depth + 1));
        }
        return o;
    }
    }
}

START_TEST(json_dumps_matches_jansson)
{
    for (int i = 0; i < 2000; i++) {
        json_t *v = rnd_json(0);
        ck_assert_ptr_nonnull(v);
        for (int sort = 0; sort < 2; sort++) {
            char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
                                           (sort ? JSON_SORT_KEYS : 0));
            size_t n;
            char *got = ht_json_dumps(v, sort, &n);
            ck_assert_str_eq(got, want);
            ck_assert_uint_eq(n, strlen(want));
            free(want);
            free(got);
        }
        json_decref(v);
    }
    ck_assert_ptr_null(ht_json_dumps(NULL, false, NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, timers_fire_in_order_of_due_time);
    tcase_add_test(tc, timer_may_free_itself_in_callback);
    tcase_add_test(tc, zero_delay_rearm_runs_once_per_iteration);
    tcase_add_test(tc, id_bsearch_finds_and_places);
    tcase_add_test(tc, io_watchers_dispatch_and_free_inside_callback);
    tcase_add_test(tc, wakeup_from_another_thread_stops_run);
    tcase_add_test(tc, ids_follow_the_contract);
    tcase_add_test(tc, locate_finds_line_and_column_of_values);
    tcase_add_test(tc, conf_loads_defaults_file_and_reports_positions);
    tcase_add_test(tc, conf_help_states_each_default_once);
    tcase_add_test(tc, files_roundtrip_and_size_limit);
    tcase_add_test(tc, sha256_known_answers);
    tcase_add_test(tc, json_dumps_matches_jansson);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
