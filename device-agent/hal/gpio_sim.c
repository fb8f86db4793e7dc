/* gpio_sim.c - a simulated GPIO chip behind the ht_gpio interface.
 *
 * Each input line with edge detection owns an eventfd so the agent's loop
 * waits on it exactly as on a gpiod line event fd; edges are queued with
 * CLOCK_MONOTONIC timestamps like the kernel's. Levels are physical;
 * active-low is applied on get/set and to the edge direction, as the
 * kernel does for a line requested active-low.
 */
#include "gpio_sim.h"

#include "ht_err.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

enum { MODE_NONE, MODE_IN, MODE_OUT };

struct sim_line {
    int mode;
    unsigned edges;
    unsigned flags;
    int level;    /* physical */
    int last_set; /* logical, -1 = never */
    unsigned fail_sets;
    int efd;
    struct ht_gpio_event *q; /* ring of HT_GPIO_SIM_QUEUE, allocated lazily */
    unsigned head, count;
    uint64_t dropped;
};

struct sim_chip {
    struct ht_gpio g;
    unsigned n;
    struct sim_line *lines;
    ht_gpio_sim_set_cb on_set;
    void *on_set_ud;
};

static struct sim_chip *chip(struct ht_gpio *g)
{
    return g->priv;
}

static struct sim_line *line_of(struct ht_gpio *g, unsigned line)
{
    struct sim_chip *c = chip(g);
    return line < c->n ? &c->lines[line] : NULL;
}

static int logical(const struct sim_line *l)
{
    return (l->flags & HT_GPIO_ACTIVE_LOW) ? !l->level : l->level;
}

static int sim_request_input(struct ht_gpio *g, unsigned line, unsigned edges,
                             unsigned flags)
{
    struct sim_line *l = line_of(g, line);
    if (!l)
        return HT_EINVAL;
    if (l->mode != MODE_NONE)
        return -EBUSY;
    if (edges != HT_GPIO_EDGE_NONE) {
        l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (l->efd < 0)
            return -errno;
        l->q = ht_calloc(HT_GPIO_SIM_QUEUE, sizeof *l->q);
    }
    l->mode = MODE_IN;
    l->edges = edges;
    l->flags = flags;
    /* Bias decides the idle level of an unconnected sim line. */
    if (flags & HT_GPIO_BIAS_PULL_UP)
        l->level = 1;
    else if (flags & HT_GPIO_BIAS_PULL_DOWN)
        l->level = 0;
    return HT_OK;
}

static int sim_request_output(struct ht_gpio *g, unsigned line, int initial,
                              unsigned flags)
{
    struct sim_line *l = line_of(g, line);
    if (!l)
        return HT_EINVAL;
    if (l->mode != MODE_NONE)
        return -EBUSY;
    l->mode = MODE_OUT;
    l->flags = flags;
    l->last_set = initial ? 1 : 0;
    l->level = (flags & HT_GPIO_ACTIVE_LOW) ? !l->last_set : l->last_set;
    /* The initial level is a level the outside world sees too. */
    struct sim_chip *c = chip(g);
    if (c->on_set)
        c->on_set(c->on_set_ud, line, l->last_set);
    return HT_OK;
}

static int sim_get(struct ht_gpio *g, unsigned line, int *value)
{
    struct sim_line *l = line_of(g, line);
    if (!l || l->mode == MODE_NONE)
        return HT_EINVAL;
    *value = logical(l);
    return HT_OK;
}

static int sim_set(struct ht_gpio *g, unsigned line, int value)
{
    struct sim_line *l = line_of(g, line);
    if (!l || l->mode != MODE_OUT)
        return HT_EINVAL;
    if (l->fail_sets) {
        l->fail_sets--;
        return HT_EIO;
    }
    l->last_set = value ? 1 : 0;
    l->level = (l->flags & HT_GPIO_ACTIVE_LOW) ? !l->last_set : l->last_set;
    struct sim_chip *c = chip(g);
    if (c->on_set)
        c->on_set(c->on_set_ud, line, l->last_set);
    return HT_OK;
}

static int sim_event_fd(struct ht_gpio *g, unsigned line)
{
    struct sim_line *l = line_of(g, line);
    return l && l->mode == MODE_IN && l->q ? l->efd : -1;
}

static int sim_read_event(struct ht_gpio *g, unsigned line,
                          struct ht_gpio_event *ev)
{
    struct sim_line *l = line_of(g, line);
    if (!l || !l->q)
        return HT_EINVAL;
    if (l->count == 0) {
        /* Reset the eventfd counter so poll() stops reporting it. */
        uint64_t v;
        if (read(l->efd, &v, sizeof v) < 0 && errno != EAGAIN)
            return -errno;
        return HT_EAGAIN;
    }
    *ev = l->q[l->head];
    l->head = (l->head + 1) % HT_GPIO_SIM_QUEUE;
    l->count--;
    return HT_OK;
}

static void sim_free(struct ht_gpio *g)
{
    struct sim_chip *c = chip(g);
    for (unsigned i = 0; i < c->n; i++) {
        if (c->lines[i].q)
            close(c->lines[i].efd);
        free(c->lines[i].q);
    }
    free(c->lines);
    free(c);
}

static const struct ht_gpio_ops sim_ops = {
    .request_input = sim_request_input,
    .request_output = sim_request_output,
    .get = sim_get,
    .set = sim_set,
    .event_fd = sim_event_fd,
    .read_event = sim_read_event,
    .free = sim_free,
};

int ht_gpio_new_sim(unsigned nlines, struct ht_gpio **out)
{
    *out = NULL;
    if (nlines == 0 || nlines > 1024)
        return HT_EINVAL;
    struct sim_chip *c = ht_calloc(1, sizeof *c);
    c->n = nlines;
    c->lines = ht_calloc(nlines, sizeof *c->lines);
    for (unsigned i = 0; i < nlines; i++) {
        c->lines[i].last_set = -1;
        c->lines[i].efd = -1;
    }
    c->g.ops = &sim_ops;
    c->g.priv = c;
    *out = &c->g;
    return HT_OK;
}

int ht_gpio_sim_inject_ts(struct ht_gpio *g, unsigned line, int v,
                          uint64_t ts_ns)
{
    struct sim_line *l = line_of(g, line);
    if (!l || l->mode == MODE_OUT)
        return HT_EINVAL;
    v = v ? 1 : 0;
    if (l->level == v)
        return HT_OK;
    l->level = v;
    if (l->mode != MODE_IN || !l->q)
        return HT_OK;
    int rising = logical(l);
    if (!((rising && (l->edges & HT_GPIO_EDGE_RISING)) ||
          (!rising && (l->edges & HT_GPIO_EDGE_FALLING))))
        return HT_OK;
    if (l->count == HT_GPIO_SIM_QUEUE) {
        l->head = (l->head + 1) % HT_GPIO_SIM_QUEUE;
        l->count--;
        l->dropped++;
    }
    struct ht_gpio_event *ev = &l->q[(l->head + l->count) % HT_GPIO_SIM_QUEUE];
    ev->line = line;
    ev->rising = rising;
    ev->ts_ns = ts_ns;
    l->count++;
    uint64_t one = 1;
    if (write(l->efd, &one, sizeof one) < 0)
        return -errno;
    return HT_OK;
}

int ht_gpio_sim_inject(struct ht_gpio *g, unsigned line, int v)
{
    return ht_gpio_sim_inject_ts(g, line, v, ht_mono_ns());
}

int ht_gpio_sim_last_set(struct ht_gpio *g, unsigned line)
{
    struct sim_line *l = line_of(g, line);
    return l && l->mode == MODE_OUT ? l->last_set : -1;
}

void ht_gpio_sim_fail_set(struct ht_gpio *g, unsigned line, unsigned n)
{
    struct sim_line *l = line_of(g, line);
    if (l)
        l->fail_sets = n;
}

void ht_gpio_sim_on_set(struct ht_gpio *g, ht_gpio_sim_set_cb cb, void *ud)
{
    chip(g)->on_set = cb;
    chip(g)->on_set_ud = ud;
}

uint64_t ht_gpio_sim_dropped(struct ht_gpio *g, unsigned line)
{
    struct sim_line *l = line_of(g, line);
    return l ? l->dropped : 0;
}

unsigned ht_gpio_sim_nlines(struct ht_gpio *g)
{
    return chip(g)->n;
}
