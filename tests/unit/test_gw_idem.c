/* test_gw_idem.c - the Idempotency-Key cache of the HTTP server on its own:
 * a replay gives the first answer byte for byte, keys belong to a token,
 * the same key with another request or while the first is in flight is
 * refused, and memory stays bounded (slots, body size, age). */
#include "gateway/http/http.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static int begin(struct gw_idem *c, const char *actor, const char *key,
                 const char *body, uint64_t now, struct gw_idem_ticket *t,
                 struct gw_idem_answer *a)
{
    return gw__idem_begin(c, actor, key, "PUT",
                          "/api/v1/devices/d/properties/p", body, strlen(body),
                          now, t, a);
}

START_TEST(replay_gives_the_first_answer)
{
    struct gw_idem *c = gw__idem_new();
    struct gw_idem_ticket t;
    struct gw_idem_answer a;
    ck_assert_int_eq(begin(c, "op:1", "k", "33", 0, &t, &a), GW_IDEM_NEW);
    /* In flight: a retry waits for the first answer. */
    struct gw_idem_ticket t2;
    ck_assert_int_eq(begin(c, "op:1", "k", "33", 1, &t2, &a), GW_IDEM_BUSY);
    gw__idem_finish(c, &t, 200, "application/json", "{\"v\":33}\n", 9);
    ck_assert_str_eq(t.key, "");
    ck_assert_int_eq(begin(c, "op:1", "k", "33", 2, &t2, &a), GW_IDEM_REPLAY);
    ck_assert_uint_eq(a.status, 200);
    ck_assert_str_eq(a.ctype, "application/json");
    ck_assert_uint_eq(a.len, 9);
    ck_assert_str_eq(a.body, "{\"v\":33}\n");
    free(a.body);
    /* Another body under the same key is refused, another token's key is
     * its own. */
    ck_assert_int_eq(begin(c, "op:1", "k", "34", 3, &t2, &a), GW_IDEM_MISMATCH);
    ck_assert_int_eq(begin(c, "op:2", "k", "33", 4, &t2, &a), GW_IDEM_NEW);
    gw__idem_abort(c, &t2);
    ck_assert_int_eq(begin(c, "op:2", "k", "33", 5, &t2, &a), GW_IDEM_NEW);
    gw__idem_free(c);
}
END_TEST

START_TEST(memory_is_bounded)
{
    struct gw_idem *c = gw__idem_new();
    struct gw_idem_ticket t;
    struct gw_idem_answer a;
    /* A body too large to keep: the retry runs again. */
    ck_assert_int_eq(begin(c, "op:1", "big", "1", 0, &t, &a), GW_IDEM_NEW);
    char *big = calloc(1, GW_IDEM_BODY_MAX + 1);
    gw__idem_finish(c, &t, 200, "application/json", big, GW_IDEM_BODY_MAX + 1);
    free(big);
    ck_assert_int_eq(begin(c, "op:1", "big", "1", 1, &t, &a), GW_IDEM_NEW);
    gw__idem_abort(c, &t);
    /* More keys than slots: the oldest answers go first. */
    char key[32];
    for (int i = 0; i < GW_IDEM_SLOTS + 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ck_assert_int_eq(begin(c, "op:1", key, "1", 10, &t, &a), GW_IDEM_NEW);
        gw__idem_finish(c, &t, 204, NULL, "", 0);
    }
    ck_assert_int_eq(begin(c, "op:1", "k0", "1", 11, &t, &a), GW_IDEM_NEW);
    gw__idem_abort(c, &t);
    snprintf(key, sizeof key, "k%d", GW_IDEM_SLOTS + 9);
    ck_assert_int_eq(begin(c, "op:1", key, "1", 12, &t, &a), GW_IDEM_REPLAY);
    free(a.body);
    /* And they expire. */
    ck_assert_int_eq(begin(c, "op:1", key, "1", 13 + GW_IDEM_TTL_MS, &t, &a),
                     GW_IDEM_NEW);
    gw__idem_abort(c, &t);
    gw__idem_free(c);
}
END_TEST

START_TEST(keys_are_checked)
{
    ck_assert(gw__idem_key_valid("8e03978e-40d5-43e8-bc93-6894a57f9324"));
    ck_assert(!gw__idem_key_valid(""));
    ck_assert(!gw__idem_key_valid("a\tb"));
    char k[300];
    memset(k, 'a', sizeof k - 1);
    k[sizeof k - 1] = '\0';
    ck_assert(!gw__idem_key_valid(k));
    k[255] = '\0';
    ck_assert(gw__idem_key_valid(k));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw_idem");
    TCase *tc = tcase_create("idem");
    tcase_add_test(tc, replay_gives_the_first_answer);
    tcase_add_test(tc, memory_is_bounded);
    tcase_add_test(tc, keys_are_checked);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
