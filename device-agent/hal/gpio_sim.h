/* gpio_sim.h - test and demo hooks of the simulated GPIO backend.
 *
 * The sim chip behaves like a kernel GPIO chip seen through the ht_gpio
 * interface: every requested input line has its own eventfd that becomes
 * readable when an edge is queued, events carry CLOCK_MONOTONIC
 * timestamps, and outputs remember what was set. These hooks play the
 * outside world (a finger on a button, a tachometer's pulses). Loop thread
 * only; g must come from ht_gpio_new_sim().
 */
#ifndef HT_HAL_GPIO_SIM_H
#define HT_HAL_GPIO_SIM_H

#include "gpio.h"

#include <stdint.h>

/* Most events queued per line; older ones are dropped (as the kernel's
 * kfifo does) and counted. */
#define HT_GPIO_SIM_QUEUE 4096

/* Drive input line to physical level v (0/1) now; queues an edge event
 * when the level changes and the line asked for that edge. Returns HT_OK
 * or HT_EINVAL (bad line). */
int ht_gpio_sim_inject(struct ht_gpio *g, unsigned line, int v);
/* Same with an explicit event timestamp (CLOCK_MONOTONIC ns), for plant
 * models that generate several edges per tick. */
int ht_gpio_sim_inject_ts(struct ht_gpio *g, unsigned line, int v,
                          uint64_t ts_ns);
/* Last logical value set on an output line (initial value included), or
 * -1 if the line is not an output or was never set. */
int ht_gpio_sim_last_set(struct ht_gpio *g, unsigned line);
/* Make the next n set() calls on line fail with HT_EIO (hardware fault
 * injection); 0 clears. */
void ht_gpio_sim_fail_set(struct ht_gpio *g, unsigned line, unsigned n);
/* Called after every successful set() and request_output() (with the
 * initial level): outputs move the plant. One hook per chip; cb may be
 * NULL; ud borrowed. */
typedef void (*ht_gpio_sim_set_cb)(void *ud, unsigned line, int value);
void ht_gpio_sim_on_set(struct ht_gpio *g, ht_gpio_sim_set_cb cb, void *ud);
/* Events dropped because a line's queue was full. */
uint64_t ht_gpio_sim_dropped(struct ht_gpio *g, unsigned line);
/* Number of lines of the chip. */
unsigned ht_gpio_sim_nlines(struct ht_gpio *g);

#endif
