/* sim_plant.h - the simulated plant: the analog side of the sim board.
 *
 * The plant closes the loop so a demo behaves like hardware. It watches the
 * sim GPIO chip's outputs (motor enable, heater, fan), takes setpoints on
 * analog channels, puts tachometer pulses on sim input lines and answers
 * temperature reads on analog channels. It knows lines and channels only,
 * never capability names: whoever wires the board translates names.
 * Loop thread only.
 */
#ifndef HT_HAL_SIM_PLANT_H
#define HT_HAL_SIM_PLANT_H

#include "analog.h"
#include "gpio.h"
#include "ht_loop.h"

#include <stddef.h>

#define HT_PLANT_NONE (-1) /* an optional line or channel that is absent */

/* A motor: enable output line, optional setpoint channel (rpm), the tach
 * input line it pulses ppr times per revolution, inertia tau_s. */
struct ht_plant_motor {
    unsigned enable_line;
    int setpoint_ch;
    unsigned tach_line;
    double ppr;
    double tau_s;
    double rpm; /* setpoint before anything was written */
};

/* A thermal zone: optional heater and fan output lines, the sensor channel
 * that reads its temperature. */
struct ht_plant_thermal {
    int heater_line, fan_line;
    unsigned sensor_ch;
    double start, ambient, max, tau_s;
};

struct ht_plant_conf {
    const struct ht_plant_motor *motors;
    size_t nmotors;
    const struct ht_plant_thermal *thermals;
    size_t nthermals;
};

/* The plant on loop l driving sim chip g (from ht_gpio_new_sim; borrowed,
 * must outlive the plant). conf is copied. It takes g's set hook (see
 * ht_gpio_sim_on_set). *out new, freed with ht_analog_free. Returns HT_OK
 * (lines the chip does not have are simply never driven). */
int ht_analog_new_sim_plant(struct ht_loop *l, struct ht_gpio *g,
                            const struct ht_plant_conf *conf,
                            struct ht_analog **out);

/* Test and demo hooks; an must come from ht_analog_new_sim_plant.
 * Set a thermal zone's parameter by its sensor channel: attr "" is the
 * temperature now, or "ambient", "max", "tau_s". HT_ENOENT if no zone has
 * that sensor, HT_EINVAL for a bad attribute or value. */
int ht_sim_plant_thermal_param(struct ht_analog *an, unsigned sensor_ch,
                               const char *attr, double v);
/* Set a motor's parameter by its tach line: attr "tau_ms". HT_ENOENT if no
 * motor pulses that line, HT_EINVAL for a bad attribute or value. */
int ht_sim_plant_motor_param(struct ht_analog *an, unsigned tach_line,
                             const char *attr, double v);

#endif
