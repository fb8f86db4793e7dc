/* kind_encoder.c - quadrature encoders on two lines: a position in
 * detents, clamped to the data schema's minimum and maximum.
 */
#include "caps_internal.h"

#include "ht_err.h"
#include "ht_util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>

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
    struct ht_gpio *g = caps__gpio(cap);
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
    caps__update(cap, json_integer(pos), caps__wall_ms(last_ns));
}

static void on_enc(struct ht_io *io, int fd, unsigned ev, void *ud)
{
    (void)io;
    (void)fd;
    (void)ev;
    encoder_events(ud);
}

static int start(struct cap *cap, char *err, size_t errlen)
{
    const struct ht_cap_conf *c = cap->c;
    struct ht_gpio *g = caps__gpio(cap);
    int rc = ht_gpio_request_input(g, c->line, HT_GPIO_EDGE_BOTH, c->flags);
    if (rc == HT_OK)
        rc = ht_gpio_request_input(g, c->line_b, HT_GPIO_EDGE_BOTH, c->flags);
    if (rc == HT_OK)
        rc = ht_gpio_get(g, c->line, &cap->level_a);
    if (rc == HT_OK)
        rc = ht_gpio_get(g, c->line_b, &cap->level_b);
    if (rc != HT_OK)
        return caps__line_err(cap, rc, err, errlen);
    cap->qstate = (unsigned)((cap->level_a << 1) | cap->level_b);
    cap->io = caps__watch(cap, c->line, on_enc);
    cap->io_b = caps__watch(cap, c->line_b, on_enc);
    if (c->has_min && c->min > 0)
        cap->accum = (long)ceil(c->min) * c->divider;
    caps__update(cap, json_integer(cap->accum / c->divider), ht_time_ms());
    return HT_OK;
}

const struct cap_kind caps__kind_encoder = {
    .name = "encoder",
    .dtype = HT_SEM_INTEGER,
    .numeric = true,
    .nlines = 2,
    .start = start,
};
