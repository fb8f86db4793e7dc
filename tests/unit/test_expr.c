/* test_expr.c - the rule expression language: values, precedence, unknown
 * inputs, type errors, parse errors with positions, durations. */
#include "twins/twin_internal.h"

#include "ht_err.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Reference values by name for the evaluator; anything else is unknown. */
static struct twin__val lookup(const char *ref)
{
    struct twin__val v = {.t = TWIN_V_UNKNOWN};
    if (!strcmp(ref, "a.x")) {
        v.t = TWIN_V_NUM;
        v.n = 60;
    } else if (!strcmp(ref, "b.y")) {
        v.t = TWIN_V_NUM;
        v.n = 63;
    } else if (!strcmp(ref, "c.on")) {
        v.t = TWIN_V_BOOL;
        v.b = true;
    } else if (!strcmp(ref, "c.off")) {
        v.t = TWIN_V_BOOL;
        v.b = false;
    }
    return v;
}

/* Evaluate src; returns 1 true, 0 false, -1 unknown, -2 number (in *num). */
static int eval(const char *src, double *num)
{
    struct ht_twin_expr *x;
    char err[128];
    ck_assert_msg(twin__expr_parse(src, &x, err, sizeof err, NULL) == HT_OK,
                  "%s: %s", src, err);
    struct twin__val vals[32];
    for (size_t i = 0; i < twin__expr_nrefs(x); i++)
        vals[i] = lookup(twin__expr_ref(x, i));
    struct twin__val r = twin__expr_eval(x, vals);
    twin__expr_free(x);
    if (r.t == TWIN_V_NUM) {
        if (num)
            *num = r.n;
        return -2;
    }
    return r.t == TWIN_V_BOOL ? r.b : -1;
}

START_TEST(values_and_precedence)
{
    double n;
    ck_assert_int_eq(eval("1 + 2 * 3 == 7", NULL), 1);
    ck_assert_int_eq(eval("(1 + 2) * 3 == 9", NULL), 1);
    ck_assert_int_eq(eval("10 - 4 - 3 == 3", NULL), 1); /* left assoc */
    ck_assert_int_eq(eval("12 / 3 / 2 == 2", NULL), 1);
    ck_assert_int_eq(eval("-2 * -3 == 6", NULL), 1);
    ck_assert_int_eq(eval("10 / 4", &n), -2);
    ck_assert(fabs(n - 2.5) < 1e-12);
    ck_assert_int_eq(eval("1.5e2 == 150", NULL), 1);
    ck_assert_int_eq(eval(".5 < 1", NULL), 1);
    ck_assert_int_eq(eval("true and false or true", NULL), 1);
    ck_assert_int_eq(eval("true or true and false", NULL), 1);
    ck_assert_int_eq(eval("not true or true", NULL), 1);
    ck_assert_int_eq(eval("not (true or true)", NULL), 0);
    ck_assert_int_eq(eval("not 1 > 2", NULL), 1);
    ck_assert_int_eq(eval("1 != 2 and 2 >= 2 and 2 <= 2 and 1 < 2", NULL), 1);
    ck_assert_int_eq(eval("true == true and false != true", NULL), 1);
    ck_assert_int_eq(eval("abs(-3) == 3", NULL), 1);
    ck_assert_int_eq(eval("max(1, 5, 3) == 5 and min(4, 2, 9) == 2", NULL), 1);
    ck_assert_int_eq(eval("abs(a.x - b.y) <= 5", NULL), 1);
    ck_assert_int_eq(eval("abs(a.x - b.y) > 2", NULL), 1);
    ck_assert_int_eq(eval("c.on and not c.off", NULL), 1);
    ck_assert_int_eq(eval("a.x + a.x == 120", NULL), 1);
}
END_TEST

START_TEST(unknown_inputs_make_unknown)
{
    ck_assert_int_eq(eval("z.q > 1", NULL), -1);
    /* Strict: even where Kleene logic could decide, unknown stays
     * unknown, so a rule never fires or clears on a guess. */
    ck_assert_int_eq(eval("z.q > 1 or true", NULL), -1);
    ck_assert_int_eq(eval("z.q > 1 and false", NULL), -1);
    ck_assert_int_eq(eval("a.x / 0 > 1", NULL), -1);
    ck_assert_int_eq(eval("c.on + 1 > 0", NULL), -1); /* run-time type */
    ck_assert_int_eq(eval("c.on == 1", NULL), -1);
}
END_TEST

static void perr(const char *src, size_t want_pos, const char *want_msg)
{
    char err[200];
    size_t pos = 999;
    ck_assert_msg(ht_twin_expr_check(src, err, sizeof err, &pos) == HT_EPARSE,
                  "%s: accepted", src);
    ck_assert_msg(pos == want_pos, "%s: pos %zu, want %zu (%s)", src, pos,
                  want_pos, err);
    char at[32];
    snprintf(at, sizeof at, "at %zu: ", want_pos);
    ck_assert_msg(!strncmp(err, at, strlen(at)), "%s: '%s'", src, err);
    ck_assert_msg(strstr(err, want_msg), "%s: '%s' lacks '%s'", src, err,
                  want_msg);
}

START_TEST(errors_report_positions)
{
    perr("", 0, "empty");
    perr("1 +", 3, "unexpected end");
    perr("(1 > 2", 6, "expected ')'");
    perr("a.x > 5 )", 8, "unbalanced ')'");
    perr("a.x = 5", 4, "'=='");
    perr("a.x > 1 && b.y", 8, "'and'");
    perr("a.x > 1 || b.y", 8, "'or'");
    perr("!a.x", 0, "'not'");
    perr("1 < 2 < 3", 6, "do not chain");
    perr("foo > 1", 0, "component.property");
    perr("a. x > 1", 3, "property name");
    perr("a.x > 5 for 5", 13, "unit");
    perr("a.x > 5 for 5h", 13, "unit");
    perr("a.x > 5 for", 11, "duration");
    perr("a.x > 5 for 0s", 12, "between");
    perr("5s > 1", 1, "only allowed after 'for'");
    perr("abs(1, 2) > 0", 0, "exactly one");
    perr("max(1) > 0", 0, "at least two");
    perr("min 1", 4, "'('");
    perr("a.x > 1 b.y", 8, "after the expression");
    perr("a.x > #", 6, "unexpected character '#'");
    perr("a.x > and", 6, "keyword 'and'");
    perr("1 + 2", 0, "condition");
    perr("true + 1 > 0", 5, "arithmetic needs numbers");
    perr("not 5", 0, "'not' needs a condition");
    perr("1 and true", 2, "'and'/'or' need conditions");
    perr("true == 1", 5, "one type");
}
END_TEST

START_TEST(hostile_input_is_bounded)
{
    /* Deep nesting: refused, no stack overflow. */
    char deep[600];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < 200; i++)
        deep[n++] = ')';
    deep[n] = 0;
    char err[200];
    size_t pos;
    ck_assert_int_eq(ht_twin_expr_check(deep, err, sizeof err, &pos),
                     HT_EPARSE);
    ck_assert(strstr(err, "nested too deeply"));
    /* Long chains of not/minus. */
    char nots[2000] = "";
    for (int i = 0; i < 300; i++)
        strcat(nots, "not ");
    strcat(nots, "true");
    ck_assert_int_eq(ht_twin_expr_check(nots, err, sizeof err, &pos),
                     HT_EPARSE);
    /* Oversize input. */
    char *big = malloc(HT_TWIN_MAX_EXPR + 10);
    memset(big, '1', HT_TWIN_MAX_EXPR + 9);
    big[HT_TWIN_MAX_EXPR + 9] = 0;
    ck_assert_int_eq(ht_twin_expr_check(big, err, sizeof err, &pos), HT_EPARSE);
    ck_assert(strstr(err, "longer than"));
    free(big);
    /* Control bytes and NULL. */
    ck_assert_int_eq(ht_twin_expr_check("a.x > \x01", err, sizeof err, &pos),
                     HT_EPARSE);
    ck_assert(strstr(err, "0x01"));
    ck_assert_int_eq(ht_twin_expr_check(NULL, err, sizeof err, &pos),
                     HT_EPARSE);
    /* Too many nodes. */
    char *wide = malloc(8000);
    strcpy(wide, "1");
    for (int i = 0; i < 600; i++)
        strcat(wide, "+1");
    strcat(wide, " > 0");
    ck_assert_int_eq(ht_twin_expr_check(wide, err, sizeof err, &pos),
                     HT_EPARSE);
    free(wide);
}
END_TEST

static int64_t dur(const char *src)
{
    struct ht_twin_expr *x;
    char err[128];
    ck_assert_msg(twin__expr_parse(src, &x, err, sizeof err, NULL) == HT_OK,
                  "%s: %s", src, err);
    int64_t ms = twin__expr_for_ms(x);
    twin__expr_free(x);
    return ms;
}

START_TEST(durations)
{
    ck_assert_int_eq(dur("a.x > 70"), 0);
    ck_assert_int_eq(dur("a.x > 70 for 5s"), 5000);
    ck_assert_int_eq(dur("a.x > 70 for 5 s"), 5000);
    ck_assert_int_eq(dur("a.x > 70 for 500ms"), 500);
    ck_assert_int_eq(dur("a.x > 70 for 2m"), 120000);
    ck_assert_int_eq(dur("a.x > 70 for 1.5s"), 1500);
    ck_assert_int_eq(dur("(a.x > 70 or b.y < 3) for 10s"), 10000);
}
END_TEST

START_TEST(references_are_interned)
{
    struct ht_twin_expr *x;
    ck_assert_int_eq(twin__expr_parse("a.x > 1 and a.x < 5 or b_2.y_z > 0", &x,
                                      NULL, 0, NULL),
                     HT_OK);
    ck_assert_uint_eq(twin__expr_nrefs(x), 2);
    ck_assert_str_eq(twin__expr_ref(x, 0), "a.x");
    ck_assert_str_eq(twin__expr_ref(x, 1), "b_2.y_z");
    ck_assert_uint_eq(twin__expr_ref_pos(x, 1), 23);
    twin__expr_free(x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("expr");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, values_and_precedence);
    tcase_add_test(tc, unknown_inputs_make_unknown);
    tcase_add_test(tc, errors_report_positions);
    tcase_add_test(tc, hostile_input_is_bounded);
    tcase_add_test(tc, durations);
    tcase_add_test(tc, references_are_interned);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
