/* test_gw_payload.c - the ingest value parser (gateway/ingest/payload.c)
 * gives what jansson gives for the payloads boards send: its own scanner
 * for flat objects of scalars must agree with json_loadb on every value,
 * "ts" and "seq". */
#include "gateway/ingest/ingest_internal.h"

#include "ht_err.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* An integer of 1..19 digits (19 digits leave the fast path), either sign. */
static void rand_int(char *b, size_t n)
{
    int digits = 1 + (int)(next() % 19);
    size_t k = 0;
    if (next() % 2)
        b[k++] = '-';
    b[k++] = (char)('1' + next() % 9);
    for (int i = 1; i < digits && k + 1 < n; i++)
        b[k++] = (char)('0' + next() % 10);
    b[k] = '\0';
    if (next() % 17 == 0)
        snprintf(b, n, "%s", next() % 2 ? "0" : "-0");
}

static void check_same(const char *payload)
{
    struct ingest_value_msg m;
    int rc = ingest__value_parse(payload, strlen(payload), 42, &m);
    json_error_t je;
    json_t *doc = json_loads(payload, 0, &je);
    json_t *v = json_object_get(doc, "v");
    if (!v) {
        ck_assert_msg(rc != HT_OK, "accepted without a \"v\": %s", payload);
        json_decref(doc);
        return;
    }
    ck_assert_msg(rc == HT_OK, "refused %s", payload);
    ck_assert_msg(json_equal((json_t *)m.v, v), "value differs for %s: %s",
                  payload, m.text);
    json_t *ts = json_object_get(doc, "ts"), *seq = json_object_get(doc, "seq");
    if (json_is_integer(ts))
        ck_assert_int_eq(m.ts, json_integer_value(ts));
    if (json_is_integer(seq))
        ck_assert_int_eq(m.seq, json_integer_value(seq));
    char *dumped =
        json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    json_t *back = json_loads(m.text, JSON_DECODE_ANY, NULL);
    ck_assert_msg(json_equal(back, v), "text %s is not %s", m.text, dumped);
    json_decref(back);
    free(dumped);
    ingest__value_msg_clear(&m);
    json_decref(doc);
}

START_TEST(integers_as_jansson_reads_them)
{
    char v[32], ts[32], seq[32], p[160];
    for (int i = 0; i < 20000; i++) {
        rand_int(v, sizeof v);
        rand_int(ts, sizeof ts);
        rand_int(seq, sizeof seq);
        snprintf(p, sizeof p, "{\"v\":%s,\"ts\":%s,\"seq\":%s}", v,
                 ts[0] == '-' ? ts + 1 : ts, seq[0] == '-' ? seq + 1 : seq);
        check_same(p);
    }
}
END_TEST

START_TEST(other_scalars_as_jansson_reads_them)
{
    static const char *const cases[] = {
        "{\"v\":0}",
        "{\"v\":-0}",
        "{\"v\":123456789012345678}",
        "{\"v\":-123456789012345678}",
        "{\"v\":1234567890123456789}",
        "{\"v\":1.5,\"ts\":1700000000000,\"seq\":7}",
        "{\"v\":-2.5e-3}",
        "{\"v\":1E3}",
        "{\"v\":true,\"seq\":1}",
        "{\"v\":false}",
        "{\"v\":null}",
        "{\"v\":\"on\",\"ts\":5}",
        "{\"v\":\"\\u00e9t\\u00e9\"}",
        "{\"ts\":5,\"v\":12}",
        "{\"v\":[1,2]}",
        "{\"v\":{\"a\":1}}",
        "{\"x\":1}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_same(cases[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("payload");
    TCase *tc = tcase_create("payload");
    tcase_add_test(tc, integers_as_jansson_reads_them);
    tcase_add_test(tc, other_scalars_as_jansson_reads_them);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
