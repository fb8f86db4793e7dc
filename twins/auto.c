/* auto.c - automatic one-component twins for approved devices, and the
 * W3C WoT TD export of a twin.
 *
 * The auto twin is emitted as a document (not a struct) so it goes through
 * the same parser, store and REST path as a hand-written twin.
 */
#include "twin_internal.h"

#include "ht_err.h"
#include "ht_id.h"
#include "ht_mem.h"

#include <stdlib.h>
#include <string.h>

/* Semantic term -> component kind, in priority order: the first term the
 * device has decides (a motor board with a temperature probe is a motor). */
static const struct {
    const char *term;
    enum ht_twin_kind kind;
} kind_map[] = {
    {"ht:RotationSpeed", HT_TWIN_KIND_MOTOR},
    {"ht:SpeedSetpoint", HT_TWIN_KIND_MOTOR},
    {"ht:MotorEnable", HT_TWIN_KIND_MOTOR},
    {"ht:Heater", HT_TWIN_KIND_HEATER},
    {"ht:Fan", HT_TWIN_KIND_FAN},
    {"ht:FlowRate", HT_TWIN_KIND_TANK},
    {"ht:Valve", HT_TWIN_KIND_TANK},
    {"ht:Lamp", HT_TWIN_KIND_LAMP},
    {"ht:Position", HT_TWIN_KIND_KNOB},
    {"ht:Button", HT_TWIN_KIND_BUTTON},
    {"ht:Switch", HT_TWIN_KIND_BUTTON},
    {"ht:Temperature", HT_TWIN_KIND_SENSOR},
    {"ht:Humidity", HT_TWIN_KIND_SENSOR},
    {"ht:Pressure", HT_TWIN_KIND_SENSOR},
    {"ht:Voltage", HT_TWIN_KIND_SENSOR},
    {"ht:Frequency", HT_TWIN_KIND_SENSOR},
    {"ht:AnalogValue", HT_TWIN_KIND_SENSOR},
    {"ht:Count", HT_TWIN_KIND_SENSOR},
    {"ht:Presence", HT_TWIN_KIND_SENSOR},
    {"ht:Gear", HT_TWIN_KIND_GEAR},
    {"ht:Conveyor", HT_TWIN_KIND_CONVEYOR},
};

static bool has_term(const struct ht_sem_thing *t, const char *term)
{
    for (size_t i = 0; t->types && t->types[i]; i++)
        if (!strcmp(t->types[i], term))
            return true;
    for (size_t i = 0; i < t->nprops; i++)
        if (t->props[i].sem_type && !strcmp(t->props[i].sem_type, term))
            return true;
    return false;
}

static enum ht_twin_kind guess_kind(const struct ht_sem_thing *t)
{
    for (size_t i = 0; i < sizeof kind_map / sizeof kind_map[0]; i++)
        if (has_term(t, kind_map[i].term))
            return kind_map[i].kind;
    return HT_TWIN_KIND_GENERIC;
}

/* Affordance names are [a-z0-9_]{1,32}; twin property names must start
 * with a letter, so "1wire" becomes "p_1wire" (cut to 32). */
static char *prop_name(const char *n)
{
    if (n[0] >= 'a' && n[0] <= 'z')
        return ht_strdup(n);
    char *s = ht_asprintf("p_%s", n);
    if (strlen(s) > 32)
        s[32] = 0;
    return s;
}

json_t *ht_twin_auto_doc(const struct ht_sem_thing *t, const char *twin_id)
{
    if (!t || !t->id || !ht_id_valid(t->id))
        return NULL;
    if (twin_id && !ht_id_valid(twin_id))
        return NULL;
    json_t *props = json_array();
    for (size_t i = 0; i < t->nprops && i < HT_TWIN_MAX_PROPS; i++) {
        const struct ht_sem_prop *p = &t->props[i];
        if (!p->name || !ht_sem_name_valid(p->name))
            continue;
        char *name = prop_name(p->name);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(name));
        free(name);
        if (p->title && strlen(p->title) <= HT_TWIN_MAX_STR && *p->title)
            json_object_set_new(o, "title", json_string(p->title));
        json_object_set_new(o, "bind", json_sprintf("%s/%s", t->id, p->name));
        json_object_set_new(o, "type",
                            json_string(ht_sem_dtype_name(p->dtype)));
        if (p->sem_type && strlen(p->sem_type) <= 64 &&
            strchr(p->sem_type, ':'))
            json_object_set_new(o, "semantic", json_string(p->sem_type));
        if (p->unit && *p->unit && strlen(p->unit) <= 64)
            json_object_set_new(o, "unit", json_string(p->unit));
        if (!p->read_only)
            json_object_set_new(o, "writable", json_true());
        bool num = p->dtype == HT_SEM_NUMBER || p->dtype == HT_SEM_INTEGER;
        if (num && p->has_min)
            json_object_set_new(o, "minimum", json_real(p->min));
        if (num && p->has_max)
            json_object_set_new(o, "maximum", json_real(p->max));
        if (num && p->has_step && p->step > 0)
            json_object_set_new(o, "step", json_real(p->step));
        if (p->sem_type && (!strcmp(p->sem_type, "ht:MotorEnable") ||
                            !strcmp(p->sem_type, "ht:Heater")))
            json_object_set_new(o, "unsafe", json_true());
        json_array_append_new(props, o);
    }
    if (!json_array_size(props)) {
        json_decref(props);
        return NULL;
    }
    const char *title =
        t->title && *t->title && strlen(t->title) <= HT_TWIN_MAX_STR ? t->title
                                                                     : t->id;
    json_t *comp = json_pack("{s:s, s:s, s:s, s:o}", "id", "device", "title",
                             title, "kind", ht_twin_kind_name(guess_kind(t)),
                             "properties", props);
    return json_pack("{s:s, s:s, s:s, s:I, s:[o], s:[]}", "id",
                     twin_id ? twin_id : t->id, "title", title, "description",
                     "Automatic twin of one device", "version", (json_int_t)1,
                     "components", comp, "rules");
}

/* Type, range and unit of a twin property: the model first, then the
 * bound device's TD. */
static void fill_prop(struct ht_sem_prop *sp, const struct ht_twin_prop *p,
                      const struct ht_sem_thing *const *devs, size_t ndevs)
{
    const struct ht_sem_prop *dp = NULL;
    for (size_t i = 0; i < ndevs && !dp; i++)
        if (devs[i] && devs[i]->id && !strcmp(devs[i]->id, p->device))
            dp = ht_sem_thing_prop(devs[i], p->device_prop);
    sp->dtype = p->has_type ? p->type : dp ? dp->dtype : HT_SEM_NUMBER;
    sp->title = ht_strdup(p->title          ? p->title
                          : dp && dp->title ? dp->title
                                            : p->name);
    const char *sem = p->semantic ? p->semantic : dp ? dp->sem_type : NULL;
    sp->sem_type = sem ? ht_strdup(sem) : NULL;
    const char *unit = p->unit ? p->unit : dp ? dp->unit : NULL;
    sp->unit = unit ? ht_strdup(unit) : NULL;
    sp->has_min = p->has_min;
    sp->min = p->min;
    sp->has_max = p->has_max;
    sp->max = p->max;
    sp->has_step = p->has_step;
    sp->step = p->step;
    sp->read_only = !p->writable;
    sp->observable = true;
}

json_t *ht_twin_td_build(const struct ht_twin_model *m,
                         const struct ht_sem_thing *const *devs, size_t ndevs,
                         const struct ht_sem_forms *forms)
{
    if (!m)
        return NULL;
    struct ht_sem_thing th = {0};
    size_t n = m->ntprops;
    for (size_t c = 0; c < m->ncomps; c++)
        n += m->comps[c].nprops;
    th.id = m->id;
    th.title = m->title;
    th.description = m->description;
    th.props = ht_calloc(n + 1, sizeof *th.props);
    for (size_t c = 0; c < m->ncomps; c++)
        for (size_t p = 0; p < m->comps[c].nprops; p++) {
            struct ht_sem_prop *sp = &th.props[th.nprops++];
            sp->name =
                ht_asprintf("%s.%s", m->comps[c].id, m->comps[c].props[p].name);
            fill_prop(sp, &m->comps[c].props[p], devs, ndevs);
        }
    for (size_t i = 0; i < m->ntprops; i++) {
        const struct ht_twin_tprop *tp = &m->tprops[i];
        struct ht_sem_prop *sp = &th.props[th.nprops++];
        sp->name = ht_asprintf(HT_TWIN_SELF ".%s", tp->name);
        sp->title = ht_strdup(tp->title ? tp->title : tp->name);
        sp->dtype = tp->type;
        sp->unit = tp->unit ? ht_strdup(tp->unit) : NULL;
        sp->has_min = tp->has_min;
        sp->min = tp->min;
        sp->has_max = tp->has_max;
        sp->max = tp->max;
        sp->has_step = tp->has_step;
        sp->step = tp->step;
        sp->read_only = false;
        sp->observable = true;
    }
    struct ht_sem_forms f = forms ? *forms : (struct ht_sem_forms){0};
    f.kind = "twin";
    json_t *td = ht_sem_td_build(&th, &f);
    /* th borrows id/title/description from the model: free only props. */
    for (size_t i = 0; i < th.nprops; i++) {
        free(th.props[i].name);
        free(th.props[i].title);
        free(th.props[i].sem_type);
        free(th.props[i].unit);
    }
    free(th.props);
    return td;
}
