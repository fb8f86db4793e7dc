/* analog.h - numeric channels of the device agent's hardware abstraction.
 *
 * GPIO lines carry levels and edges (gpio.h); some boards also have numeric
 * channels: a sensor read on demand, a setpoint written to a DAC or, on the
 * simulated board, to the plant model. Channels are numbered by the caller
 * (the agent uses the capability's index). Callers use the static inline
 * wrappers, never the ops directly. A board without analog hardware has no
 * ht_analog at all. Loop thread only.
 */
#ifndef HT_HAL_ANALOG_H
#define HT_HAL_ANALOG_H

struct ht_analog;

struct ht_analog_ops {
    /* Current value of an input channel; HT_ENOENT when there is none. */
    int (*read)(struct ht_analog *an, unsigned ch, double *value);
    /* Drive an output channel; channels nobody listens to accept it. */
    int (*write)(struct ht_analog *an, unsigned ch, double value);
    void (*free)(struct ht_analog *an);
};

struct ht_analog {
    const struct ht_analog_ops *ops;
    void *priv;
};

static inline int ht_analog_read(struct ht_analog *an, unsigned ch,
                                 double *value)
{
    return an->ops->read(an, ch, value);
}
static inline int ht_analog_write(struct ht_analog *an, unsigned ch,
                                  double value)
{
    return an->ops->write(an, ch, value);
}
/* NULL is a no-op. */
static inline void ht_analog_free(struct ht_analog *an)
{
    if (an)
        an->ops->free(an);
}

#endif
