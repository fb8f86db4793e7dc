/* test_gw_upstream.c - the upstream module's pure part: ids become NATS
 * subject tokens without ambiguity (a '.' would split a token, wildcards
 * would widen a subscription), and the config's defaults leave the
 * upstream off. */
#include "gateway/upstream/upstream.h"

#include "ht_err.h"

#include <check.h>
#include <string.h>

START_TEST(ids_become_single_tokens)
{
    char out[72];
    ck_assert_int_eq(gw__upstream_token("press-1", out, sizeof out), HT_OK);
    ck_assert_str_eq(out, "press-1");
    /* A dot would split the token: it becomes '=', which ids never hold,
     * so "a.b" and "a_b" stay distinct. */
    ck_assert_int_eq(gw__upstream_token("line.3", out, sizeof out), HT_OK);
    ck_assert_str_eq(out, "line=3");
    ck_assert_int_eq(gw__upstream_token("line_3", out, sizeof out), HT_OK);
    ck_assert_str_eq(out, "line_3");
    /* Wildcards and separators never reach a subject. */
    ck_assert_int_eq(gw__upstream_token("a*b>c d", out, sizeof out), HT_OK);
    ck_assert_str_eq(out, "a_b_c_d");
    ck_assert_int_eq(gw__upstream_token("alarm-raised", out, sizeof out),
                     HT_OK);
    ck_assert_str_eq(out, "alarm-raised");
}
END_TEST

START_TEST(empty_or_long_ids_are_refused)
{
    char out[8];
    ck_assert_int_eq(gw__upstream_token("", out, sizeof out), HT_EINVAL);
    ck_assert_int_eq(gw__upstream_token(NULL, out, sizeof out), HT_EINVAL);
    ck_assert_int_eq(gw__upstream_token("12345678", out, sizeof out),
                     HT_EINVAL);
    ck_assert_int_eq(gw__upstream_token("1234567", out, sizeof out), HT_OK);
}
END_TEST

START_TEST(upstream_is_off_by_default)
{
    struct ht_gw_conf c;
    ht_gw_conf_init(&c);
    ck_assert(!c.up_url || !*c.up_url);
    ck_assert_str_eq(c.up_site, "site");
    ck_assert_str_eq(c.up_stream, "HOLOTWIN");
    ck_assert_int_eq(c.up_replicas, 3);
    ck_assert(!c.up_values);
    ht_gw_conf_clear(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw_upstream");
    TCase *tc = tcase_create("upstream");
    tcase_add_test(tc, ids_become_single_tokens);
    tcase_add_test(tc, empty_or_long_ids_are_refused);
    tcase_add_test(tc, upstream_is_off_by_default);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
