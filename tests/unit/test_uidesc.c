/* test_uidesc.c - the UI descriptor generator: golden files for the
 * virtual-factory press line (web and hmd), determinism and ETags, role
 * handling, and schema validity with an independent validator (ajv).
 *
 * UPDATE_GOLDEN=1 rewrites tests/golden/press-line.{web,hmd}.json. */
#include "test_twin_fixtures.h"
#include "twins/twin.h"
#include "ui-descriptors/uidesc.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

static struct ht_twin_model *model;
static struct ht_sem_thing *devs[3];

static void setup(void)
{
    json_t *doc = load_json("twins/virtual-factory/press-line.json");
    char err[256];
    ck_assert_msg(ht_twin_model_parse(doc, &model, err, sizeof err, NULL, 0) ==
                      HT_OK,
                  "%s", err);
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
    ck_assert_msg(ht_ui_render(&in, &out, len, etag, err, sizeof err) == HT_OK,
                  "%s", err);
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
                  "is intended, regenerate with UPDATE_GOLDEN=1",
                  rel);
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
    json_array_foreach(
        json_object_get(d, "widgets"), i,
        w) if (!strcmp(json_string_value(json_object_get(w, "id")),
                       id)) return w;
    ck_abort_msg("no widget %s", id);
    return NULL;
}

static bool has_write_form(json_t *w)
{
    size_t i;
    json_t *f;
    json_array_foreach(
        json_object_get(json_object_get(w, "binding"), "forms"), i,
        f) if (!strcmp(json_string_value(json_object_get(f, "op")),
                       "writeproperty")) return true;
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
    ck_assert_str_eq(json_string_value(json_object_get(s, "unitLabel")), "rpm");
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
    json_array_foreach(json_object_get(d, "widgets"), i, w)
    {
        ck_assert(json_is_false(json_object_get(w, "writable")));
        ck_assert(!has_write_form(w));
        ck_assert_ptr_null(json_object_get(w, "interaction"));
    }
    ck_assert_str_eq(json_string_value(
                         json_object_get(widget(d, "gear_a.setpoint"), "type")),
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
    ck_assert_str_eq(json_string_value(
                         json_object_get(json_object_get(g, "shape"), "style")),
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
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(tb, 0), "effect")),
        "color");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(tb, 1), "effect")),
        "emissive");
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

static json_t *generated_twin(int n, unsigned seed);

/* Every descriptor we generate (both targets, every role, with and without
 * MQTT, an auto twin and generated twins with every kind and binding)
 * validates with ajv against the published schema;
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
                ck_assert_int_eq(
                    ht_ui_render(&in, &out, &len, etag, err, sizeof err),
                    HT_OK);
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
    struct ht_ui_input in = {
        .model = am, .target = HT_UI_HMD, .role = HT_UI_ADMIN};
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

    for (int gn = 1; gn <= 50; gn += 49) {
        json_t *gd = generated_twin(gn, 3);
        struct ht_twin_model *gm;
        ck_assert_int_eq(ht_twin_model_parse(gd, &gm, NULL, 0, NULL, 0), HT_OK);
        for (int t = HT_UI_WEB; t <= HT_UI_HMD; t++) {
            struct ht_ui_input gin = {.model = gm,
                                      .target = (enum ht_ui_target)t,
                                      .role = HT_UI_OPERATOR};
            ck_assert_int_eq(
                ht_ui_render(&gin, &out, &len, etag, err, sizeof err), HT_OK);
            char *gp = ht_asprintf("%s/gen%d-%d.json", dir, gn, t);
            ht_file_write_atomic(gp, out, len, 0600);
            char *gf2 = ht_asprintf("%s '%s'", files, gp);
            free(files);
            files = gf2;
            free(gp);
            free(out);
        }
        ht_twin_model_free(gm);
        json_decref(gd);
    }
    int rc =
        run_validator("ui-descriptors/schema/ui-descriptor.schema.json", files);
    ck_assert_msg(rc == 0,
                  "ajv rejected a generated descriptor (exit %d; "
                  "is node installed and tests/node_modules present?)",
                  rc);
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

/* ---- the hmd layout, checked from the descriptor alone ----
 *
 * A camera at the descriptor's viewpoint (perspective, vertical fovDeg,
 * the given aspect): every panel (billboard: facing the camera) and every
 * node's bounding cube (its shape size, rotated any way, fits in the
 * cube around its bounding sphere) is projected to the screen. From there:
 * no two panels overlap, no node nearer than a panel covers it, no panel
 * covers a node, every panel is in the frame; text is no smaller than the
 * stated minimum at the viewing distance; rows fit in their panels; every
 * component property has a 3D binding. */

struct cam {
    double p[3], f[3], r[3], u[3], tv, th;
};

static void v_sub(const double *a, const double *b, double *o)
{
    for (int k = 0; k < 3; k++)
        o[k] = a[k] - b[k];
}

static double v_dot(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static void v_norm(double *a)
{
    double n = sqrt(v_dot(a, a));
    for (int k = 0; k < 3; k++)
        a[k] /= n;
}

static void v3_of(const json_t *a, double *o)
{
    for (int k = 0; k < 3; k++)
        o[k] = json_number_value(json_array_get(a, (size_t)k));
}

/* Screen rectangle (normalised device units) and depth range. */
struct srect {
    double x0, y0, x1, y1, d0, d1;
};

static void project(const struct cam *c, const double *pt, struct srect *s,
                    bool first)
{
    double v[3];
    v_sub(pt, c->p, v);
    double d = v_dot(v, c->f);
    ck_assert_msg(d > 0, "a point is behind the default viewpoint");
    double x = v_dot(v, c->r) / d / c->th, y = v_dot(v, c->u) / d / c->tv;
    if (first) {
        *s = (struct srect){x, y, x, y, d, d};
        return;
    }
    s->x0 = fmin(s->x0, x);
    s->x1 = fmax(s->x1, x);
    s->y0 = fmin(s->y0, y);
    s->y1 = fmax(s->y1, y);
    s->d0 = fmin(s->d0, d);
    s->d1 = fmax(s->d1, d);
}

static bool overlap(const struct srect *a, const struct srect *b)
{
    return a->x0 < b->x1 && b->x0 < a->x1 && a->y0 < b->y1 && b->y0 < a->y1;
}

static const json_t *node_of(const json_t *scene, const char *id)
{
    size_t i;
    json_t *n;
    json_array_foreach(
        json_object_get(scene, "nodes"), i,
        n) if (!strcmp(json_string_value(json_object_get(n, "id")),
                       id)) return n;
    return NULL;
}

static bool bound_in_scene(const json_t *scene, const char *ref)
{
    size_t i, j;
    json_t *n, *b;
    json_array_foreach(json_object_get(scene, "nodes"), i, n)
        json_array_foreach(json_object_get(n, "bindings"), j, b)
    {
        const char *p = json_string_value(json_object_get(b, "property"));
        if (p && !strcmp(p, ref))
            return true;
    }
    return false;
}

/* The stated readability rule: no text under 0.5 deg at the viewing
 * distance (docs/ui-descriptors.md). */
#define MIN_TEXT_DEG 0.5

static void check_hmd_geometry(const json_t *d, const struct ht_twin_model *m,
                               const char *what)
{
    const json_t *sc = json_object_get(d, "scene");
    const json_t *vp = json_object_get(sc, "viewpoint");
    const json_t *ty = json_object_get(sc, "typography");
    ck_assert_msg(vp && ty, "%s: no viewpoint or typography", what);
    struct cam c;
    double tg[3];
    v3_of(json_object_get(vp, "position"), c.p);
    v3_of(json_object_get(vp, "target"), tg);
    v_sub(tg, c.p, c.f);
    v_norm(c.f);
    double up[3] = {0, 1, 0};
    /* r = f x up, u = r x f */
    c.r[0] = c.f[1] * up[2] - c.f[2] * up[1];
    c.r[1] = c.f[2] * up[0] - c.f[0] * up[2];
    c.r[2] = c.f[0] * up[1] - c.f[1] * up[0];
    v_norm(c.r);
    c.u[0] = c.r[1] * c.f[2] - c.r[2] * c.f[1];
    c.u[1] = c.r[2] * c.f[0] - c.r[0] * c.f[2];
    c.u[2] = c.r[0] * c.f[1] - c.r[1] * c.f[0];
    double fov = json_number_value(json_object_get(vp, "fovDeg"));
    c.tv = tan(fov * M_PI / 360);
    c.th = c.tv * json_number_value(json_object_get(vp, "aspect"));

    /* text: angles and sizes at the viewing distance */
    double dist = json_number_value(json_object_get(ty, "viewingDistance"));
    double body = json_number_value(json_object_get(ty, "bodySize"));
    double title = json_number_value(json_object_get(ty, "titleSize"));
    double row = json_number_value(json_object_get(ty, "rowHeight"));
    double head = json_number_value(json_object_get(ty, "headerHeight"));
    double pad = json_number_value(json_object_get(ty, "padding"));
    double body_deg = 2 * atan(body / (2 * dist)) * 180 / M_PI;
    double title_deg = 2 * atan(title / (2 * dist)) * 180 / M_PI;
    ck_assert_msg(body_deg >= MIN_TEXT_DEG - 1e-9 &&
                      title_deg >= MIN_TEXT_DEG - 1e-9,
                  "%s: text of %.3f/%.3f deg at %.2f m, under %.2f deg", what,
                  body_deg, title_deg, dist, MIN_TEXT_DEG);
    ck_assert(json_number_value(json_object_get(ty, "minTextDeg")) >=
              MIN_TEXT_DEG);
    ck_assert_msg(row >= body && head >= title, "%s: rows lower than text",
                  what);

    const json_t *panels = json_object_get(sc, "panels");
    size_t np = json_array_size(panels), nn;
    const json_t *nodes = json_object_get(sc, "nodes");
    nn = json_array_size(nodes);
    struct srect *pr = ht_calloc(np + 1, sizeof *pr);
    struct srect *nr = ht_calloc(nn + 1, sizeof *nr);
    for (size_t i = 0; i < np; i++) {
        const json_t *p = json_array_get(panels, i);
        double ctr[3], w, h;
        v3_of(json_object_get(p, "position"), ctr);
        w = json_number_value(json_object_get(p, "width"));
        h = json_number_value(json_object_get(p, "height"));
        /* rows and text fit, and position = node + offset */
        size_t rows = json_array_size(json_object_get(p, "widgets"));
        ck_assert_msg(h + 1e-9 >= 2 * pad + head + (double)rows * row,
                      "%s: %zu rows do not fit panel %s", what, rows,
                      json_string_value(json_object_get(p, "id")));
        ck_assert(json_number_value(json_object_get(p, "labelWidth")) < w);
        const char *nid = json_string_value(json_object_get(p, "node"));
        double at[3] = {0, 0, 0}, off[3];
        if (*nid) {
            const json_t *n = node_of(sc, nid);
            ck_assert_msg(n, "%s: panel on unknown node %s", what, nid);
            v3_of(json_object_get(json_object_get(n, "transform"), "position"),
                  at);
        }
        v3_of(json_object_get(p, "offset"), off);
        for (int k = 0; k < 3; k++)
            ck_assert_msg(fabs(at[k] + off[k] - ctr[k]) < 0.0015,
                          "%s: offset of %s", what, nid);
        /* billboard: the panel's axes are the camera's */
        bool bb = json_is_true(json_object_get(p, "billboard"));
        const double ax[3] = {1, 0, 0}, ay[3] = {0, 1, 0};
        const double *xr = bb ? c.r : ax, *yu = bb ? c.u : ay;
        for (int k = 0; k < 4; k++) {
            double pt[3];
            for (int q = 0; q < 3; q++)
                pt[q] = ctr[q] + (k & 1 ? 0.5 : -0.5) * w * xr[q] +
                        (k & 2 ? 0.5 : -0.5) * h * yu[q];
            project(&c, pt, &pr[i], k == 0);
        }
        ck_assert_msg(pr[i].x0 >= -1 && pr[i].x1 <= 1 && pr[i].y0 >= -1 &&
                          pr[i].y1 <= 1,
                      "%s: panel %s is out of the default view", what,
                      json_string_value(json_object_get(p, "id")));
    }
    for (size_t i = 0; i < nn; i++) {
        const json_t *n = json_array_get(nodes, i);
        double ctr[3], sz[3], sc3[3];
        v3_of(json_object_get(json_object_get(n, "transform"), "position"),
              ctr);
        v3_of(json_object_get(json_object_get(n, "transform"), "scale"), sc3);
        v3_of(json_object_get(json_object_get(n, "shape"), "size"), sz);
        double r = sqrt(sz[0] * sz[0] * sc3[0] * sc3[0] +
                        sz[1] * sz[1] * sc3[1] * sc3[1] +
                        sz[2] * sz[2] * sc3[2] * sc3[2]) /
                   2;
        for (int k = 0; k < 8; k++) {
            double pt[3] = {ctr[0] + (k & 1 ? r : -r),
                            ctr[1] + (k & 2 ? r : -r),
                            ctr[2] + (k & 4 ? r : -r)};
            project(&c, pt, &nr[i], k == 0);
        }
        /* every property of the component is bound in 3D */
        const char *id = json_string_value(json_object_get(n, "id"));
        for (size_t ci = 0; m && ci < m->ncomps; ci++) {
            if (strcmp(m->comps[ci].id, id))
                continue;
            for (size_t pi = 0; pi < m->comps[ci].nprops; pi++) {
                char *ref =
                    ht_asprintf("%s.%s", id, m->comps[ci].props[pi].name);
                ck_assert_msg(bound_in_scene(sc, ref),
                              "%s: %s has no 3D binding", what, ref);
                free(ref);
            }
        }
    }
    for (size_t i = 0; i < np; i++) {
        const char *a =
            json_string_value(json_object_get(json_array_get(panels, i), "id"));
        for (size_t j = i + 1; j < np; j++)
            ck_assert_msg(!overlap(&pr[i], &pr[j]),
                          "%s: panels %s and %s overlap on screen", what, a,
                          json_string_value(json_object_get(
                              json_array_get(panels, j), "id")));
        for (size_t j = 0; j < nn; j++) {
            const char *b = json_string_value(
                json_object_get(json_array_get(nodes, j), "id"));
            if (!overlap(&pr[i], &nr[j]))
                continue;
            ck_assert_msg(nr[j].d0 > pr[i].d1, "%s: node %s hides panel %s",
                          what, b, a);
            ck_abort_msg("%s: panel %s covers node %s", what, a, b);
        }
    }
    free(pr);
    free(nr);
}

/* The layout does not depend on the role; roles step by rstep. */
static void check_model(const struct ht_twin_model *m,
                        const struct ht_sem_thing *const *dv, size_t ndv,
                        const char *what, int rstep)
{
    for (int r = HT_UI_VIEWER; r <= HT_UI_ADMIN; r += rstep) {
        struct ht_ui_input in = {.model = m,
                                 .devs = dv,
                                 .ndevs = ndv,
                                 .target = HT_UI_HMD,
                                 .role = (enum ht_ui_role)r};
        char err[128];
        json_t *d = ht_ui_generate(&in, err, sizeof err);
        ck_assert_msg(d, "%s: %s", what, err);
        check_hmd_geometry(d, m, what);
        json_decref(d);
    }
}

/* Every twin in the repository (every *.json under twins/ but its schema)
 * and the automatic twins of the example boards. */
START_TEST(hmd_layout_every_twin_in_the_repo)
{
    char *cmd = src_path("twins");
    char *find = ht_asprintf("find '%s' -name '*.json' -not -path '*/schema/*'"
                             " | sort",
                             cmd);
    FILE *f = popen(find, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        json_error_t je;
        json_t *doc = json_load_file(line, 0, &je);
        ck_assert_msg(doc, "%s: %s", line, je.text);
        struct ht_twin_model *tm;
        char err[256];
        ck_assert_msg(ht_twin_model_parse(doc, &tm, err, sizeof err, NULL, 0) ==
                          HT_OK,
                      "%s: %s", line, err);
        check_model(tm, (const struct ht_sem_thing *const *)devs, 3, line, 1);
        ht_twin_model_free(tm);
        json_decref(doc);
        n++;
    }
    pclose(f);
    ck_assert_msg(n >= 1, "no twin found under %s", cmd);
    for (int i = 0; i < 3; i++) {
        json_t *doc = ht_twin_auto_doc(devs[i], NULL);
        struct ht_twin_model *am;
        ck_assert_int_eq(ht_twin_model_parse(doc, &am, NULL, 0, NULL, 0),
                         HT_OK);
        check_model(am, (const struct ht_sem_thing *const *)devs, 3,
                    devs[i]->id, 1);
        ht_twin_model_free(am);
        json_decref(doc);
    }
    free(find);
    free(cmd);
}
END_TEST

/* A twin of n components of every kind, with pseudo-random poses (some
 * stacked on the same spot, some far apart), sizes and properties. */
static unsigned lcg(unsigned *x)
{
    *x = *x * 1103515245u + 12345u;
    return *x >> 8 & 0xffff;
}

static json_t *generated_twin(int n, unsigned seed)
{
    static const char *const kinds[] = {"gear", "motor",  "heater", "fan",
                                        "lamp", "button", "knob",   "conveyor",
                                        "tank", "sensor", "generic"};
    unsigned x = seed * 2654435761u + (unsigned)n;
#define RND() lcg(&x)
#define UNIT() ((double)lcg(&x) / 65535.0)
    json_t *comps = json_array();
    double spread = 0.3 + 0.12 * n;
    for (int i = 0; i < n; i++) {
        json_t *props = json_array();
        int np = 1 + (int)(RND() % 4);
        for (int p = 0; p < np; p++) {
            char name[4] = {'p', (char)('a' + p), 0, 0};
            char *bind = ht_asprintf("dev/%s", name);
            json_t *pr =
                json_pack("{s:s, s:s, s:s}", "name", name, "bind", bind, "type",
                          p % 3 == 0   ? "number"
                          : p % 3 == 1 ? "boolean"
                                       : "integer");
            free(bind);
            if (p % 3 == 0) {
                json_object_set_new(pr, "minimum", json_integer(0));
                json_object_set_new(pr, "maximum", json_integer(100));
            }
            if (RND() % 2)
                json_object_set_new(pr, "writable", json_true());
            if (RND() % 3 == 0)
                json_object_set_new(pr, "title",
                                    json_string("A rather long property "
                                                "title"));
            json_array_append_new(props, pr);
        }
        double pos[3];
        if (i > 0 && RND() % 5 == 0) {
            /* on top of the previous one */
            json_t *prev = json_object_get(
                json_object_get(json_array_get(comps, (size_t)i - 1), "pose"),
                "position");
            for (int k = 0; k < 3; k++)
                pos[k] = json_number_value(json_array_get(prev, (size_t)k));
        } else {
            pos[0] = (UNIT() - 0.5) * spread;
            pos[1] = UNIT() * spread * 0.5;
            pos[2] = (UNIT() - 0.5) * spread * 0.3;
        }
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        const char *kind = kinds[RND() % 11];
        double rx = RND() % 180, rz = RND() % 90;
        json_t *c =
            json_pack("{s:s, s:s, s:{s:[f,f,f], s:[f,f,f]}, s:o}", "id", id,
                      "kind", kind, "pose", "position", pos[0], pos[1], pos[2],
                      "rotation", rx, 0.0, rz, "properties", props);
        if (RND() % 2) {
            double sx = 0.02 + UNIT() * 0.5, sy = 0.02 + UNIT() * 0.5;
            double sz = 0.02 + UNIT() * 0.3;
            json_object_set_new(c, "size", json_pack("[f,f,f]", sx, sy, sz));
        }
        if (RND() % 3 == 0)
            json_object_set_new(c, "title",
                                json_string("Component with a long title"));
        json_array_append_new(comps, c);
    }
    json_t *rules =
        json_pack("[{s:s, s:s, s:s, s:s}]", "id", "r1", "severity", "warning",
                  "message", "c0 high", "expr", "c0.pa > 80");
#undef RND
#undef UNIT
    return json_pack("{s:s, s:s, s:o, s:o}", "id", "gen", "title",
                     "Generated machine", "components", comps, "rules", rules);
}

START_TEST(hmd_layout_generated_twins_1_to_50)
{
    for (int n = 1; n <= 50; n++)
        for (unsigned seed = 1; seed <= 2; seed++) {
            json_t *doc = generated_twin(n, seed);
            struct ht_twin_model *tm;
            char err[256], what[64];
            ck_assert_msg(ht_twin_model_parse(doc, &tm, err, sizeof err, NULL,
                                              0) == HT_OK,
                          "generated twin %d: %s", n, err);
            snprintf(what, sizeof what, "generated twin of %d (seed %u)", n,
                     seed);
            check_model(tm, NULL, 0, what, 4);
            ht_twin_model_free(tm);
            json_decref(doc);
        }
}
END_TEST

/* Limits the rules state become limits and a normal range on widgets. */
START_TEST(limits_from_rules)
{
    struct ht_ui_input in = input(HT_UI_WEB, HT_UI_OPERATOR);
    char err[128];
    json_t *d = ht_ui_generate(&in, err, sizeof err);
    json_t *w = widget(d, "thermal.temperature");
    json_t *l = json_array_get(json_object_get(w, "limits"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(l, "rule")),
                     "overheating");
    ck_assert_str_eq(json_string_value(json_object_get(l, "type")), "high");
    ck_assert_int_eq(json_integer_value(json_object_get(l, "value")), 70);
    ck_assert_str_eq(json_string_value(json_object_get(l, "priority")),
                     "critical");
    ck_assert_int_eq(json_integer_value(
                         json_object_get(json_object_get(w, "normal"), "max")),
                     70);
    ck_assert_ptr_nonnull(
        json_object_get(widget(d, "thermal.temperature.chart"), "limits"));
    w = widget(d, "gear_a.speed");
    json_t *nr = json_object_get(w, "normal");
    ck_assert_int_eq(json_integer_value(json_object_get(nr, "min")), 40);
    ck_assert_int_eq(json_integer_value(json_object_get(nr, "max")), 150);
    ck_assert_uint_eq(json_array_size(json_object_get(w, "limits")), 2);
    /* an alarm's own priority, not one its severity implies: the
     * gears' alarm is a warning of medium priority */
    ck_assert_str_eq(json_string_value(json_object_get(
                         widget(d, "rule.gears-aligned"), "severity")),
                     "warning");
    ck_assert_str_eq(json_string_value(json_object_get(
                         widget(d, "rule.gears-aligned"), "priority")),
                     "medium");
    /* a rule that is no alarm has none */
    ck_assert_ptr_null(
        json_object_get(widget(d, "rule.line-stopped"), "priority"));
    /* abs(gear_a.speed - gear_b.speed) > 5 is no limit of one value */
    w = widget(d, "gear_a.setpoint");
    ck_assert_ptr_null(json_object_get(w, "limits"));
    json_decref(d);
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
    tcase_add_test(tc, hmd_layout_every_twin_in_the_repo);
    tcase_add_test(tc, hmd_layout_generated_twins_1_to_50);
    tcase_add_test(tc, limits_from_rules);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
