/* test_twin_fixtures.h - shared fixtures of the twin and descriptor tests:
 * the virtual-factory boards as ht_sem_thing structs (built by hand, as
 * factory.md describes them) and the press-line twin document. */
#ifndef TEST_TWIN_FIXTURES_H
#define TEST_TWIN_FIXTURES_H

#include "ht_err.h"
#include "ht_mem.h"
#include "ht_util.h"
#include "semantics/semantics.h"
#include "twins/twin.h"

#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* The source tree: HT_SRC_DIR or the working directory. */
static inline const char *src_dir(void)
{
    const char *s = getenv("HT_SRC_DIR");
    return s && *s ? s : ".";
}

static inline char *src_path(const char *rel)
{
    return ht_asprintf("%s/%s", src_dir(), rel);
}

static inline json_t *load_json(const char *rel)
{
    char *p = src_path(rel);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    if (!j)
        ck_abort_msg("%s:%d: %s", p, je.line, je.text);
    free(p);
    return j;
}

struct fx_prop {
    const char *name, *sem, *unit;
    enum ht_sem_dtype t;
    bool ro;
    double min, max, step; /* max > min when given */
};

static inline struct ht_sem_thing *fx_thing(const char *id, const char *title,
                                            const struct fx_prop *ps, size_t n)
{
    struct ht_sem_thing *t = ht_calloc(1, sizeof *t);
    t->id = ht_strdup(id);
    t->title = ht_strdup(title);
    t->props = ht_calloc(n, sizeof *t->props);
    t->nprops = n;
    for (size_t i = 0; i < n; i++) {
        struct ht_sem_prop *p = &t->props[i];
        p->name = ht_strdup(ps[i].name);
        p->sem_type = ht_strdup(ps[i].sem);
        p->unit = ps[i].unit ? ht_strdup(ps[i].unit) : NULL;
        p->dtype = ps[i].t;
        p->read_only = ps[i].ro;
        p->observable = true;
        if (ps[i].max > ps[i].min) {
            p->has_min = p->has_max = true;
            p->min = ps[i].min;
            p->max = ps[i].max;
        }
        if (ps[i].step > 0) {
            p->has_step = true;
            p->step = ps[i].step;
        }
    }
    return t;
}

#define RPM "unit:REV-PER-MIN"
static inline struct ht_sem_thing *fx_gears(void)
{
    static const struct fx_prop ps[] = {
        {"motor_a_enable", "ht:MotorEnable", NULL, HT_SEM_BOOLEAN, false, 0, 0,
         0},
        {"motor_a_setpoint", "ht:SpeedSetpoint", RPM, HT_SEM_NUMBER, false, 0,
         200, 1},
        {"gear_a_speed", "ht:RotationSpeed", RPM, HT_SEM_NUMBER, true, 0, 0, 0},
        {"motor_b_enable", "ht:MotorEnable", NULL, HT_SEM_BOOLEAN, false, 0, 0,
         0},
        {"motor_b_setpoint", "ht:SpeedSetpoint", RPM, HT_SEM_NUMBER, false, 0,
         200, 1},
        {"gear_b_speed", "ht:RotationSpeed", RPM, HT_SEM_NUMBER, true, 0, 0, 0},
    };
    return fx_thing("gears-1", "Gears board", ps, sizeof ps / sizeof *ps);
}

static inline struct ht_sem_thing *fx_thermal(void)
{
    static const struct fx_prop ps[] = {
        {"heater", "ht:Heater", NULL, HT_SEM_BOOLEAN, false, 0, 0, 0},
        {"fan", "ht:Fan", NULL, HT_SEM_BOOLEAN, false, 0, 0, 0},
        {"temperature", "ht:Temperature", "unit:DEG_C", HT_SEM_NUMBER, true, 0,
         0, 0},
    };
    return fx_thing("thermal-1", "Thermal board", ps, sizeof ps / sizeof *ps);
}

static inline struct ht_sem_thing *fx_panel(void)
{
    static const struct fx_prop ps[] = {
        {"start_button", "ht:Button", NULL, HT_SEM_BOOLEAN, true, 0, 0, 0},
        {"stop_button", "ht:Button", NULL, HT_SEM_BOOLEAN, true, 0, 0, 0},
        {"speed_knob", "ht:Position", NULL, HT_SEM_INTEGER, true, 0, 0, 0},
        {"run_lamp", "ht:Lamp", NULL, HT_SEM_BOOLEAN, false, 0, 0, 0},
        {"alarm_lamp", "ht:Lamp", NULL, HT_SEM_BOOLEAN, false, 0, 0, 0},
    };
    return fx_thing("panel-1", "Operator panel", ps, sizeof ps / sizeof *ps);
}

/* Run the ajv validator on files; returns the exit status (0 = valid). */
static inline int run_validator(const char *schema_rel, const char *files)
{
    char *script = src_path("tests/tools/validate-schema.mjs");
    char *schema = src_path(schema_rel);
    char *cmd = ht_asprintf("node '%s' '%s' %s 2>&1", script, schema, files);
    int rc = system(cmd);
    free(cmd);
    free(script);
    free(schema);
    if (rc == -1)
        return -1;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Feed the engine one device value at now (the fake clock). */
static inline void setnum(struct ht_twin_engine *e, const char *d,
                          const char *p, double v, int64_t now)
{
    json_t *j = json_real(v);
    ck_assert_int_eq(ht_twin_engine_set_value(e, d, p, j, now), HT_OK);
    json_decref(j);
}

static inline void setbool(struct ht_twin_engine *e, const char *d,
                           const char *p, bool v, int64_t now)
{
    ck_assert_int_eq(ht_twin_engine_set_value(e, d, p, json_boolean(v), now),
                     HT_OK);
}

#endif
