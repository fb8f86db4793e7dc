/* gpio_gpiod.c - the libgpiod 1.6 backend of the GPIO abstraction.
 *
 * The only file of Holotwin that includes <gpiod.h>. It speaks the kernel's
 * GPIO character device through libgpiod 1.x (uAPI v1 underneath): one
 * request per line, edge events read from the line's event fd, which is
 * set non-blocking so read_event can say HT_EAGAIN instead of stalling the
 * agent's loop. libgpiod reports errors as -1 + errno; they are converted
 * here, once, to -errno and logged with the library's own text.
 */
#include "device-agent/hal/gpio.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <gpiod.h>
#include <stdlib.h>
#include <string.h>

/* What a line is currently requested as. */
enum line_mode {
    LINE_FREE = 0,
    LINE_INPUT,
    LINE_OUTPUT,
};

/* Our view of one line. libgpiod 1.6 keeps a request state per line
 * too, but answering misuse (set on an input, events on an output) from
 * this table gives clear errors instead of a bare EPERM from the library. */
struct gline {
    struct gpiod_line *line; /* owned by the chip; NULL until first used */
    enum line_mode mode;
    int fd; /* event fd (non-blocking) or -1 */
};

/* The backend object: pub is what callers hold, priv points back here. */
struct gchip {
    struct ht_gpio pub;
    struct gpiod_chip *chip;
    char *name;     /* as given (name or path), for messages */
    char *consumer; /* label shown by gpioinfo */
    unsigned nlines;
    struct gline *lines;
};

/* errno after a failed libgpiod call as a negative code; never 0, so a
 * library that forgot to set errno still reads as a failure. */
static int errno_code(void)
{
    return errno > 0 ? -errno : HT_EIO;
}

static struct gchip *chip_of(struct ht_gpio *g)
{
    return g->priv;
}

/* Look up a line by offset, logging an out-of-range offset: offsets come
 * from a config file, so a typo must name the chip and its size. */
static struct gline *line_at(struct gchip *c, unsigned line)
{
    if (line >= c->nlines) {
        ht_log(LOG_ERR, "gpio", "%s: line %u out of range (chip has %u lines)",
               c->name, line, c->nlines);
        return NULL;
    }
    return &c->lines[line];
}

/* Give a line back to the kernel; requesting a line again (for example
 * after a config reload) goes through here first. */
static void line_release(struct gline *l)
{
    if (l->mode != LINE_FREE)
        gpiod_line_release(l->line);
    l->mode = LINE_FREE;
    l->fd = -1; /* closed by gpiod_line_release */
}

/* Map our flags onto libgpiod request flags; HT_EINVAL for contradictory
 * bias flags, which the kernel would also refuse but with a vaguer errno. */
static int req_flags(struct gchip *c, unsigned line, unsigned flags, int *out)
{
    unsigned bias = flags & (HT_GPIO_BIAS_PULL_UP | HT_GPIO_BIAS_PULL_DOWN |
                             HT_GPIO_BIAS_DISABLE);
    int f = 0;

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
    if (flags & HT_GPIO_ACTIVE_LOW)
        f |= GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW;
    if (flags & HT_GPIO_BIAS_PULL_UP)
        f |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
    if (flags & HT_GPIO_BIAS_PULL_DOWN)
        f |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
    if (flags & HT_GPIO_BIAS_DISABLE)
        f |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
    *out = f;
    return HT_OK;
}

/* Common part of both requests: find the line object and free any
 * previous request of it. */
static int line_prepare(struct gchip *c, unsigned line, struct gline **out)
{
    struct gline *l = line_at(c, line);

    *out = NULL;
    if (!l)
        return HT_EINVAL;
    if (!l->line) {
        l->line = gpiod_chip_get_line(c->chip, line);
        if (!l->line) {
            int err = errno_code();
            ht_log(LOG_ERR, "gpio", "%s: line %u: gpiod_chip_get_line: %s",
                   c->name, line, ht_strerror(err));
            return err;
        }
    }
    line_release(l);
    *out = l;
    return HT_OK;
}

/* An input request with edge events returns an event fd; it is made
 * non-blocking here because the agent reads it from its poll loop and a
 * spurious wake-up must not block the loop. */
static int gpiod_request_input(struct ht_gpio *g, unsigned line, unsigned edges,
                               unsigned flags)
{
    struct gchip *c = chip_of(g);
    struct gpiod_line_request_config cfg = {.consumer = c->consumer};
    struct gline *l;
    int err;

    if (edges > HT_GPIO_EDGE_BOTH) {
        ht_log(LOG_ERR, "gpio", "%s: line %u: bad edge selection %u", c->name,
               line, edges);
        return HT_EINVAL;
    }
    if ((err = req_flags(c, line, flags, &cfg.flags)) < 0)
        return err;
    if ((err = line_prepare(c, line, &l)) < 0)
        return err;
    switch (edges) {
    case HT_GPIO_EDGE_RISING:
        cfg.request_type = GPIOD_LINE_REQUEST_EVENT_RISING_EDGE;
        break;
    case HT_GPIO_EDGE_FALLING:
        cfg.request_type = GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE;
        break;
    case HT_GPIO_EDGE_BOTH:
        cfg.request_type = GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES;
        break;
    default:
        cfg.request_type = GPIOD_LINE_REQUEST_DIRECTION_INPUT;
        break;
    }
    if (gpiod_line_request(l->line, &cfg, 0) < 0) {
        err = errno_code();
        ht_log(LOG_ERR, "gpio", "%s: line %u: request input: %s", c->name, line,
               ht_strerror(err));
        return err;
    }
    l->mode = LINE_INPUT;
    if (edges != HT_GPIO_EDGE_NONE) {
        int fd = gpiod_line_event_get_fd(l->line);
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

/* The initial value goes into the request itself, so the pin never
 * glitches through a default level between request and first set. */
static int gpiod_request_output(struct ht_gpio *g, unsigned line, int initial,
                                unsigned flags)
{
    struct gchip *c = chip_of(g);
    struct gpiod_line_request_config cfg = {
        .consumer = c->consumer,
        .request_type = GPIOD_LINE_REQUEST_DIRECTION_OUTPUT,
    };
    struct gline *l;
    int err;

    if ((err = req_flags(c, line, flags, &cfg.flags)) < 0)
        return err;
    if ((err = line_prepare(c, line, &l)) < 0)
        return err;
    if (gpiod_line_request(l->line, &cfg, initial ? 1 : 0) < 0) {
        err = errno_code();
        ht_log(LOG_ERR, "gpio", "%s: line %u: request output: %s", c->name,
               line, ht_strerror(err));
        return err;
    }
    l->mode = LINE_OUTPUT;
    return HT_OK;
}

/* Reads the logical value (active-low applied by the kernel) of a
 * requested line of either direction. */
static int gpiod_get(struct ht_gpio *g, unsigned line, int *value)
{
    struct gchip *c = chip_of(g);
    struct gline *l = line_at(c, line);
    int v, err;

    *value = 0;
    if (!l)
        return HT_EINVAL;
    if (l->mode == LINE_FREE) {
        ht_log(LOG_ERR, "gpio", "%s: line %u: get on a line not requested",
               c->name, line);
        return HT_ESTATE;
    }
    v = gpiod_line_get_value(l->line);
    if (v < 0) {
        err = errno_code();
        ht_log(LOG_ERR, "gpio", "%s: line %u: get: %s", c->name, line,
               ht_strerror(err));
        return err;
    }
    *value = v;
    return HT_OK;
}

/* Drives the logical value (the kernel applies active-low). Any non-zero
 * value is 1, as for the sim backend. */
static int gpiod_set(struct ht_gpio *g, unsigned line, int value)
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
    if (gpiod_line_set_value(l->line, value ? 1 : 0) < 0) {
        err = errno_code();
        ht_log(LOG_ERR, "gpio", "%s: line %u: set: %s", c->name, line,
               ht_strerror(err));
        return err;
    }
    return HT_OK;
}

static int gpiod_event_fd(struct ht_gpio *g, unsigned line)
{
    struct gchip *c = chip_of(g);

    /* No logging: "no fd" is an ordinary answer for outputs and plain
     * inputs, and an out-of-range line simply has none. */
    if (line >= c->nlines)
        return -1;
    return c->lines[line].fd;
}

/* One event per call; the fd is non-blocking, so an empty queue is the
 * EAGAIN of read(2). The kernel stamps events with CLOCK_MONOTONIC
 * (ktime_get_ns) for uAPI v1 line events since Linux 5.7; libgpiod passes
 * that through as a timespec. */
static int gpiod_read_event(struct ht_gpio *g, unsigned line,
                            struct ht_gpio_event *ev)
{
    struct gchip *c = chip_of(g);
    struct gline *l = line_at(c, line);
    struct gpiod_line_event le;
    int err;

    memset(ev, 0, sizeof(*ev));
    if (!l)
        return HT_EINVAL;
    if (l->fd < 0) {
        ht_log(LOG_ERR, "gpio",
               "%s: line %u: read_event on a line without "
               "edge events",
               c->name, line);
        return HT_ESTATE;
    }
    if (gpiod_line_event_read(l->line, &le) < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return HT_EAGAIN;
        err = errno_code();
        ht_log(LOG_ERR, "gpio", "%s: line %u: read event: %s", c->name, line,
               ht_strerror(err));
        return err;
    }
    ev->line = line;
    ev->rising = le.event_type == GPIOD_LINE_EVENT_RISING_EDGE;
    ev->ts_ns = (uint64_t)le.ts.tv_sec * 1000000000u + (uint64_t)le.ts.tv_nsec;
    return HT_OK;
}

/* Releases every request (the lines go back to the kernel's defaults; the
 * agent drives safe values before this) and closes the chip. */
static void gpiod_free(struct ht_gpio *g)
{
    struct gchip *c = chip_of(g);

    for (unsigned i = 0; i < c->nlines; i++)
        line_release(&c->lines[i]);
    gpiod_chip_close(c->chip);
    free(c->lines);
    free(c->name);
    free(c->consumer);
    free(c);
}

static const struct ht_gpio_ops gpiod_ops = {
    .request_input = gpiod_request_input,
    .request_output = gpiod_request_output,
    .get = gpiod_get,
    .set = gpiod_set,
    .event_fd = gpiod_event_fd,
    .read_event = gpiod_read_event,
    .free = gpiod_free,
};

/* A chip given with a '/' is a device path (/dev/gpiochip0); anything else
 * is a name as gpiodetect prints it. Nothing is requested yet. */
int ht_gpio_new_gpiod(const char *chip, const char *consumer,
                      struct ht_gpio **out)
{
    struct gpiod_chip *gc;
    struct gchip *c;
    int err;

    *out = NULL;
    if (!chip || !*chip) {
        ht_log(LOG_ERR, "gpio", "gpiod: no chip given");
        return HT_EINVAL;
    }
    gc = strchr(chip, '/') ? gpiod_chip_open(chip)
                           : gpiod_chip_open_by_name(chip);
    if (!gc) {
        err = errno_code();
        ht_log(LOG_ERR, "gpio", "%s: open: %s", chip, ht_strerror(err));
        return err;
    }
    c = ht_calloc(1, sizeof(*c));
    c->chip = gc;
    c->name = ht_strdup(chip);
    c->consumer = ht_strdup(consumer && *consumer ? consumer : "holotwin");
    c->nlines = gpiod_chip_num_lines(gc);
    c->lines = ht_calloc(c->nlines ? c->nlines : 1, sizeof(*c->lines));
    for (unsigned i = 0; i < c->nlines; i++)
        c->lines[i].fd = -1;
    c->pub.ops = &gpiod_ops;
    c->pub.priv = c;
    *out = &c->pub;
    return HT_OK;
}
