/* caps.c - the capability set and what every kind shares: the kind table,
 * the publish policy (on change, deadband, min/max interval), writes and
 * start/stop. What each kind does with lines, files and channels lives in
 * kind_<name>.c.
 *
 * Only counters (their window), analog sources (their period) and a
 * pending debounce or min-interval hold arm timers, so an idle board does
 * not wake up.
 */
#include "caps_internal.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct caps {
    struct ht_loop *loop;
    struct ht_gpio *gpio;
    struct ht_analog *analog;
    struct cap *caps;
    size_t n;
    caps_publish_cb cb;
    void *ud;
};

/* Indexed by enum ht_cap_kind. */
static const struct cap_kind *const kinds[] = {
    [HT_CAP_INPUT] = &caps__kind_input,
    [HT_CAP_OUTPUT] = &caps__kind_output,
    [HT_CAP_COUNTER] = &caps__kind_counter,
    [HT_CAP_ENCODER] = &caps__kind_encoder,
    [HT_CAP_ANALOG] = &caps__kind_analog,
    [HT_CAP_SETPOINT] = &caps__kind_setpoint,
};

const struct cap_kind *caps__kind(enum ht_cap_kind k)
{
    return kinds[k];
}

const struct cap_kind *caps__kind_find(const char *name, enum ht_cap_kind *k)
{
    for (size_t i = 0; name && i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(kinds[i]->name, name)) {
            *k = (enum ht_cap_kind)i;
            return kinds[i];
        }
    return NULL;
}

int64_t caps__wall_ms(uint64_t mono_ns)
{
    uint64_t now = ht_mono_ns();
    int64_t wall = ht_time_ms();
    if (mono_ns > now || mono_ns == 0)
        return wall;
    return wall - (int64_t)((now - mono_ns) / 1000000u);
}

json_t *caps__num(const struct ht_cap_conf *c, double v)
{
    if (c->dtype == HT_SEM_INTEGER)
        return json_integer((json_int_t)llround(v));
    if (c->decimals >= 0) {
        double f = pow(10, c->decimals);
        v = round(v * f) / f;
    }
    return json_real(v);
}

int caps__line_err(const struct cap *cap, int rc, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: cannot request line %u: %s", cap->c->name,
             cap->c->line, ht_strerror(rc));
    return rc;
}

struct ht_io *caps__watch(struct cap *cap, unsigned line, ht_io_cb cb)
{
    struct ht_gpio *g = cap->set->gpio;
    return ht_io_new(cap->set->loop, ht_gpio_event_fd(g, line), HT_LOOP_READ,
                     cb, cap);
}

struct ht_loop *caps__loop(const struct cap *cap)
{
    return cap->set->loop;
}

struct ht_gpio *caps__gpio(const struct cap *cap)
{
    return cap->set->gpio;
}

struct ht_analog *caps__analog(const struct cap *cap)
{
    return cap->set->analog;
}

size_t caps__count(const struct caps *s)
{
    return s->n;
}

struct cap *caps__at(struct caps *s, size_t i)
{
    return &s->caps[i];
}

struct cap *caps__find(struct caps *s, const char *name)
{
    for (size_t i = 0; name && i < s->n; i++)
        if (!strcmp(s->caps[i].c->name, name))
            return &s->caps[i];
    return NULL;
}

/* ---- publish policy ---- */

static bool differs(const struct cap *cap, const json_t *v)
{
    if (!cap->last_pub)
        return true;
    if (json_is_number(v) && json_is_number(cap->last_pub)) {
        double d =
            fabs(json_number_value(v) - json_number_value(cap->last_pub));
        return cap->c->deadband > 0 ? d >= cap->c->deadband : d > 0;
    }
    return !json_equal((json_t *)v, cap->last_pub);
}

static void arm_policy(struct cap *cap);

/* Every publish restarts the heartbeat: the TD promises the next one
 * within max_interval_ms of this, whichever path published. */
void caps__publish_now(struct cap *cap, json_t *v, int64_t ts)
{
    json_decref(cap->last_pub);
    cap->last_pub = json_incref(v);
    cap->last_pub_ms = ht_loop_now(cap->set->loop);
    cap->set->cb(cap->set->ud, cap, v, ts);
    if (cap->pub_tm)
        arm_policy(cap);
}

/* Arm the policy timer for whichever comes first: the end of a
 * min-interval hold or the max-interval heartbeat. */
static void arm_policy(struct cap *cap)
{
    const struct ht_cap_conf *c = cap->c;
    uint64_t now = ht_loop_now(cap->set->loop);
    uint64_t due = UINT64_MAX;
    if (cap->pending && c->min_interval_ms)
        due = cap->last_pub_ms + c->min_interval_ms;
    if (c->max_interval_ms && cap->last_pub) {
        uint64_t hb = cap->last_pub_ms + c->max_interval_ms;
        if (hb < due)
            due = hb;
    }
    if (due == UINT64_MAX) {
        if (cap->pub_tm)
            ht_timer_stop(cap->pub_tm);
        return;
    }
    ht_timer_start(cap->pub_tm, due > now ? due - now : 0, 0);
}

static void on_policy(struct ht_timer *t, void *ud)
{
    (void)t;
    struct cap *cap = ud;
    uint64_t now = ht_loop_now(cap->set->loop);
    if (cap->pending && now >= cap->last_pub_ms + cap->c->min_interval_ms) {
        json_t *v = cap->pending;
        cap->pending = NULL;
        caps__publish_now(cap, v, cap->pending_ts);
        json_decref(v);
    } else if (cap->c->max_interval_ms && cap->last_pub &&
               now >= cap->last_pub_ms + cap->c->max_interval_ms) {
        json_t *v = json_incref(cap->value ? cap->value : cap->last_pub);
        caps__publish_now(cap, v, ht_time_ms());
        json_decref(v);
    }
    arm_policy(cap);
}

void caps__update(struct cap *cap, json_t *v, int64_t ts_ms)
{
    json_decref(cap->value);
    cap->value = json_incref(v);
    if (!differs(cap, v)) {
        /* Back within the deadband: nothing held back any more. */
        json_decref(cap->pending);
        cap->pending = NULL;
        json_decref(v);
        arm_policy(cap);
        return;
    }
    uint64_t now = ht_loop_now(cap->set->loop);
    if (cap->last_pub && cap->c->min_interval_ms &&
        now < cap->last_pub_ms + cap->c->min_interval_ms) {
        json_decref(cap->pending);
        cap->pending = v;
        cap->pending_ts = ts_ms;
        arm_policy(cap);
        return;
    }
    json_decref(cap->pending);
    cap->pending = NULL;
    caps__publish_now(cap, v, ts_ms);
    json_decref(v);
    arm_policy(cap);
}

/* ---- writes and reads ---- */

json_t *caps__write(struct cap *cap, const json_t *v, const char **code,
                    char *msg, size_t msglen)
{
    if (!cap->kind->write) {
        *code = "read_only";
        snprintf(msg, msglen, "%s is read-only", cap->c->name);
        return NULL;
    }
    json_t *out = cap->kind->write(cap, v, code, msg, msglen);
    if (out)
        caps__update(cap, json_incref(out), ht_time_ms());
    return out;
}

void caps__sample(struct cap *cap)
{
    if (cap->kind->sample) {
        cap->kind->sample(cap);
    } else if (cap->value) {
        json_t *v = json_incref(cap->value);
        caps__publish_now(cap, v, ht_time_ms());
        json_decref(v);
    }
}

/* ---- start / stop ---- */

int caps__new(struct ht_loop *l, struct ht_gpio *g, struct ht_analog *an,
              const struct ht_agent_conf *conf,
              const struct ht_sem_thing *thing, caps_publish_cb cb, void *ud,
              struct caps **out, char *err, size_t errlen)
{
    struct caps *s = ht_calloc(1, sizeof *s);
    s->loop = l;
    s->gpio = g;
    s->analog = an;
    s->cb = cb;
    s->ud = ud;
    s->n = conf->ncaps;
    s->caps = ht_calloc(s->n + 1, sizeof *s->caps);
    for (size_t i = 0; i < s->n; i++) {
        struct cap *cap = &s->caps[i];
        cap->set = s;
        cap->idx = i;
        cap->c = &conf->caps[i];
        cap->kind = caps__kind(cap->c->kind);
        cap->prop = &thing->props[i];
    }
    *out = s;
    for (size_t i = 0; i < s->n; i++) {
        struct cap *cap = &s->caps[i];
        if (cap->c->min_interval_ms || cap->c->max_interval_ms)
            cap->pub_tm = ht_timer_new(l, on_policy, cap);
        int rc = cap->kind->start(cap, err, errlen);
        if (rc != HT_OK)
            return rc;
    }
    return HT_OK;
}

void caps__stop(struct caps *s, bool apply_safe)
{
    for (size_t i = 0; s && i < s->n; i++) {
        struct cap *cap = &s->caps[i];
        if (apply_safe && cap->kind->safe)
            cap->kind->safe(cap);
        ht_io_free(cap->io);
        ht_io_free(cap->io_b);
        ht_timer_free(cap->tm);
        ht_timer_free(cap->pub_tm);
        cap->io = cap->io_b = NULL;
        cap->tm = cap->pub_tm = NULL;
        json_decref(cap->value);
        json_decref(cap->last_pub);
        json_decref(cap->pending);
        cap->value = cap->last_pub = cap->pending = NULL;
    }
}

void caps__free(struct caps *s)
{
    if (!s)
        return;
    caps__stop(s, false);
    free(s->caps);
    free(s);
}
