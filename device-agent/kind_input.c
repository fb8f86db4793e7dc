/* kind_input.c - digital inputs (buttons, switches, presence) with
 * software debounce.
 *
 * Event driven: the loop waits on the line's event fd and the kernel
 * timestamp of the edge becomes the value's "ts".
 */
#include "caps_internal.h"

#include "ht_err.h"
#include "ht_util.h"

#include <stdio.h>

static void defaults(struct ht_cap_conf *c, const struct ht_sem_term *t)
{
    (void)t;
    c->debounce_ms = 20;
}

static void input_settled(struct ht_timer *t, void *ud)
{
    (void)t;
    struct cap *cap = ud;
    int v;
    if (ht_gpio_get(caps__gpio(cap), cap->c->line, &v) != HT_OK)
        return;
    if (v != cap->stable) {
        cap->stable = v;
        caps__update(cap, json_boolean(v), cap->edge_ts);
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
    while (ht_gpio_read_event(caps__gpio(cap), cap->c->line, &e) == HT_OK) {
        any = true;
        last = e.rising;
        cap->edge_ts = caps__wall_ms(e.ts_ns);
        if (!cap->c->debounce_ms && last != cap->stable) {
            cap->stable = last;
            caps__update(cap, json_boolean(last), cap->edge_ts);
        }
    }
    if (any && cap->c->debounce_ms)
        ht_timer_start(cap->tm, cap->c->debounce_ms, 0);
}

static int start(struct cap *cap, char *err, size_t errlen)
{
    const struct ht_cap_conf *c = cap->c;
    struct ht_gpio *g = caps__gpio(cap);
    int rc = ht_gpio_request_input(g, c->line, HT_GPIO_EDGE_BOTH, c->flags);
    if (rc == HT_OK)
        rc = ht_gpio_get(g, c->line, &cap->stable);
    if (rc != HT_OK)
        return caps__line_err(cap, rc, err, errlen);
    cap->io = caps__watch(cap, c->line, on_input);
    cap->tm = ht_timer_new(caps__loop(cap), input_settled, cap);
    caps__update(cap, json_boolean(cap->stable), ht_time_ms());
    return HT_OK;
}

const struct cap_kind caps__kind_input = {
    .name = "input",
    .dtype = HT_SEM_BOOLEAN,
    .nlines = 1,
    .defaults = defaults,
    .start = start,
};
