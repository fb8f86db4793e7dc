/* test_topic.c - unit tests for common/ht_topic: every kind round-trips
 * through build and parse, filters, truncation, hostile ids and names,
 * wrong prefixes. */
#include "ht_err.h"
#include "ht_topic.h"

#include <check.h>
#include <string.h>

/* One row per kind: what to build and the exact text of the contract. */
static const struct {
    enum ht_topic_kind kind;
    const char *id, *name, *want;
} rows[] = {
    {HT_TOPIC_DEV_TD, "press-1", NULL, "holotwin/v1/devices/press-1/td"},
    {HT_TOPIC_DEV_STATUS, "b.2", NULL, "holotwin/v1/devices/b.2/status"},
    {HT_TOPIC_DEV_PROP, "b_3", "temp", "holotwin/v1/devices/b_3/props/temp"},
    {HT_TOPIC_DEV_CMD, "b1", "lamp", "holotwin/v1/devices/b1/cmd/lamp"},
    {HT_TOPIC_DEV_ACK, "b1", NULL, "holotwin/v1/devices/b1/ack"},
    {HT_TOPIC_DEV_SYNC, "b1", NULL, "holotwin/v1/devices/b1/sync"},
    {HT_TOPIC_SYNC, NULL, NULL, "holotwin/v1/sync"},
    {HT_TOPIC_GW_ACK, "gateway", NULL, "holotwin/v1/gateway/gateway/ack"},
    {HT_TOPIC_TWIN_STATE, "line", NULL, "holotwin/v1/twins/line/state"},
    {HT_TOPIC_TWIN_UI, "line", "hmd", "holotwin/v1/twins/line/ui/hmd"},
    {HT_TOPIC_TWIN_ALARMS, "line", NULL, "holotwin/v1/twins/line/alarms"},
    {HT_TOPIC_TWIN_CONTROL, "line", NULL, "holotwin/v1/twins/line/control"},
    {HT_TOPIC_APP_REQ, "hmd-1", NULL, "holotwin/v1/apps/hmd-1/request"},
    {HT_TOPIC_APP_REPLY, "hmd-1", NULL, "holotwin/v1/apps/hmd-1/reply"},
};
#define NROWS (sizeof rows / sizeof rows[0])

START_TEST(every_kind_builds_the_contract_and_parses_back)
{
    for (size_t i = 0; i < NROWS; i++) {
        char buf[HT_TOPIC_MAX];
        int n = ht_topic_build(buf, sizeof buf, NULL, rows[i].kind, rows[i].id,
                               rows[i].name);
        ck_assert_str_eq(buf, rows[i].want);
        ck_assert_int_eq(n, (int)strlen(rows[i].want));
        struct ht_topic t;
        ck_assert_int_eq(ht_topic_parse(buf, NULL, &t), HT_OK);
        ck_assert_int_eq(t.kind, rows[i].kind);
        ck_assert_str_eq(t.id, rows[i].id ? rows[i].id : "");
        ck_assert_str_eq(t.name, rows[i].name ? rows[i].name : "");
        ck_assert(ht_topic_has_id(t.kind) == (rows[i].id != NULL));
        ck_assert(ht_topic_has_name(t.kind) == (rows[i].name != NULL));
    }
}
END_TEST

START_TEST(a_configured_prefix_is_used_and_required)
{
    char buf[HT_TOPIC_MAX];
    ck_assert_int_gt(ht_topic_build(buf, sizeof buf, "plant/a/v2",
                                    HT_TOPIC_DEV_PROP, "m1", "rpm"),
                     0);
    ck_assert_str_eq(buf, "plant/a/v2/devices/m1/props/rpm");
    struct ht_topic t;
    ck_assert_int_eq(ht_topic_parse(buf, "plant/a/v2", &t), HT_OK);
    ck_assert_int_eq(t.kind, HT_TOPIC_DEV_PROP);
    /* Another prefix, or one that only starts the same, is not ours. */
    ck_assert_int_eq(ht_topic_parse(buf, NULL, &t), HT_EINVAL);
    ck_assert_int_eq(t.kind, HT_TOPIC_NONE);
    ck_assert_int_eq(
        ht_topic_parse("plant/a/v22/devices/m1/td", "plant/a/v2", &t),
        HT_EINVAL);
    ck_assert_int_eq(ht_topic_parse("plant/a", "plant/a/v2", &t), HT_EINVAL);
    /* Prefixes that would make wildcards or empty levels. */
    static const char *const bad[] = {"", "a/+", "a/#", "a/", "#"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert(!ht_topic_prefix_valid(bad[i]));
        ck_assert_int_eq(
            ht_topic_build(buf, sizeof buf, bad[i], HT_TOPIC_DEV_TD, "a", NULL),
            HT_EINVAL);
        ck_assert_str_eq(buf, "");
    }
    char longp[HT_TOPIC_PREFIX_MAX + 2];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    ck_assert(!ht_topic_prefix_valid(longp));
    longp[HT_TOPIC_PREFIX_MAX] = '\0';
    ck_assert(ht_topic_prefix_valid(longp));
}
END_TEST

START_TEST(filters_put_plus_where_a_level_is_open)
{
    char buf[HT_TOPIC_MAX];
    static const struct {
        enum ht_topic_kind kind;
        const char *id, *want;
    } f[] = {
        {HT_TOPIC_DEV_TD, NULL, "holotwin/v1/devices/+/td"},
        {HT_TOPIC_DEV_STATUS, NULL, "holotwin/v1/devices/+/status"},
        {HT_TOPIC_DEV_PROP, NULL, "holotwin/v1/devices/+/props/+"},
        {HT_TOPIC_DEV_ACK, NULL, "holotwin/v1/devices/+/ack"},
        {HT_TOPIC_DEV_CMD, "b1", "holotwin/v1/devices/b1/cmd/+"},
        {HT_TOPIC_DEV_SYNC, "b1", "holotwin/v1/devices/b1/sync"},
        {HT_TOPIC_SYNC, NULL, "holotwin/v1/sync"},
        {HT_TOPIC_TWIN_UI, NULL, "holotwin/v1/twins/+/ui/+"},
        {HT_TOPIC_APP_REQ, NULL, "holotwin/v1/apps/+/request"},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        int n = ht_topic_filter(buf, sizeof buf, NULL, f[i].kind, f[i].id);
        ck_assert_str_eq(buf, f[i].want);
        ck_assert_int_eq(n, (int)strlen(f[i].want));
    }
    /* A filter is not a topic: the parser refuses it. */
    struct ht_topic t;
    ck_assert_int_eq(ht_topic_parse("holotwin/v1/devices/+/td", NULL, &t),
                     HT_EINVAL);
    /* An id for a kind without one, hostile ids, unknown kinds. */
    ck_assert_int_eq(
        ht_topic_filter(buf, sizeof buf, NULL, HT_TOPIC_SYNC, "b1"), HT_EINVAL);
    ck_assert_int_eq(
        ht_topic_filter(buf, sizeof buf, NULL, HT_TOPIC_DEV_TD, "#"),
        HT_EINVAL);
    ck_assert_int_eq(
        ht_topic_filter(buf, sizeof buf, NULL, HT_TOPIC_NONE, NULL), HT_EINVAL);
}
END_TEST

START_TEST(truncation_is_an_error_with_an_empty_buffer)
{
    const char *want = "holotwin/v1/devices/b1/props/temp";
    size_t len = strlen(want);
    char buf[64];
    /* Exactly enough room (the NUL included) works; one byte less fails. */
    ck_assert_int_eq(
        ht_topic_build(buf, len + 1, NULL, HT_TOPIC_DEV_PROP, "b1", "temp"),
        (int)len);
    ck_assert_str_eq(buf, want);
    ck_assert_int_eq(
        ht_topic_build(buf, len, NULL, HT_TOPIC_DEV_PROP, "b1", "temp"),
        HT_ETOOBIG);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(ht_topic_filter(buf, 10, NULL, HT_TOPIC_DEV_TD, NULL),
                     HT_ETOOBIG);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(ht_topic_build(NULL, 0, NULL, HT_TOPIC_SYNC, NULL, NULL),
                     HT_ETOOBIG);
    /* The longest valid inputs fit HT_TOPIC_MAX, as the header promises. */
    char prefix[HT_TOPIC_PREFIX_MAX + 1], id[HT_ID_MAX + 1],
        name[HT_NAME_MAX + 1], big[HT_TOPIC_MAX];
    memset(prefix, 'p', HT_TOPIC_PREFIX_MAX);
    prefix[HT_TOPIC_PREFIX_MAX] = '\0';
    memset(id, 'i', HT_ID_MAX);
    id[HT_ID_MAX] = '\0';
    memset(name, 'n', HT_NAME_MAX);
    name[HT_NAME_MAX] = '\0';
    for (int k = HT_TOPIC_DEV_TD; k <= HT_TOPIC_TWIN_CONTROL; k++) {
        int n = ht_topic_build(big, sizeof big, prefix, k,
                               ht_topic_has_id(k) ? id : NULL,
                               ht_topic_has_name(k) ? name : NULL);
        ck_assert_int_gt(n, 0);
        struct ht_topic t;
        ck_assert_int_eq(ht_topic_parse(big, prefix, &t), HT_OK);
        ck_assert_int_eq(t.kind, k);
    }
}
END_TEST

START_TEST(hostile_ids_and_names_are_refused_both_ways)
{
    static const char *const ids[] = {
        "", "+", "#", "a/b", "..", ".a", "A1", "a b", "a+", "a#", "a\n", "-a",
        /* 65 characters: one too many */
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    char buf[HT_TOPIC_MAX];
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        ck_assert_int_eq(ht_topic_build(buf, sizeof buf, NULL, HT_TOPIC_DEV_TD,
                                        ids[i], NULL),
                         HT_EINVAL);
        ck_assert_str_eq(buf, "");
        ck_assert_int_eq(ht_topic_build(buf, sizeof buf, NULL,
                                        HT_TOPIC_DEV_PROP, "b1", ids[i]),
                         HT_EINVAL);
    }
    /* Missing or surplus levels for the kind. */
    ck_assert_int_eq(
        ht_topic_build(buf, sizeof buf, NULL, HT_TOPIC_DEV_TD, NULL, NULL),
        HT_EINVAL);
    ck_assert_int_eq(
        ht_topic_build(buf, sizeof buf, NULL, HT_TOPIC_DEV_TD, "b1", "x"),
        HT_EINVAL);
    ck_assert_int_eq(
        ht_topic_build(buf, sizeof buf, NULL, HT_TOPIC_DEV_CMD, "b1", NULL),
        HT_EINVAL);
    ck_assert_int_eq(
        ht_topic_build(buf, sizeof buf, NULL, HT_TOPIC_SYNC, "b1", NULL),
        HT_EINVAL);
    ck_assert_int_eq(ht_topic_build(buf, sizeof buf, NULL,
                                    (enum ht_topic_kind)99, "b1", NULL),
                     HT_EINVAL);
    /* Received topics with hostile or malformed levels. */
    static const char *const topics[] = {
        "holotwin/v1/devices/+/td",
        "holotwin/v1/devices/#",
        "holotwin/v1/devices/../td",
        "holotwin/v1/devices/b1/props/..",
        "holotwin/v1/devices/b1/props/+",
        "holotwin/v1/devices/b1/props/a/b",
        "holotwin/v1/devices/b1/props/",
        "holotwin/v1/devices/b1/props",
        "holotwin/v1/devices/b1/td/",
        "holotwin/v1/devices/b1/td/x",
        "holotwin/v1/devices//td",
        "holotwin/v1/devices/B1/td",
        "holotwin/v1/devices/b1/bogus",
        "holotwin/v1/twins/t/cmd/x",
        "holotwin/v1/devices/b1",
        "holotwin/v1/sync/",
        "holotwin/v1/",
        "holotwin/v1",
        "holotwin/v1//devices/b1/td",
        "/holotwin/v1/devices/b1/td",
        "other/v1/devices/b1/td",
        "holotwin/v1/devices/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaa/td",
        "holotwin/v1/devices/b1/props/nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
    };
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        struct ht_topic t;
        memset(&t, 0x55, sizeof t);
        ck_assert_msg(ht_topic_parse(topics[i], NULL, &t) == HT_EINVAL,
                      "accepted %s", topics[i]);
        ck_assert_int_eq(t.kind, HT_TOPIC_NONE);
        ck_assert_str_eq(t.id, "");
        ck_assert_str_eq(t.name, "");
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topic");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_kind_builds_the_contract_and_parses_back);
    tcase_add_test(tc, a_configured_prefix_is_used_and_required);
    tcase_add_test(tc, filters_put_plus_where_a_level_is_open);
    tcase_add_test(tc, truncation_is_an_error_with_an_empty_buffer);
    tcase_add_test(tc, hostile_ids_and_names_are_refused_both_ways);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
