/* test_gw_registry.c - how ingest orders a value against the latest of its
 * property (gw__dev_value_order): a board's snapshot repeats, a restarted
 * board starts its seq again with a newer ts, a redelivery is older. */
#include "gateway/registry/registry.h"

#include <check.h>
#include <jansson.h>
#include <stdlib.h>

static struct gw_dev *dev_with(int64_t ts, int64_t seq)
{
    struct gw_dev *d = calloc(1, sizeof *d);
    d->values = json_object();
    json_object_set_new(d->values, "sp",
                        json_pack("{s:i, s:I, s:I, s:s}", "v", 42, "ts",
                                  (json_int_t)ts, "seq", (json_int_t)seq,
                                  "quality", "stale"));
    return d;
}

static void dev_free(struct gw_dev *d)
{
    json_decref(d->values);
    free(d);
}

START_TEST(snapshots_repeat_older_values_drop)
{
    struct gw_dev *d = dev_with(1000, 7);
    ck_assert_int_eq(gw__dev_value_order(d, "other", 1, 1), GW_VALUE_NEW);
    ck_assert_int_eq(gw__dev_value_order(d, "sp", 1000, 7), GW_VALUE_REPEAT);
    ck_assert_int_eq(gw__dev_value_order(d, "sp", 1001, 8), GW_VALUE_NEW);
    ck_assert_int_eq(gw__dev_value_order(d, "sp", 999, 6), GW_VALUE_OLD);
    ck_assert_int_eq(gw__dev_value_order(d, "sp", 1000, 6), GW_VALUE_OLD);
    /* A restarted board: seq from 1 again, a newer ts. */
    ck_assert_int_eq(gw__dev_value_order(d, "sp", 5000, 1), GW_VALUE_NEW);
    /* A command's ack stamped the value later than the board did: the
     * board's snapshot of that value (same seq) still repeats it. */
    ck_assert_int_eq(gw__dev_value_order(d, "sp", 998, 7), GW_VALUE_REPEAT);
    dev_free(d);
    /* Publishers without seq: the ts alone decides. */
    d = dev_with(1000, 0);
    ck_assert_int_eq(gw__dev_value_order(d, "sp", 1000, 0), GW_VALUE_REPEAT);
    ck_assert_int_eq(gw__dev_value_order(d, "sp", 999, 0), GW_VALUE_OLD);
    ck_assert_int_eq(gw__dev_value_order(d, "sp", 1001, 0), GW_VALUE_NEW);
    dev_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw_registry");
    TCase *tc = tcase_create("registry");
    tcase_add_test(tc, snapshots_repeat_older_values_drop);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
