/* caps.c - the capability runtime: digital inputs with software debounce,
 * outputs, pulse counters, quadrature encoders, sysfs analog sources and
 * setpoints, and the publish policy (on change, deadband, min/max
 * interval).
 *
 * Inputs are event driven: the loop waits on each line's event fd and the
 * kernel timestamp of the edge becomes the value's "ts". Only counters
 * (their window), analog sources (their period) and a pending debounce or
 * min-interval hold arm timers, so an idle board does not wake up.
 */
#include "agent_internal.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t agent__wall_ms(uint64_t mono_ns)
{
    uint64_t now = ht_mono_ns();
    int64_t wall = ht_time_ms();
    if (mono_ns > now || mono_ns == 0)
        return wall;
    return wall - (int64_t)((now - mono_ns) / 1000000u);
}

struct cap *agent__cap_find(struct ht_agent *a, const char *name)
{
    for (size_t i = 0; name && i < a->ncaps; i++)
        if (!strcmp(a->caps[i].c->name, name))
            return &a->caps[i];
    return NULL;
}

static json_t *num_value(const struct ht_cap_conf *c, double v)
{
    if (c->dtype == HT_SEM_INTEGER)
        return json_integer((json_int_t)llround(v));
    if (c->decimals >= 0) {
        double f = pow(10, c->decimals);
        v = round(v * f) / f;
    }
    return json_real(v);
}

/* ---- publish policy ---- */

static bool differs(const struct cap *cap, const json_t *v)
{
    if (!cap->last_pub)
        return true;
    if (json_is_number(v) && json_is_number(cap->last_pub)) {
        double d = fabs(json_number_value(v) - json_number_value(cap->last_pub));
        return cap->c->deadband > 0 ? d >= cap->c->deadband : d > 0;
    }
    return !json_equal((json_t *)v, cap->last_pub);
}

static void publish_now(struct cap *cap, json_t *v, int64_t ts)
{
    json_decref(cap->last_pub);
    cap->last_pub = json_incref(v);
    cap->last_pub_ms = ht_loop_now(cap->a->loop);
    agent__emit(cap->a, cap->c->name, v, ts);
}

/* Arm the policy timer for whichever comes first: the end of a
 * min-interval hold or the max-interval heartbeat. */
static void arm_policy(struct cap *cap)
{
    const struct ht_cap_conf *c = cap->c;
    uint64_t now = ht_loop_now(cap->a->loop);
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
    uint64_t now = ht_loop_now(cap->a->loop);
    if (cap->pending &&
        now >= cap->last_pub_ms + cap->c->min_interval_ms) {
        json_t *v = cap->pending;
        cap->pending = NULL;
        publish_now(cap, v, cap->pending_ts);
        json_decref(v);
    } else if (cap->c->max_interval_ms && cap->last_pub &&
               now >= cap->last_pub_ms + cap->c->max_interval_ms) {
        json_t *v = json_incref(cap->value ? cap->value : cap->last_pub);
        publish_now(cap, v, ht_time_ms());
        json_decref(v);
    }
    arm_policy(cap);
}

void agent__cap_update(struct cap *cap, json_t *v, int64_t ts_ms)
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
    uint64_t now = ht_loop_now(cap->a->loop);
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
    publish_now(cap, v, ts_ms);
    json_decref(v);
    arm_policy(cap);
}

/* ---- digital inputs ---- */

static void input_settled(struct ht_timer *t, void *ud)
{
    (void)t;
    struct cap *cap = ud;
    int v;
    if (ht_gpio_get(cap->a->gpio, cap->c->line, &v) != HT_OK)
        return;
    if (v != cap->stable) {
        cap->stable = v;
        agent__cap_update(cap, json_boolean(v), cap->edge_ts);
    }
}

/* Edges restart the debounce timer; the level is read once the line has
 * been quiet for debounce_ms, and carries the last edge's timestamp. */
static void on_input(struct ht_io *io, int fd, unsigned ev, void *ud)
{
    (void)io;
    (void)fd;
    (void)ev;
    struct cap *cap = ud;
    struct ht_gpio_event e;
    bool any = false;
    int last = cap->stable;
    while (ht_gpio_read_event(cap->a->gpio, cap->c->line, &e) == HT_OK) {
        any = true;
        last = e.rising;
        cap->edge_ts = agent__wall_ms(e.ts_ns);
        if (!cap->c->debounce_ms && last != cap->stable) {
            cap->stable = last;
            agent__cap_update(cap, json_boolean(last), cap->edge_ts);
        }
    }
    if (any && cap->c->debounce_ms)
        ht_timer_start(cap->tm, cap->c->debounce_ms, 0);
}

/* ---- counters ---- */

static void on_count(struct ht_io *io, int fd, unsigned ev, void *ud)
{
    (void)io;
    (void)fd;
    (void)ev;
    struct cap *cap = ud;
    struct ht_gpio_event e;
    while (ht_gpio_read_event(cap->a->gpio, cap->c->line, &e) == HT_OK) {
        if (!e.rising)
            continue;
        if (cap->count == 0)
            cap->first_ns = e.ts_ns;
        cap->count++;
        cap->last_ns = e.ts_ns;
    }
}

/* Rate from edge timestamps: n edges since the last edge of the previous
 * window over the time they span, so the result does not jitter with how
 * edges fall into windows. */
static void on_window(struct ht_timer *t, void *ud)
{
    (void)t;
    struct cap *cap = ud;
    const struct ht_cap_conf *c = cap->c;
    double per_s = 0;
    if (cap->count > 0) {
        uint64_t start = cap->prev_ns ? cap->prev_ns : cap->first_ns;
        uint64_t n = cap->prev_ns ? cap->count : cap->count - 1;
        if (cap->last_ns > start && n > 0)
            per_s = (double)n * 1e9 / (double)(cap->last_ns - start);
        else
            per_s = (double)cap->count * 1000.0 / c->window_ms;
        cap->prev_ns = cap->last_ns;
        cap->idle_windows = 0;
    } else if (cap->prev_ns) {
        /* No edge this window: the rate is at most one edge per elapsed
         * time; after two empty windows the shaft has stopped. */
        if (++cap->idle_windows >= 2) {
            cap->prev_ns = 0;
            per_s = 0;
        } else {
            uint64_t dt = ht_mono_ns() - cap->prev_ns;
            per_s = dt ? 1e9 / (double)dt : 0;
            json_t *cur = cap->value;
            if (cur && json_number_value(cur) * c->ppr / c->scale < per_s)
                per_s = json_number_value(cur) * c->ppr / c->scale;
        }
    }
    cap->count = 0;
    agent__cap_update(cap, num_value(c, per_s * c->scale / c->ppr),
                      ht_time_ms());
}

/* ---- encoders ---- */

int ht_agent_quad_step(unsigned prev, unsigned cur)
{
    /* Gray-code order 00 -> 10 -> 11 -> 01 -> 00 is one direction. */
    static const signed char tab[4][4] = {
        /* cur:  00  01  10  11 */
        /*00*/ {0, -1, +1, 0},
        /*01*/ {+1, 0, 0, -1},
        /*10*/ {-1, 0, 0, +1},
        /*11*/ {0, +1, -1, 0},
    };
    return tab[prev & 3][cur & 3];
}

/* Apply one edge of line A or B to the quadrature state. */
static void encoder_edge(struct cap *cap, bool is_a, int rising)
{
    if (is_a)
        cap->level_a = rising;
    else
        cap->level_b = rising;
    unsigned cur = (unsigned)((cap->level_a << 1) | cap->level_b);
    cap->accum += ht_agent_quad_step(cap->qstate, cur);
    cap->qstate = cur;
}

/* The two lines have separate event queues, but quadrature decoding needs
 * the edges in the order they happened: drain both and merge them by
 * kernel timestamp. */
static void encoder_events(struct cap *cap)
{
    const struct ht_cap_conf *c = cap->c;
    struct ht_gpio *g = cap->a->gpio;
    struct ht_gpio_event ea, eb;
    bool ha = ht_gpio_read_event(g, c->line, &ea) == HT_OK;
    bool hb = ht_gpio_read_event(g, c->line_b, &eb) == HT_OK;
    if (!ha && !hb)
        return;
    uint64_t last_ns = 0;
    while (ha || hb) {
        if (ha && (!hb || ea.ts_ns <= eb.ts_ns)) {
            encoder_edge(cap, true, ea.rising);
            last_ns = ea.ts_ns;
            ha = ht_gpio_read_event(g, c->line, &ea) == HT_OK;
        } else {
            encoder_edge(cap, false, eb.rising);
            last_ns = eb.ts_ns;
            hb = ht_gpio_read_event(g, c->line_b, &eb) == HT_OK;
        }
    }
    long lo = c->has_min ? (long)ceil(c->min) * c->divider : LONG_MIN;
    long hi = c->has_max ? (long)floor(c->max) * c->divider : LONG_MAX;
    if (cap->accum < lo)
        cap->accum = lo;
    if (cap->accum > hi)
        cap->accum = hi;
    long pos = cap->accum / c->divider;
    agent__cap_update(cap, json_integer(pos), agent__wall_ms(last_ns));
}

static void on_enc(struct ht_io *io, int fd, unsigned ev, void *ud)
{
    (void)io;
    (void)fd;
    (void)ev;
    encoder_events(ud);
}

/* ---- analog ---- */

int ht_agent_parse_analog(const char *text, enum ht_analog_fmt fmt,
                          double scale, double offset, double *out)
{
    char *end;
    double v;
    if (!text)
        return HT_EPARSE;
    switch (fmt) {
    case HT_ANALOG_W1_SLAVE: {
        /* Two lines; the first ends in YES when the CRC matched. */
        const char *nl = strchr(text, '\n');
        if (!nl || nl - text < 3 || strncmp(nl - 3, "YES", 3))
            return HT_EPARSE;
        const char *t = strstr(nl, "t=");
        if (!t)
            return HT_EPARSE;
        v = strtod(t + 2, &end);
        if (end == t + 2)
            return HT_EPARSE;
        v /= 1000.0;
        break;
    }
    case HT_ANALOG_MILLI:
    case HT_ANALOG_RAW:
    case HT_ANALOG_IIO:
        v = strtod(text, &end);
        if (end == text)
            return HT_EPARSE;
        while (*end == ' ' || *end == '\n' || *end == '\t')
            end++;
        if (*end)
            return HT_EPARSE;
        if (fmt == HT_ANALOG_MILLI)
            v /= 1000.0;
        break;
    default:
        return HT_EPARSE;
    }
    if (!isfinite(v))
        return HT_EPARSE;
    if (fmt == HT_ANALOG_IIO)
        *out = (v + offset) * scale;
    else
        *out = v * scale + offset;
    return HT_OK;
}

/* sysfs attributes are tiny and never block on read, so reading them on the
 * loop is fine (unlike regular files on slow storage). */
static int read_small(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return HT_EIO;
    size_t got = fread(buf, 1, n - 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return HT_EIO;
    buf[got] = '\0';
    return HT_OK;
}

void agent__cap_poll(struct cap *cap)
{
    const struct ht_cap_conf *c = cap->c;
    double v;
    int rc;
    if (c->sim) {
        rc = cap->a->plant ? agent__plant_read(cap->a->plant, c->name, &v)
                           : HT_ENOENT;
    } else {
        char buf[256];
        double scale = c->scale;
        rc = read_small(c->path, buf, sizeof buf);
        if (rc == HT_OK && c->scale_path) {
            char sb[64];
            double s;
            if (read_small(c->scale_path, sb, sizeof sb) == HT_OK &&
                ht_agent_parse_analog(sb, HT_ANALOG_RAW, 1, 0, &s) == HT_OK)
                scale *= s;
        }
        if (rc == HT_OK)
            rc = ht_agent_parse_analog(buf, c->format, scale, c->offset, &v);
    }
    if (rc != HT_OK) {
        if (!cap->warned)
            ht_log(LOG_WARNING, "agent", "%s: cannot read %s: %s", c->name,
                   c->sim ? "sim sensor" : c->path, ht_strerror(rc));
        cap->warned = true;
        return;
    }
    cap->warned = false;
    agent__cap_update(cap, num_value(c, v), ht_time_ms());
}

static void on_poll(struct ht_timer *t, void *ud)
{
    (void)t;
    agent__cap_poll(ud);
}

/* ---- writes ---- */

json_t *agent__cap_write(struct cap *cap, const json_t *v, const char **code,
                         char *msg, size_t msglen)
{
    const struct ht_cap_conf *c = cap->c;
    json_t *out = NULL;
    if (c->kind == HT_CAP_OUTPUT) {
        int want = json_is_true(v);
        int rc = ht_gpio_set(cap->a->gpio, c->line, want);
        int got = -1;
        if (rc == HT_OK)
            rc = ht_gpio_get(cap->a->gpio, c->line, &got);
        if (rc != HT_OK || got != want) {
            *code = "hw_error";
            snprintf(msg, msglen, "%s: line %u: %s", c->name, c->line,
                     rc != HT_OK ? ht_strerror(rc) : "read back a different "
                                                     "level");
            return NULL;
        }
        out = json_boolean(got);
        if (cap->a->plant)
            agent__plant_notify(cap->a->plant, c->name, got);
    } else if (c->kind == HT_CAP_SETPOINT) {
        out = num_value(c, json_number_value(v));
        if (cap->a->plant)
            agent__plant_notify(cap->a->plant, c->name, json_number_value(v));
    } else {
        *code = "read_only";
        snprintf(msg, msglen, "%s is read-only", c->name);
        return NULL;
    }
    agent__cap_update(cap, json_incref(out), ht_time_ms());
    return out;
}

/* ---- start / stop ---- */

static int start_one(struct cap *cap, char *err, size_t errlen)
{
    struct ht_agent *a = cap->a;
    const struct ht_cap_conf *c = cap->c;
    struct ht_loop *l = a->loop;
    int rc = HT_OK;
    if (c->min_interval_ms || c->max_interval_ms)
        cap->pub_tm = ht_timer_new(l, on_policy, cap);
    switch (c->kind) {
    case HT_CAP_INPUT:
        rc = ht_gpio_request_input(a->gpio, c->line, HT_GPIO_EDGE_BOTH,
                                   c->flags);
        if (rc == HT_OK)
            rc = ht_gpio_get(a->gpio, c->line, &cap->stable);
        if (rc != HT_OK)
            break;
        cap->io = ht_io_new(l, ht_gpio_event_fd(a->gpio, c->line),
                            HT_LOOP_READ, on_input, cap);
        cap->tm = ht_timer_new(l, input_settled, cap);
        agent__cap_update(cap, json_boolean(cap->stable), ht_time_ms());
        break;
    case HT_CAP_OUTPUT:
        rc = ht_gpio_request_output(a->gpio, c->line, c->initial, c->flags);
        if (rc != HT_OK)
            break;
        if (a->plant)
            agent__plant_notify(a->plant, c->name, c->initial);
        agent__cap_update(cap, json_boolean(c->initial), ht_time_ms());
        break;
    case HT_CAP_COUNTER:
        rc = ht_gpio_request_input(a->gpio, c->line, HT_GPIO_EDGE_RISING,
                                   c->flags);
        if (rc != HT_OK)
            break;
        cap->io = ht_io_new(l, ht_gpio_event_fd(a->gpio, c->line),
                            HT_LOOP_READ, on_count, cap);
        cap->tm = ht_timer_new(l, on_window, cap);
        ht_timer_start(cap->tm, c->window_ms, c->window_ms);
        agent__cap_update(cap, num_value(c, 0), ht_time_ms());
        break;
    case HT_CAP_ENCODER:
        rc = ht_gpio_request_input(a->gpio, c->line, HT_GPIO_EDGE_BOTH,
                                   c->flags);
        if (rc == HT_OK)
            rc = ht_gpio_request_input(a->gpio, c->line_b, HT_GPIO_EDGE_BOTH,
                                       c->flags);
        if (rc == HT_OK)
            rc = ht_gpio_get(a->gpio, c->line, &cap->level_a);
        if (rc == HT_OK)
            rc = ht_gpio_get(a->gpio, c->line_b, &cap->level_b);
        if (rc != HT_OK)
            break;
        cap->qstate = (unsigned)((cap->level_a << 1) | cap->level_b);
        cap->io = ht_io_new(l, ht_gpio_event_fd(a->gpio, c->line),
                            HT_LOOP_READ, on_enc, cap);
        cap->io_b = ht_io_new(l, ht_gpio_event_fd(a->gpio, c->line_b),
                              HT_LOOP_READ, on_enc, cap);
        if (c->has_min && c->min > 0)
            cap->accum = (long)ceil(c->min) * c->divider;
        agent__cap_update(cap, json_integer(cap->accum / c->divider),
                          ht_time_ms());
        break;
    case HT_CAP_ANALOG:
        cap->tm = ht_timer_new(l, on_poll, cap);
        ht_timer_start(cap->tm, c->period_ms, c->period_ms);
        agent__cap_poll(cap);
        break;
    case HT_CAP_SETPOINT:
        if (a->plant)
            agent__plant_notify(a->plant, c->name, c->initial_value);
        agent__cap_update(cap, num_value(c, c->initial_value), ht_time_ms());
        break;
    }
    if (rc != HT_OK)
        snprintf(err, errlen, "%s: cannot request line %u: %s", c->name,
                 c->line, ht_strerror(rc));
    return rc;
}

int agent__caps_start(struct ht_agent *a, char *err, size_t errlen)
{
    for (size_t i = 0; i < a->ncaps; i++) {
        int rc = start_one(&a->caps[i], err, errlen);
        if (rc != HT_OK)
            return rc;
    }
    return HT_OK;
}

void agent__caps_stop(struct ht_agent *a, bool apply_safe)
{
    for (size_t i = 0; i < a->ncaps; i++) {
        struct cap *cap = &a->caps[i];
        if (apply_safe && cap->c->kind == HT_CAP_OUTPUT && cap->c->safe >= 0) {
            int rc = ht_gpio_set(a->gpio, cap->c->line, cap->c->safe);
            if (rc != HT_OK)
                ht_log(LOG_ERR, "agent", "%s: safe value not applied: %s",
                       cap->c->name, ht_strerror(rc));
            else if (!cap->last_pub ||
                     json_is_true(cap->last_pub) != (cap->c->safe == 1)) {
                /* Bypass min_interval: this is the last word. */
                json_t *v = json_boolean(cap->c->safe);
                publish_now(cap, v, ht_time_ms());
                json_decref(v);
            }
        }
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
