/* gpio.h - the GPIO hardware abstraction of the device agent.
 *
 * One interface, two backends: libgpiod 1.6 (gpio_gpiod.c, built only
 * WITH_GPIOD=yes; the only file that includes <gpiod.h>) and a simulated
 * board (gpio_sim.c, always built). Callers use the static inline wrappers,
 * never the ops directly. Every line with edge detection has a pollable fd
 * so the agent's loop waits on edges instead of polling values. Loop thread
 * only.
 */
#ifndef HT_HAL_GPIO_H
#define HT_HAL_GPIO_H

#include <stdint.h>

/* Edge selection for request_input. */
enum {
    HT_GPIO_EDGE_NONE = 0,
    HT_GPIO_EDGE_RISING = 1,
    HT_GPIO_EDGE_FALLING = 2,
    HT_GPIO_EDGE_BOTH = 3,
};

/* Line flags for request_input/request_output. */
enum {
    HT_GPIO_ACTIVE_LOW = 1 << 0,
    HT_GPIO_BIAS_PULL_UP = 1 << 1,
    HT_GPIO_BIAS_PULL_DOWN = 1 << 2,
    HT_GPIO_BIAS_DISABLE = 1 << 3,
};

struct ht_gpio_event {
    unsigned line;
    int rising;     /* 1 rising, 0 falling (after active-low inversion) */
    uint64_t ts_ns; /* kernel timestamp (CLOCK_MONOTONIC ns) */
};

struct ht_gpio;

struct ht_gpio_ops {
    int (*request_input)(struct ht_gpio *g, unsigned line, unsigned edges,
                         unsigned flags);
    int (*request_output)(struct ht_gpio *g, unsigned line, int initial,
                          unsigned flags);
    int (*get)(struct ht_gpio *g, unsigned line, int *value);
    int (*set)(struct ht_gpio *g, unsigned line, int value);
    int (*event_fd)(struct ht_gpio *g, unsigned line); /* pollable or -1 */
    /* Read one pending event; HT_EAGAIN when none is pending. */
    int (*read_event)(struct ht_gpio *g, unsigned line,
                      struct ht_gpio_event *ev);
    void (*free)(struct ht_gpio *g);
};

struct ht_gpio {
    const struct ht_gpio_ops *ops;
    void *priv;
};

/* Backends. chip: "gpiochip0" (name) or a path; consumer: the label shown
 * by gpioinfo. Return HT_OK or a negative error; *out new. */
int ht_gpio_new_gpiod(const char *chip, const char *consumer,
                      struct ht_gpio **out);
/* A simulated chip of nlines lines (see gpio_sim.h for the sim hooks). */
int ht_gpio_new_sim(unsigned nlines, struct ht_gpio **out);

static inline int ht_gpio_request_input(struct ht_gpio *g, unsigned line,
                                        unsigned edges, unsigned flags)
{
    return g->ops->request_input(g, line, edges, flags);
}
static inline int ht_gpio_request_output(struct ht_gpio *g, unsigned line,
                                         int initial, unsigned flags)
{
    return g->ops->request_output(g, line, initial, flags);
}
static inline int ht_gpio_get(struct ht_gpio *g, unsigned line, int *value)
{
    return g->ops->get(g, line, value);
}
static inline int ht_gpio_set(struct ht_gpio *g, unsigned line, int value)
{
    return g->ops->set(g, line, value);
}
static inline int ht_gpio_event_fd(struct ht_gpio *g, unsigned line)
{
    return g->ops->event_fd(g, line);
}
static inline int ht_gpio_read_event(struct ht_gpio *g, unsigned line,
                                     struct ht_gpio_event *ev)
{
    return g->ops->read_event(g, line, ev);
}
/* NULL is a no-op. */
static inline void ht_gpio_free(struct ht_gpio *g)
{
    if (g)
        g->ops->free(g);
}

#endif
