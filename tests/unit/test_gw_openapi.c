/* test_gw_openapi.c - gateway/openapi.yaml is kept true: every route in the
 * server's table is documented with its method, and every documented path
 * and method is served. Reads the copy compiled into gatewayd (the one
 * served at /api/v1/openapi.yaml) and checks it equals the file. */
#include "gateway/http/http.h"

#include "ht_util.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Methods listed under "  PATH:" (4-space keys) as "get,put,...". */
static bool doc_has(const char *doc, const char *path, const char *method)
{
    char key[256];
    snprintf(key, sizeof key, "\n  %s:\n", path);
    const char *p = strstr(doc, key);
    if (!p)
        return false;
    p += strlen(key);
    char lm[16];
    size_t n = strlen(method);
    for (size_t i = 0; i <= n && i < sizeof lm; i++)
        lm[i] = (char)tolower((unsigned char)method[i]);
    while (*p && !strncmp(p, "    ", 4)) {
        if (p[4] != ' ' && !strncmp(p + 4, lm, n) && p[4 + n] == ':')
            return true;
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    return false;
}

START_TEST(every_route_is_documented)
{
    size_t n = 0;
    for (const struct gw_route *r = gw__routes(); r->method; r++, n++)
        ck_assert_msg(doc_has(gw__openapi_yaml, r->path, r->method),
                      "%s %s is not in gateway/openapi.yaml", r->method,
                      r->path);
    ck_assert_uint_gt(n, 20);
}
END_TEST

static bool served(const char *path, const char *method)
{
    for (const struct gw_route *r = gw__routes(); r->method; r++)
        if (!strcmp(r->path, path) && !strcasecmp(r->method, method))
            return true;
    return false;
}

START_TEST(every_documented_route_is_served)
{
    const char *p = strstr(gw__openapi_yaml, "\npaths:\n");
    ck_assert_ptr_nonnull(p);
    p += 8;
    const char *end = strstr(p, "\ncomponents:");
    ck_assert_ptr_nonnull(end);
    char path[256] = "";
    size_t checked = 0;
    while (p && p < end) {
        if (!strncmp(p, "  /", 3)) {
            const char *c = strchr(p, ':');
            size_t len = (size_t)(c - p - 2);
            ck_assert_uint_lt(len, sizeof path);
            memcpy(path, p + 2, len);
            path[len] = '\0';
        } else if (!strncmp(p, "    ", 4) && p[4] != ' ') {
            static const char *const m[] = {"get", "put", "post", "delete",
                                            "patch"};
            for (int i = 0; i < 5; i++) {
                size_t ml = strlen(m[i]);
                if (!strncmp(p + 4, m[i], ml) && p[4 + ml] == ':') {
                    ck_assert_msg(served(path, m[i]),
                                  "%s %s documented but "
                                  "not served",
                                  m[i], path);
                    checked++;
                }
            }
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    ck_assert_uint_gt(checked, 20);
}
END_TEST

START_TEST(served_copy_equals_the_file)
{
    const char *src = getenv("HT_SRC_DIR") ? getenv("HT_SRC_DIR") : ".";
    char path[512];
    snprintf(path, sizeof path, "%s/gateway/openapi.yaml", src);
    char *text = NULL;
    ck_assert_msg(ht_file_read(path, 1 << 22, &text, NULL) == 0,
                  "cannot read %s (set HT_SRC_DIR)", path);
    ck_assert_msg(!strcmp(text, gw__openapi_yaml),
                  "gatewayd serves a stale copy of %s", path);
    ck_assert_ptr_nonnull(strstr(text, "openapi: 3.1"));
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw_openapi");
    TCase *tc = tcase_create("openapi");
    tcase_add_test(tc, every_route_is_documented);
    tcase_add_test(tc, every_documented_route_is_served);
    tcase_add_test(tc, served_copy_equals_the_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
