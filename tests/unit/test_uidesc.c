/* test_uidesc.c - the UI descriptor generator: golden files for the
 * virtual-factory press line (web and hmd), determinism and ETags, role
 * handling, and schema validity with an independent validator (ajv).
 *
 * UPDATE_GOLDEN=1 rewrites tests/golden/press-line.{web,hmd}.json. */
#include "test_twin_fixtures.h"
#include "twins/twin.h"
#include "ui-descriptors/uidesc.h"

#include <stdio.h>
#include <unistd.h>

static struct ht_twin_model *model;
static struct ht_sem_thing *devs[3];

static void setup(void)
{
    json_t *doc = load_json("twins/virtual-factory/press-line.json");
    char err[256];
    ck_assert_msg(ht_twin_model_parse(doc, &model, err, sizeof err, NULL, 0)
                      == HT_OK, "%s", err);
    json_decref(doc);
    devs[0] = fx_gears();
    devs[1] = fx_thermal();
    devs[2] = fx_panel();
}

static void teardown(void)
{
    ht_twin_model_free(model);
    for (int i = 0; i < 3; i++)
        ht_sem_thing_free(devs[i]);
}

static struct ht_ui_input input(enum ht_ui_target t, enum ht_ui_role r)
{
    struct ht_ui_input in = {
        .model = model,
        .devs = (const struct ht_sem_thing *const *)devs,
        .ndevs = 3,
        .target = t,
        .role = r,
        .http_base = "http://gateway.local:8080",
        .mqtt_base = "mqtt://gateway.local:1883",
    };
    return in;
}

static char *render(enum ht_ui_target t, enum ht_ui_role r, size_t *len,
                    char etag[HT_UI_ETAG_LEN])
{
    struct ht_ui_input in = input(t, r);
    char *out, err[128];
    ck_assert_msg(ht_ui_render(&in, &out, len, etag, err, sizeof err) ==
                      HT_OK, "%s", err);
    return out;
}

static void golden(enum ht_ui_target t, const char *rel)
{
    size_t len;
    char etag[HT_UI_ETAG_LEN];
    char *out = render(t, HT_UI_OPERATOR, &len, etag);
    char *path = src_path(rel);
    char *want = ht_asprintf("%s\n", out);
    const char *upd = getenv("UPDATE_GOLDEN");
    if (upd && !strcmp(upd, "1")) {
        ck_assert_int_eq(ht_file_write_atomic(path, want, strlen(want), 0644),
                         HT_OK);
    }
    char *have = NULL;
    size_t hlen = 0;
    int rc = ht_file_read(path, 1 << 22, &have, &hlen);
    ck_assert_msg(rc == HT_OK, "%s: %s (run with UPDATE_GOLDEN=1 to create)",
                  path, ht_strerror(rc));
    ck_assert_msg(hlen == strlen(want) && !memcmp(have, want, hlen),
                  "%s differs from the generated descriptor; if the change "
                  "is intended, regenerate with UPDATE_GOLDEN=1", rel);
    free(have);
    free(want);
    free(path);
    free(out);
}

START_TEST(golden_web)
{
    golden(HT_UI_WEB, "tests/golden/press-line.web.json");
}
END_TEST

START_TEST(golden_hmd)
{
    golden(HT_UI_HMD, "tests/golden/press-line.hmd.json");
}
END_TEST

START_TEST(same_input_same_bytes_and_etag)
{
    for (int t = HT_UI_WEB; t <= HT_UI_HMD; t++) {
        size_t l1, l2;
        char e1[HT_UI_ETAG_LEN], e2[HT_UI_ETAG_LEN];
        char *a = render(t, HT_UI_OPERATOR, &l1, e1);
        char *b = render(t, HT_UI_OPERATOR, &l2, e2);
        ck_assert_uint_eq(l1, l2);
        ck_assert(!memcmp(a, b, l1));
        ck_assert_str_eq(e1, e2);
        ck_assert_int_eq(e1[0], '"');
        ck_assert_uint_eq(strlen(e1), HT_UI_ETAG_LEN - 1);
        free(a);
        free(b);
    }
    /* A different input gives a different ETag. */
    size_t l1, l2;
    char e1[HT_UI_ETAG_LEN], e2[HT_UI_ETAG_LEN];
    char *a = render(HT_UI_WEB, HT_UI_OPERATOR, &l1, e1);
    char *b = render(HT_UI_WEB, HT_UI_VIEWER, &l2, e2);
    ck_assert_str_ne(e1, e2);
    free(a);
    free(b);
}
END_TEST

START_TEST(etag_is_a_prefix_of_the_sha256)
{
    char etag[HT_UI_ETAG_LEN];
    ht_ui_etag("abc", 3, etag);
    /* SHA-256("abc") = ba7816bf8f01cfea... */
    ck_assert_str_eq(etag, "\"ba7816bf8f01cfea\"");
}
END_TEST

static json_t *widget(json_t *d, const char *id)
{
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(d, "widgets"), i, w)
        if (!strcmp(json_string_value(json_object_get(w, "id")), id))
            return w;
    ck_abort_msg("no widget %s", id);
    return NULL;
}

static bool has_write_form(json_t *w)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(json_object_get(w, "binding"), "forms"),
                       i, f)
        if (!strcmp(json_string_value(json_object_get(f, "op")),
                    "writeproperty"))
            return true;
    return false;
}

START_TEST(widgets_follow_semantics_and_role)
{
    struct ht_ui_input in = input(HT_UI_WEB, HT_UI_OPERATOR);
    char err[128];
    json_t *d = ht_ui_generate(&in, err, sizeof err);
    ck_assert_ptr_nonnull(d);
    json_t *w = widget(d, "gear_a.setpoint");
    ck_assert_str_eq(json_string_value(json_object_get(w, "type")), "slider");
    ck_assert(json_is_true(json_object_get(w, "writable")));
    ck_assert(has_write_form(w));
    json_t *ia = json_object_get(w, "interaction");
    ck_assert_int_eq(json_integer_value(json_object_get(ia, "debounceMs")),
                     200);
    json_t *s = json_object_get(w, "schema");
    ck_assert_int_eq(json_integer_value(json_object_get(s, "maximum")), 200);
    ck_assert_str_eq(json_string_value(json_object_get(s, "unitLabel")),
                     "rpm");
    w = widget(d, "gear_a.speed");
    ck_assert_str_eq(json_string_value(json_object_get(w, "type")), "gauge");
    ck_assert(!has_write_form(w));
    w = widget(d, "thermal.heater");
    ck_assert_str_eq(json_string_value(json_object_get(w, "type")), "toggle");
    ck_assert_ptr_nonnull(
        json_object_get(json_object_get(w, "interaction"), "confirm"));
    w = widget(d, "fan.on");
    ck_assert_ptr_null(
        json_object_get(json_object_get(w, "interaction"), "confirm"));
    w = widget(d, "rule.overheating");
    ck_assert_str_eq(json_string_value(json_object_get(w, "type")), "alert");
    ck_assert_str_eq(json_string_value(json_object_get(w, "severity")),
                     "critical");
    widget(d, "thermal.temperature.chart");
    widget(d, "twin.line_speed");
    json_decref(d);

    /* A viewer sees the same widgets, none writable, no write forms. */
    in.role = HT_UI_VIEWER;
    d = ht_ui_generate(&in, err, sizeof err);
    size_t i;
    json_array_foreach(json_object_get(d, "widgets"), i, w) {
        ck_assert(json_is_false(json_object_get(w, "writable")));
        ck_assert(!has_write_form(w));
        ck_assert_ptr_null(json_object_get(w, "interaction"));
    }
    ck_assert_str_eq(json_string_value(json_object_get(
                         widget(d, "gear_a.setpoint"), "type")),
                     "slider");
    json_decref(d);
}
END_TEST

START_TEST(hmd_scene_bindings)
{
    struct ht_ui_input in = input(HT_UI_HMD, HT_UI_OPERATOR);
    char err[128];
    json_t *d = ht_ui_generate(&in, err, sizeof err);
    json_t *scene = json_object_get(d, "scene");
    ck_assert_ptr_null(json_object_get(d, "layout"));
    json_t *anchor = json_object_get(scene, "anchor");
    ck_assert_str_eq(json_string_value(json_object_get(anchor, "type")),
                     "marker");
    ck_assert_str_eq(json_string_value(json_object_get(anchor, "href")),
                     "http://gateway.local:8080/api/v1/twins/press-line/"
                     "assets/press-line-marker.png");
    json_t *nodes = json_object_get(scene, "nodes");
    ck_assert_uint_eq(json_array_size(nodes), model->ncomps);
    /* gear_a: rotation from its speed (rpm -> 6 deg/s), alarm glow. */
    json_t *g = json_array_get(nodes, 0);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(g, "shape"), "style")),
                     "gear");
    json_t *b = json_array_get(json_object_get(g, "bindings"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(b, "effect")),
                     "rotationRate");
    ck_assert_str_eq(json_string_value(json_object_get(b, "property")),
                     "gear_a.speed");
    ck_assert_int_eq(json_integer_value(json_object_get(b, "factor")), 6);
    /* thermal: colour from temperature, emissive from heater. */
    json_t *th = json_array_get(nodes, 2);
    json_t *tb = json_object_get(th, "bindings");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(tb, 0), "effect")), "color");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(tb, 1), "effect")), "emissive");
    /* One panel per component plus the machine panel. */
    ck_assert_uint_eq(json_array_size(json_object_get(scene, "panels")),
                      model->ncomps + 1);
    json_decref(d);
}
END_TEST

START_TEST(bad_inputs_rejected)
{
    char err[128];
    struct ht_ui_input in = input(HT_UI_WEB, HT_UI_OPERATOR);
    in.http_base = "http://x/\" onload=";
    ck_assert_ptr_null(ht_ui_generate(&in, err, sizeof err));
    ck_assert(strstr(err, "base URL"));
    in = input(HT_UI_WEB, HT_UI_OPERATOR);
    in.model = NULL;
    ck_assert_ptr_null(ht_ui_generate(&in, err, sizeof err));
    enum ht_ui_target t;
    enum ht_ui_role r;
    ck_assert_int_eq(ht_ui_target_parse("hmd", &t), HT_OK);
    ck_assert_int_eq(t, HT_UI_HMD);
    ck_assert_int_eq(ht_ui_target_parse("vr", &t), HT_EINVAL);
    ck_assert_int_eq(ht_ui_role_parse("technician", &r), HT_OK);
    ck_assert_int_eq(ht_ui_role_parse("root", &r), HT_EINVAL);
}
END_TEST

/* Every descriptor we generate (both targets, every role, with and without
 * MQTT, and an auto twin) validates with ajv against the published schema;
 * so do the golden files and the press-line twin against its schema. */
START_TEST(schema_valid_with_ajv)
{
    char dir[] = "/tmp/ht-uidesc-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *files = ht_strdup("");
    int n = 0;
    for (int t = HT_UI_WEB; t <= HT_UI_HMD; t++)
        for (int r = HT_UI_VIEWER; r <= HT_UI_ADMIN; r++)
            for (int mq = 0; mq < 2; mq++) {
                struct ht_ui_input in = input(t, r);
                if (!mq) {
                    in.mqtt_base = NULL;
                    in.http_base = NULL;
                }
                char *out, err[128], etag[HT_UI_ETAG_LEN];
                size_t len;
                ck_assert_int_eq(ht_ui_render(&in, &out, &len, etag, err,
                                              sizeof err), HT_OK);
                char *p = ht_asprintf("%s/d%d.json", dir, n++);
                ck_assert_int_eq(ht_file_write_atomic(p, out, len, 0600),
                                 HT_OK);
                char *nf = ht_asprintf("%s '%s'", files, p);
                free(files);
                files = nf;
                free(p);
                free(out);
            }
    /* An auto twin of the thermal board, with no device things. */
    json_t *doc = ht_twin_auto_doc(devs[1], NULL);
    struct ht_twin_model *am;
    ck_assert_int_eq(ht_twin_model_parse(doc, &am, NULL, 0, NULL, 0), HT_OK);
    struct ht_ui_input in = {.model = am, .target = HT_UI_HMD,
                             .role = HT_UI_ADMIN};
    char *out, err[128], etag[HT_UI_ETAG_LEN];
    size_t len;
    ck_assert_int_eq(ht_ui_render(&in, &out, &len, etag, err, sizeof err),
                     HT_OK);
    char *p = ht_asprintf("%s/auto.json", dir);
    ht_file_write_atomic(p, out, len, 0600);
    char *nf = ht_asprintf("%s '%s'", files, p);
    free(files);
    files = nf;
    free(out);
    ht_twin_model_free(am);
    json_decref(doc);

    int rc = run_validator("ui-descriptors/schema/ui-descriptor.schema.json",
                           files);
    ck_assert_msg(rc == 0, "ajv rejected a generated descriptor (exit %d; "
                  "is node installed and tests/node_modules present?)", rc);
    char *g1 = src_path("tests/golden/press-line.web.json");
    char *g2 = src_path("tests/golden/press-line.hmd.json");
    char *gf = ht_asprintf("'%s' '%s'", g1, g2);
    rc = run_validator("ui-descriptors/schema/ui-descriptor.schema.json", gf);
    ck_assert_msg(rc == 0, "ajv rejected a golden file (exit %d)", rc);
    char *pl = src_path("twins/virtual-factory/press-line.json");
    char *plq = ht_asprintf("'%s'", pl);
    rc = run_validator("twins/schema/twin.schema.json", plq);
    ck_assert_msg(rc == 0, "ajv rejected press-line.json (exit %d)", rc);
    /* And the validator is not a rubber stamp. */
    char *badp = ht_asprintf("%s/bad.json", dir);
    const char *bad = "{\"schema\":\"holotwin.ui/1\",\"target\":\"web\"}";
    ht_file_write_atomic(badp, bad, strlen(bad), 0600);
    char *bq = ht_asprintf("'%s'", badp);
    ck_assert_int_eq(
        run_validator("ui-descriptors/schema/ui-descriptor.schema.json", bq),
        1);
    char *cmd = ht_asprintf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    free(bq);
    free(badp);
    free(plq);
    free(pl);
    free(gf);
    free(g1);
    free(g2);
    free(p);
    free(files);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("uidesc");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, golden_web);
    tcase_add_test(tc, golden_hmd);
    tcase_add_test(tc, same_input_same_bytes_and_etag);
    tcase_add_test(tc, etag_is_a_prefix_of_the_sha256);
    tcase_add_test(tc, widgets_follow_semantics_and_role);
    tcase_add_test(tc, hmd_scene_bindings);
    tcase_add_test(tc, bad_inputs_rejected);
    tcase_add_test(tc, schema_valid_with_ajv);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
