/* kind_counter.c - pulse counters turned into a rate (tachometers, flow
 * meters): rising edges are counted on the line's event fd and a window
 * timer publishes edges/s x scale / ppr.
 */
#include "caps_internal.h"

#include "ht_err.h"
#include "ht_util.h"

#include <stdio.h>
#include <string.h>

/* rpm from the term's unit unless the config says otherwise. */
static void defaults(struct ht_cap_conf *c, const struct ht_sem_term *t)
{
    c->decimals = 1;
    if (t && t->unit && !strcmp(t->unit, "unit:REV-PER-MIN"))
        c->scale = 60;
}

static void on_count(struct ht_io *io, int fd, unsigned ev, void *ud)
{
    (void)io;
    (void)fd;
    (void)ev;
    struct cap *cap = ud;
    struct ht_gpio_event e;
    while (ht_gpio_read_event(caps__gpio(cap), cap->c->line, &e) == HT_OK) {
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
    caps__update(cap, caps__num(c, per_s * c->scale / c->ppr), ht_time_ms());
}

static int start(struct cap *cap, char *err, size_t errlen)
{
    const struct ht_cap_conf *c = cap->c;
    struct ht_gpio *g = caps__gpio(cap);
    int rc = ht_gpio_request_input(g, c->line, HT_GPIO_EDGE_RISING, c->flags);
    if (rc != HT_OK)
        return caps__line_err(cap, rc, err, errlen);
    cap->io = caps__watch(cap, c->line, on_count);
    cap->tm = ht_timer_new(caps__loop(cap), on_window, cap);
    ht_timer_start(cap->tm, c->window_ms, c->window_ms);
    caps__update(cap, caps__num(c, 0), ht_time_ms());
    return HT_OK;
}

const struct cap_kind caps__kind_counter = {
    .name = "counter",
    .dtype = HT_SEM_NUMBER,
    .numeric = true,
    .nlines = 1,
    .defaults = defaults,
    .start = start,
};
