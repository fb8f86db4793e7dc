/* sim_plant.c - the simulated plant behind the sim board's HAL.
 *
 * A motor's enable line and speed setpoint produce tachometer pulses (real
 * edges with timestamps on a sim input line) with first-order inertia;
 * heater and fan lines move a temperature that an analog channel reads.
 * Curves are evaluated in closed form when needed, so the plant runs a
 * timer only while a motor is turning. Outputs reach the plant through the
 * sim chip's set hook, exactly where a real plant would see a voltage.
 */
#include "sim_plant.h"

#include "gpio_sim.h"
#include "ht_err.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 50

struct motor {
    struct ht_plant_motor c;
    bool on;
    double sp; /* rpm */
    double s0; /* speed at t0 */
    uint64_t t0_ns;
    double phase; /* fractional pulses carried between ticks */
};

struct thermal {
    struct ht_plant_thermal c;
    bool heat, cool;
    double t0_val;
    uint64_t t0_ns;
};

struct plant {
    struct ht_analog an;
    struct ht_gpio *g;
    struct motor *motors;
    size_t nmotors;
    struct thermal *thermals;
    size_t nthermals;
    struct ht_timer *tick;
    uint64_t last_ns;
};

static struct plant *plant_of(struct ht_analog *an)
{
    return an->priv;
}

static double motor_target(const struct motor *m)
{
    return m->on ? m->sp : 0;
}

static double motor_speed(const struct motor *m, uint64_t now)
{
    double dt = (double)(now - m->t0_ns) / 1e9;
    double tgt = motor_target(m);
    return tgt + (m->s0 - tgt) * exp(-dt / m->c.tau_s);
}

/* Revolutions turned between t0-relative times x and y (seconds): the
 * integral of the first-order speed curve. */
static double motor_revs(const struct motor *m, double x, double y)
{
    double tgt = motor_target(m);
    double d = m->s0 - tgt;
    double tau = m->c.tau_s;
    return (tgt * (y - x) + d * tau * (exp(-x / tau) - exp(-y / tau))) / 60.0;
}

static bool any_motion(const struct plant *p, uint64_t now)
{
    for (size_t i = 0; i < p->nmotors; i++)
        if (motor_target(&p->motors[i]) > 0 ||
            motor_speed(&p->motors[i], now) > 0.01)
            return true;
    return false;
}

/* Emit the tach pulses of [last, now] with interpolated timestamps. */
static void on_tick(struct ht_timer *t, void *ud)
{
    (void)t;
    struct plant *p = ud;
    uint64_t now = ht_mono_ns();
    for (size_t i = 0; i < p->nmotors; i++) {
        struct motor *m = &p->motors[i];
        double x = (double)(p->last_ns - m->t0_ns) / 1e9;
        double y = (double)(now - m->t0_ns) / 1e9;
        if (x < 0)
            x = 0;
        double pulses = motor_revs(m, x, y) * m->c.ppr;
        if (pulses <= 0)
            continue;
        double start = m->phase, end = m->phase + pulses;
        for (double k = floor(start) + 1; k <= end; k++) {
            uint64_t ts = p->last_ns + (uint64_t)((k - start) / pulses *
                                                  (double)(now - p->last_ns));
            ht_gpio_sim_inject_ts(p->g, m->c.tach_line, 1, ts);
            ht_gpio_sim_inject_ts(p->g, m->c.tach_line, 0, ts + 1000);
        }
        m->phase = end - floor(end);
    }
    p->last_ns = now;
    if (!any_motion(p, now))
        ht_timer_stop(p->tick);
}

static void motor_changed(struct plant *p, struct motor *m)
{
    uint64_t now = ht_mono_ns();
    m->s0 = motor_speed(m, now);
    m->t0_ns = now;
    if (!ht_timer_active(p->tick) && any_motion(p, now)) {
        p->last_ns = now;
        ht_timer_start(p->tick, TICK_MS, TICK_MS);
    }
}

static double thermal_target(const struct thermal *th, double *tau)
{
    const struct ht_plant_thermal *c = &th->c;
    *tau = c->tau_s;
    if (th->heat && !th->cool)
        return c->max;
    if (th->heat && th->cool)
        return c->ambient + (c->max - c->ambient) * 0.35;
    if (th->cool) {
        *tau = c->tau_s / 2;
        return c->ambient;
    }
    *tau = c->tau_s * 4; /* passive cooling is slow */
    return c->ambient;
}

static double thermal_value(const struct thermal *th, uint64_t now)
{
    double tau;
    double tgt = thermal_target(th, &tau);
    double dt = (double)(now - th->t0_ns) / 1e9;
    return tgt + (th->t0_val - tgt) * exp(-dt / tau);
}

static void thermal_rebase(struct thermal *th)
{
    uint64_t now = ht_mono_ns();
    th->t0_val = thermal_value(th, now);
    th->t0_ns = now;
}

/* The sim chip's set hook: an output line changed level. */
static void on_line_set(void *ud, unsigned line, int v)
{
    struct plant *p = ud;
    for (size_t i = 0; i < p->nmotors; i++) {
        struct motor *m = &p->motors[i];
        if (m->c.enable_line == line) {
            m->on = v != 0;
            motor_changed(p, m);
        }
    }
    for (size_t i = 0; i < p->nthermals; i++) {
        struct thermal *th = &p->thermals[i];
        if (th->c.heater_line == (int)line) {
            thermal_rebase(th);
            th->heat = v != 0;
        } else if (th->c.fan_line == (int)line) {
            thermal_rebase(th);
            th->cool = v != 0;
        }
    }
}

static int plant_read(struct ht_analog *an, unsigned ch, double *v)
{
    struct plant *p = plant_of(an);
    for (size_t i = 0; i < p->nthermals; i++)
        if (p->thermals[i].c.sensor_ch == ch) {
            *v = thermal_value(&p->thermals[i], ht_mono_ns());
            return HT_OK;
        }
    return HT_ENOENT;
}

static int plant_write(struct ht_analog *an, unsigned ch, double v)
{
    struct plant *p = plant_of(an);
    for (size_t i = 0; i < p->nmotors; i++) {
        struct motor *m = &p->motors[i];
        if (m->c.setpoint_ch == (int)ch) {
            m->sp = v < 0 ? 0 : v;
            motor_changed(p, m);
        }
    }
    return HT_OK;
}

static void plant_free(struct ht_analog *an)
{
    struct plant *p = plant_of(an);
    ht_gpio_sim_on_set(p->g, NULL, NULL);
    ht_timer_free(p->tick);
    free(p->motors);
    free(p->thermals);
    free(p);
}

static const struct ht_analog_ops plant_ops = {
    .read = plant_read,
    .write = plant_write,
    .free = plant_free,
};

int ht_analog_new_sim_plant(struct ht_loop *l, struct ht_gpio *g,
                            const struct ht_plant_conf *conf,
                            struct ht_analog **out)
{
    *out = NULL;
    struct plant *p = ht_calloc(1, sizeof *p);
    p->an.ops = &plant_ops;
    p->an.priv = p;
    p->g = g;
    p->tick = ht_timer_new(l, on_tick, p);
    uint64_t now = ht_mono_ns();
    p->nmotors = conf->nmotors;
    p->motors = ht_calloc(conf->nmotors + 1, sizeof *p->motors);
    for (size_t i = 0; i < conf->nmotors; i++) {
        struct motor *m = &p->motors[i];
        m->c = conf->motors[i];
        if (m->c.tau_s <= 0)
            m->c.tau_s = 1.5;
        m->sp = m->c.rpm;
        m->t0_ns = now;
    }
    p->nthermals = conf->nthermals;
    p->thermals = ht_calloc(conf->nthermals + 1, sizeof *p->thermals);
    for (size_t i = 0; i < conf->nthermals; i++) {
        struct thermal *th = &p->thermals[i];
        th->c = conf->thermals[i];
        if (th->c.tau_s <= 0)
            th->c.tau_s = 60;
        th->t0_val = th->c.start;
        th->t0_ns = now;
    }
    ht_gpio_sim_on_set(g, on_line_set, p);
    *out = &p->an;
    return HT_OK;
}

int ht_sim_plant_thermal_param(struct ht_analog *an, unsigned sensor_ch,
                               const char *attr, double v)
{
    struct plant *p = plant_of(an);
    for (size_t i = 0; i < p->nthermals; i++) {
        struct thermal *th = &p->thermals[i];
        if (th->c.sensor_ch != sensor_ch)
            continue;
        thermal_rebase(th);
        if (!*attr)
            th->t0_val = v;
        else if (!strcmp(attr, "ambient"))
            th->c.ambient = v;
        else if (!strcmp(attr, "max"))
            th->c.max = v;
        else if (!strcmp(attr, "tau_s") && v > 0)
            th->c.tau_s = v;
        else
            return HT_EINVAL;
        return HT_OK;
    }
    return HT_ENOENT;
}

int ht_sim_plant_motor_param(struct ht_analog *an, unsigned tach_line,
                             const char *attr, double v)
{
    struct plant *p = plant_of(an);
    for (size_t i = 0; i < p->nmotors; i++) {
        struct motor *m = &p->motors[i];
        if (m->c.tach_line != tach_line)
            continue;
        if (!strcmp(attr, "tau_ms") && v > 0) {
            motor_changed(p, m);
            m->c.tau_s = v / 1000;
            return HT_OK;
        }
        return HT_EINVAL;
    }
    return HT_ENOENT;
}
