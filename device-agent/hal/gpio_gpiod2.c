/* gpio_gpiod2.c - the libgpiod 2.x backend of the GPIO abstraction.
 *
 * The same backend as gpio_gpiod.c (libgpiod 1.6) for the 2.x API, which
 * Debian 13 and newer ship: the Makefile builds exactly one of the two,
 * by the version pkg-config reports. 2.x has no line objects: a line is
 * requested with settings (direction, edges, bias, active-low, initial
 * value) and the request is the handle for values and edge events. One
 * request per line, as in the 1.6 backend, so lines are requested and
 * released one at a time. The request's fd is set non-blocking so that
 * read_event can say HT_EAGAIN instead of stalling the agent's loop.
 * libgpiod reports errors as -1 + errno; they are converted here, once, to
 * -errno and logged.
 */
#include "device-agent/hal/gpio.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <gpiod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum line_mode {
    LINE_FREE = 0,
    LINE_INPUT,
    LINE_OUTPUT,
};

/* Our view of one line; misuse (set on an input, events on an output) is
 * answered from here with a clear message. */
struct gline {
    struct gpiod_line_request *req; /* NULL while free */
    enum line_mode mode;
    int fd; /* edge event fd (non-blocking) or -1 */
};

struct gchip {
    struct ht_gpio pub;
    struct gpiod_chip *chip;
    char *name;     /* as given (name or path), for messages */
    char *consumer; /* label shown by gpioinfo */
    unsigned nlines;
    struct gline *lines;
    struct gpiod_edge_event_buffer *events; /* one event at a time */
};

/* errno after a failed libgpiod call as a negative code, never 0. */
static int errno_code(void)
{
    return errno > 0 ? -errno : HT_EIO;
}

static struct gchip *chip_of(struct ht_gpio *g)
{
    return g->priv;
}

/* Offsets come from a config file: a typo names the chip and its size. */
static struct gline *line_at(struct gchip *c, unsigned line)
{
    if (line >= c->nlines) {
        ht_log(LOG_ERR, "gpio", "%s: line %u out of range (chip has %u lines)",
               c->name, line, c->nlines);
        return NULL;
    }
    return &c->lines[line];
}

/* Give a line back to the kernel (its fd closes with the request). */
static void line_release(struct gline *l)
{
    if (l->req)
        gpiod_line_request_release(l->req);
    l->req = NULL;
    l->mode = LINE_FREE;
    l->fd = -1;
}

/* Our flags onto line settings; HT_EINVAL for contradictory bias flags,
 * which the kernel would also refuse with a vaguer errno. */
static int apply_flags(struct gchip *c, unsigned line, unsigned flags,
                       struct gpiod_line_settings *s)
{
    unsigned bias = flags & (HT_GPIO_BIAS_PULL_UP | HT_GPIO_BIAS_PULL_DOWN |
                             HT_GPIO_BIAS_DISABLE);

    if (bias & (bias - 1)) {
        ht_log(LOG_ERR, "gpio", "%s: line %u: more than one bias flag", c->name,
               line);
        return HT_EINVAL;
    }
    if (flags & ~(unsigned)(HT_GPIO_ACTIVE_LOW | HT_GPIO_BIAS_PULL_UP |
                            HT_GPIO_BIAS_PULL_DOWN | HT_GPIO_BIAS_DISABLE)) {
        ht_log(LOG_ERR, "gpio", "%s: line %u: unknown flags 0x%x", c->name,
               line, flags);
        return HT_EINVAL;
    }
    gpiod_line_settings_set_active_low(s, (flags & HT_GPIO_ACTIVE_LOW) != 0);
    enum gpiod_line_bias b = GPIOD_LINE_BIAS_AS_IS;
    if (flags & HT_GPIO_BIAS_PULL_UP)
        b = GPIOD_LINE_BIAS_PULL_UP;
    else if (flags & HT_GPIO_BIAS_PULL_DOWN)
        b = GPIOD_LINE_BIAS_PULL_DOWN;
    else if (flags & HT_GPIO_BIAS_DISABLE)
        b = GPIOD_LINE_BIAS_DISABLED;
    if (gpiod_line_settings_set_bias(s, b) < 0)
        return errno_code();
    return HT_OK;
}

/* Request one line with settings s: the previous request of the line, if
 * any, is released first. The line's table entry is filled on success. */
static int request_line(struct gchip *c, unsigned line,
                        struct gpiod_line_settings *s, const char *what,
                        struct gline **out)
{
    struct gline *l = line_at(c, line);
    struct gpiod_line_config *lc = NULL;
    struct gpiod_request_config *rc = NULL;
    unsigned int offset = line;
    int err = HT_OK;

    *out = NULL;
    if (!l)
        return HT_EINVAL;
    line_release(l);
    lc = gpiod_line_config_new();
    rc = gpiod_request_config_new();
    if (!lc || !rc) {
        err = errno_code();
        goto out;
    }
    gpiod_request_config_set_consumer(rc, c->consumer);
    if (gpiod_line_config_add_line_settings(lc, &offset, 1, s) < 0) {
        err = errno_code();
        goto out;
    }
    l->req = gpiod_chip_request_lines(c->chip, rc, lc);
    if (!l->req) {
        err = errno_code();
        goto out;
    }
    *out = l;
out:
    if (err < 0)
        ht_log(LOG_ERR, "gpio", "%s: line %u: request %s: %s", c->name, line,
               what, ht_strerror(err));
    /* libgpiod does not promise that its _free(NULL) is a no-op. */
    if (rc)
        gpiod_request_config_free(rc);
    if (lc)
        gpiod_line_config_free(lc);
    return err;
}

/* An input with edge detection gets the request's fd, made non-blocking
 * because the agent reads it from its poll loop. Events carry
 * CLOCK_MONOTONIC timestamps (the 2.x default event clock). */
static int gpiod2_request_input(struct ht_gpio *g, unsigned line,
                                unsigned edges, unsigned flags)
{
    struct gchip *c = chip_of(g);
    struct gpiod_line_settings *s;
    struct gline *l;
    int err;
    static const enum gpiod_line_edge edge_of[] = {
        [HT_GPIO_EDGE_NONE] = GPIOD_LINE_EDGE_NONE,
        [HT_GPIO_EDGE_RISING] = GPIOD_LINE_EDGE_RISING,
        [HT_GPIO_EDGE_FALLING] = GPIOD_LINE_EDGE_FALLING,
        [HT_GPIO_EDGE_BOTH] = GPIOD_LINE_EDGE_BOTH,
    };

    if (edges > HT_GPIO_EDGE_BOTH) {
        ht_log(LOG_ERR, "gpio", "%s: line %u: bad edge selection %u", c->name,
               line, edges);
        return HT_EINVAL;
    }
    s = gpiod_line_settings_new();
    if (!s)
        return errno_code();
    err = apply_flags(c, line, flags, s);
    if (err == HT_OK &&
        (gpiod_line_settings_set_direction(s, GPIOD_LINE_DIRECTION_INPUT) < 0 ||
         gpiod_line_settings_set_edge_detection(s, edge_of[edges]) < 0 ||
         gpiod_line_settings_set_event_clock(s, GPIOD_LINE_CLOCK_MONOTONIC) <
             0))
        err = errno_code();
    if (err == HT_OK)
        err = request_line(c, line, s, "input", &l);
    gpiod_line_settings_free(s);
    if (err < 0)
        return err;
    l->mode = LINE_INPUT;
    if (edges != HT_GPIO_EDGE_NONE) {
        int fd = gpiod_line_request_get_fd(l->req);
        int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;

        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
            err = errno_code();
            ht_log(LOG_ERR, "gpio", "%s: line %u: event fd: %s", c->name, line,
                   ht_strerror(err));
            line_release(l);
            return err;
        }
        l->fd = fd;
    }
    return HT_OK;
}

/* The initial value is part of the request, so the pin never glitches
 * through a default level between request and first set. */
static int gpiod2_request_output(struct ht_gpio *g, unsigned line, int initial,
                                 unsigned flags)
{
    struct gchip *c = chip_of(g);
    struct gpiod_line_settings *s = gpiod_line_settings_new();
    struct gline *l;
    int err;

    if (!s)
        return errno_code();
    err = apply_flags(c, line, flags, s);
    if (err == HT_OK && (gpiod_line_settings_set_direction(
                             s, GPIOD_LINE_DIRECTION_OUTPUT) < 0 ||
                         gpiod_line_settings_set_output_value(
                             s, initial ? GPIOD_LINE_VALUE_ACTIVE
                                        : GPIOD_LINE_VALUE_INACTIVE) < 0))
        err = errno_code();
    if (err == HT_OK)
        err = request_line(c, line, s, "output", &l);
    gpiod_line_settings_free(s);
    if (err < 0)
        return err;
    l->mode = LINE_OUTPUT;
    return HT_OK;
}

/* The logical value (active-low applied by the kernel) of a requested
 * line of either direction. */
static int gpiod2_get(struct ht_gpio *g, unsigned line, int *value)
{
    struct gchip *c = chip_of(g);
    struct gline *l = line_at(c, line);
    int err;

    *value = 0;
    if (!l)
        return HT_EINVAL;
    if (l->mode == LINE_FREE) {
        ht_log(LOG_ERR, "gpio", "%s: line %u: get on a line not requested",
               c->name, line);
        return HT_ESTATE;
    }
    enum gpiod_line_value v = gpiod_line_request_get_value(l->req, line);
    if (v == GPIOD_LINE_VALUE_ERROR) {
        err = errno_code();
        ht_log(LOG_ERR, "gpio", "%s: line %u: get: %s", c->name, line,
               ht_strerror(err));
        return err;
    }
    *value = v == GPIOD_LINE_VALUE_ACTIVE;
    return HT_OK;
}

/* Drives the logical value; any non-zero value is 1, as for the sim. */
static int gpiod2_set(struct ht_gpio *g, unsigned line, int value)
{
    struct gchip *c = chip_of(g);
    struct gline *l = line_at(c, line);
    int err;

    if (!l)
        return HT_EINVAL;
    if (l->mode != LINE_OUTPUT) {
        ht_log(LOG_ERR, "gpio", "%s: line %u: set on a non-output line",
               c->name, line);
        return HT_ESTATE;
    }
    if (gpiod_line_request_set_value(l->req, line,
                                     value ? GPIOD_LINE_VALUE_ACTIVE
                                           : GPIOD_LINE_VALUE_INACTIVE) < 0) {
        err = errno_code();
        ht_log(LOG_ERR, "gpio", "%s: line %u: set: %s", c->name, line,
               ht_strerror(err));
        return err;
    }
    return HT_OK;
}

static int gpiod2_event_fd(struct ht_gpio *g, unsigned line)
{
    struct gchip *c = chip_of(g);

    /* "No fd" is an ordinary answer for outputs and plain inputs. */
    if (line >= c->nlines)
        return -1;
    return c->lines[line].fd;
}

/* One event per call through a one-event buffer; the fd is non-blocking,
 * so an empty queue is read(2)'s EAGAIN. */
static int gpiod2_read_event(struct ht_gpio *g, unsigned line,
                             struct ht_gpio_event *ev)
{
    struct gchip *c = chip_of(g);
    struct gline *l = line_at(c, line);
    int err;

    memset(ev, 0, sizeof(*ev));
    if (!l)
        return HT_EINVAL;
    if (l->fd < 0) {
        ht_log(LOG_ERR, "gpio",
               "%s: line %u: read_event on a line without edge events", c->name,
               line);
        return HT_ESTATE;
    }
    int n = gpiod_line_request_read_edge_events(l->req, c->events, 1);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return HT_EAGAIN;
        err = errno_code();
        ht_log(LOG_ERR, "gpio", "%s: line %u: read event: %s", c->name, line,
               ht_strerror(err));
        return err;
    }
    if (n == 0)
        return HT_EAGAIN;
    struct gpiod_edge_event *e =
        gpiod_edge_event_buffer_get_event(c->events, 0);
    ev->line = line;
    ev->rising =
        gpiod_edge_event_get_event_type(e) == GPIOD_EDGE_EVENT_RISING_EDGE;
    ev->ts_ns = gpiod_edge_event_get_timestamp_ns(e);
    return HT_OK;
}

/* Releases every request (the agent drives safe values before this) and
 * closes the chip. */
static void gpiod2_free(struct ht_gpio *g)
{
    struct gchip *c = chip_of(g);

    for (unsigned i = 0; i < c->nlines; i++)
        line_release(&c->lines[i]);
    gpiod_edge_event_buffer_free(c->events);
    gpiod_chip_close(c->chip);
    free(c->lines);
    free(c->name);
    free(c->consumer);
    free(c);
}

static const struct ht_gpio_ops gpiod2_ops = {
    .request_input = gpiod2_request_input,
    .request_output = gpiod2_request_output,
    .get = gpiod2_get,
    .set = gpiod2_set,
    .event_fd = gpiod2_event_fd,
    .read_event = gpiod2_read_event,
    .free = gpiod2_free,
};

/* 2.x opens chips by path only: a name as gpiodetect prints it
 * ("gpiochip0") is looked up under /dev, as 1.6's open_by_name did. */
int ht_gpio_new_gpiod(const char *chip, const char *consumer,
                      struct ht_gpio **out)
{
    struct gpiod_chip *gc;
    struct gpiod_chip_info *info;
    struct gchip *c;
    char path[256];
    int err;

    *out = NULL;
    if (!chip || !*chip) {
        ht_log(LOG_ERR, "gpio", "gpiod: no chip given");
        return HT_EINVAL;
    }
    if (strchr(chip, '/'))
        snprintf(path, sizeof path, "%s", chip);
    else
        snprintf(path, sizeof path, "/dev/%s", chip);
    gc = gpiod_chip_open(path);
    if (!gc) {
        err = errno_code();
        ht_log(LOG_ERR, "gpio", "%s: open: %s", chip, ht_strerror(err));
        return err;
    }
    info = gpiod_chip_get_info(gc);
    struct gpiod_edge_event_buffer *events = gpiod_edge_event_buffer_new(1);
    if (!info || !events) {
        err = errno_code();
        ht_log(LOG_ERR, "gpio", "%s: chip info: %s", chip, ht_strerror(err));
        if (info)
            gpiod_chip_info_free(info);
        if (events)
            gpiod_edge_event_buffer_free(events);
        gpiod_chip_close(gc);
        return err;
    }
    c = ht_calloc(1, sizeof(*c));
    c->chip = gc;
    c->events = events;
    c->name = ht_strdup(chip);
    c->consumer = ht_strdup(consumer && *consumer ? consumer : "holotwin");
    c->nlines = (unsigned)gpiod_chip_info_get_num_lines(info);
    gpiod_chip_info_free(info);
    c->lines = ht_calloc(c->nlines ? c->nlines : 1, sizeof(*c->lines));
    for (unsigned i = 0; i < c->nlines; i++)
        c->lines[i].fd = -1;
    c->pub.ops = &gpiod2_ops;
    c->pub.priv = c;
    *out = &c->pub;
    return HT_OK;
}
