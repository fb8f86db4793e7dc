/* test_acl.c - the subscribe-time ACL judgement of the broker plugin
 * (broker-plugin/acl.c): filter coverage and the rules gatewayd writes. */
#include "broker-plugin/acl.h"

#include <check.h>
#include <stdlib.h>

START_TEST(filter_coverage_follows_mqtt_wildcards)
{
    ck_assert(ht_acl_filter_covers("a/#", "a/b/c"));
    ck_assert(ht_acl_filter_covers("a/#", "a"));
    ck_assert(ht_acl_filter_covers("a/#", "a/#"));
    ck_assert(ht_acl_filter_covers("a/#", "a/+/c"));
    ck_assert(ht_acl_filter_covers("a/+/c", "a/b/c"));
    ck_assert(ht_acl_filter_covers("a/+/c", "a/+/c"));
    ck_assert(ht_acl_filter_covers("#", "x/y"));
    ck_assert(ht_acl_filter_covers("a/b", "a/b"));
    ck_assert(!ht_acl_filter_covers("a/+/c", "a/#"));
    ck_assert(!ht_acl_filter_covers("a/+", "a/b/c"));
    ck_assert(!ht_acl_filter_covers("a/b", "a/+"));
    ck_assert(!ht_acl_filter_covers("a/b", "a/b/c"));
    ck_assert(!ht_acl_filter_covers("a/b/c", "a/b"));
    ck_assert(!ht_acl_filter_covers("a/b", "a/bc"));
    ck_assert(!ht_acl_filter_covers("a/#", "b"));
    ck_assert(!ht_acl_filter_covers("a/b/#", "a/#"));
}
END_TEST

static const char acl_text[] = "# Generated\n"
                               "user _gateway\n"
                               "topic readwrite p/v1/#\n"
                               "\n"
                               "user viewer-1\n"
                               "topic read p/v1/twins/#\n"
                               "topic write p/v1/secret/#\n"
                               "pattern write p/v1/devices/%u/td\n"
                               "pattern read p/v1/devices/%u/cmd/+\n"
                               "pattern read p/v1/devices/%u/sync\n"
                               "pattern read p/v1/sync\n";

START_TEST(boards_subscribe_only_to_their_own_topics)
{
    struct ht_acl *a = ht_acl_parse(acl_text);
    ck_assert(ht_acl_may_subscribe(a, "b1", "b1", "p/v1/devices/b1/cmd/+"));
    ck_assert(ht_acl_may_subscribe(a, "b1", "b1", "p/v1/devices/b1/cmd/on"));
    ck_assert(ht_acl_may_subscribe(a, "b1", "b1", "p/v1/devices/b1/sync"));
    ck_assert(ht_acl_may_subscribe(a, "b1", "b1", "p/v1/sync"));
    ck_assert(!ht_acl_may_subscribe(a, "b1", "b1", "p/v1/devices/b2/cmd/+"));
    ck_assert(!ht_acl_may_subscribe(a, "b1", "b1", "p/v1/devices/+/cmd/+"));
    ck_assert(!ht_acl_may_subscribe(a, "b1", "b1", "p/v1/#"));
    ck_assert(!ht_acl_may_subscribe(a, "b1", "b1", "#"));
    ck_assert(!ht_acl_may_subscribe(a, "b1", "b1", "p/v1/devices/b1/td"));
    ck_assert(!ht_acl_may_subscribe(a, "b1", "b1", "$SYS/#"));
    /* Hostile user names never substitute (mosquitto's rule too). */
    ck_assert(!ht_acl_may_subscribe(a, "+", "+", "p/v1/devices/+/cmd/+"));
    ck_assert(!ht_acl_may_subscribe(a, "#", "x", "p/v1/devices/#/cmd/+"));
    /* Shared subscriptions are judged by their filter. */
    ck_assert(
        ht_acl_may_subscribe(a, "b1", "b1", "$share/g/p/v1/devices/b1/cmd/+"));
    ck_assert(!ht_acl_may_subscribe(a, "b1", "b1", "$share/g/p/v1/#"));
    /* Anonymous: no rules before the first user line, and no user name
     * to put into a pattern. */
    ck_assert(!ht_acl_may_subscribe(a, NULL, "x", "p/v1/devices/x/sync"));
    ck_assert(!ht_acl_may_subscribe(a, NULL, "x", "p/v1/twins/#"));
    ht_acl_free(a);
}
END_TEST

START_TEST(user_sections_apply_to_their_user_only)
{
    struct ht_acl *a = ht_acl_parse(acl_text);
    ck_assert(ht_acl_may_subscribe(a, "_gateway", "_gateway", "p/v1/#"));
    ck_assert(
        ht_acl_may_subscribe(a, "viewer-1", "viewer-1", "p/v1/twins/+/state"));
    ck_assert(!ht_acl_may_subscribe(a, "viewer-1", "viewer-1", "p/v1/#"));
    /* write-only rules never allow a subscription */
    ck_assert(
        !ht_acl_may_subscribe(a, "viewer-1", "viewer-1", "p/v1/secret/x"));
    ck_assert(!ht_acl_may_subscribe(a, "b1", "b1", "p/v1/twins/#"));
    ht_acl_free(a);
    /* An empty policy refuses everything. */
    a = ht_acl_parse("");
    ck_assert(!ht_acl_may_subscribe(a, "b1", "b1", "a"));
    ht_acl_free(a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("acl");
    TCase *tc = tcase_create("acl");
    tcase_add_test(tc, filter_coverage_follows_mqtt_wildcards);
    tcase_add_test(tc, boards_subscribe_only_to_their_own_topics);
    tcase_add_test(tc, user_sections_apply_to_their_user_only);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
