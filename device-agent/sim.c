/* sim.c - the simulated plant behind the sim GPIO backend, and the control
 * socket that plays an operator in demos and tests.
 *
 * The plant closes the loop so a demo behaves like hardware: a motor's
 * enable output and speed setpoint produce tachometer pulses (real edges
 * with timestamps on a sim input line) with first-order inertia; heater and
 * fan outputs move a temperature the analog capability polls. Curves are
 * evaluated in closed form at the time they are needed, so the plant only
 * runs a timer while a motor is turning.
 */
#include "agent_internal.h"

#include "hal/gpio_sim.h"
#include "ht_conf.h"
#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define TICK_MS 50

struct motor {
    char *enable, *setpoint, *tach;
    unsigned tach_line;
    double ppr;
    double tau_s;
    bool on;
    double sp;      /* rpm */
    double s0;      /* speed at t0 */
    uint64_t t0_ns;
    double phase;   /* fractional pulses carried between ticks */
};

struct thermal {
    char *heater, *fan, *sensor;
    double ambient, max, tau_s;
    bool heat, cool;
    double t0_val;
    uint64_t t0_ns;
};

struct ht_plant {
    struct ht_agent *a;
    struct motor *motors;
    size_t nmotors;
    struct thermal *thermals;
    size_t nthermals;
    struct ht_timer *tick;
    uint64_t last_ns;
};

static double motor_target(const struct motor *m)
{
    return m->on ? m->sp : 0;
}

static double motor_speed(const struct motor *m, uint64_t now)
{
    double dt = (double)(now - m->t0_ns) / 1e9;
    double tgt = motor_target(m);
    return tgt + (m->s0 - tgt) * exp(-dt / m->tau_s);
}

/* Revolutions turned between t0-relative times x and y (seconds): the
 * integral of the first-order speed curve. */
static double motor_revs(const struct motor *m, double x, double y)
{
    double tgt = motor_target(m);
    double d = m->s0 - tgt;
    return (tgt * (y - x) +
            d * m->tau_s * (exp(-x / m->tau_s) - exp(-y / m->tau_s))) /
           60.0;
}

static bool any_motion(const struct ht_plant *p, uint64_t now)
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
    struct ht_plant *p = ud;
    uint64_t now = ht_mono_ns();
    struct ht_gpio *g = p->a->gpio;
    for (size_t i = 0; i < p->nmotors; i++) {
        struct motor *m = &p->motors[i];
        double x = (double)(p->last_ns - m->t0_ns) / 1e9;
        double y = (double)(now - m->t0_ns) / 1e9;
        if (x < 0)
            x = 0;
        double pulses = motor_revs(m, x, y) * m->ppr;
        if (pulses <= 0)
            continue;
        double start = m->phase, end = m->phase + pulses;
        for (double k = floor(start) + 1; k <= end; k++) {
            uint64_t ts = p->last_ns +
                          (uint64_t)((k - start) / pulses * (double)(now - p->last_ns));
            ht_gpio_sim_inject_ts(g, m->tach_line, 1, ts);
            ht_gpio_sim_inject_ts(g, m->tach_line, 0, ts + 1000);
        }
        m->phase = end - floor(end);
    }
    p->last_ns = now;
    if (!any_motion(p, now))
        ht_timer_stop(p->tick);
}

static void motor_changed(struct ht_plant *p, struct motor *m)
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
    *tau = th->tau_s;
    if (th->heat && !th->cool)
        return th->max;
    if (th->heat && th->cool)
        return th->ambient + (th->max - th->ambient) * 0.35;
    if (th->cool) {
        *tau = th->tau_s / 2;
        return th->ambient;
    }
    *tau = th->tau_s * 4; /* passive cooling is slow */
    return th->ambient;
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

void agent__plant_notify(struct ht_plant *p, const char *name, double v)
{
    for (size_t i = 0; i < p->nmotors; i++) {
        struct motor *m = &p->motors[i];
        if (!strcmp(name, m->enable)) {
            m->on = v != 0;
            motor_changed(p, m);
        } else if (m->setpoint && !strcmp(name, m->setpoint)) {
            m->sp = v < 0 ? 0 : v;
            motor_changed(p, m);
        }
    }
    for (size_t i = 0; i < p->nthermals; i++) {
        struct thermal *th = &p->thermals[i];
        if (th->heater && !strcmp(name, th->heater)) {
            thermal_rebase(th);
            th->heat = v != 0;
        } else if (th->fan && !strcmp(name, th->fan)) {
            thermal_rebase(th);
            th->cool = v != 0;
        }
    }
}

int agent__plant_read(struct ht_plant *p, const char *name, double *v)
{
    for (size_t i = 0; i < p->nthermals; i++)
        if (!strcmp(name, p->thermals[i].sensor)) {
            *v = thermal_value(&p->thermals[i], ht_mono_ns());
            return HT_OK;
        }
    return HT_ENOENT;
}

int agent__plant_param(struct ht_plant *p, const char *name, double v)
{
    const char *dot = strchr(name, '.');
    size_t n = dot ? (size_t)(dot - name) : strlen(name);
    const char *attr = dot ? dot + 1 : "";
    for (size_t i = 0; i < p->nthermals; i++) {
        struct thermal *th = &p->thermals[i];
        if (strlen(th->sensor) != n || strncmp(th->sensor, name, n))
            continue;
        thermal_rebase(th);
        if (!*attr)
            th->t0_val = v;
        else if (!strcmp(attr, "ambient"))
            th->ambient = v;
        else if (!strcmp(attr, "max"))
            th->max = v;
        else if (!strcmp(attr, "tau_s") && v > 0)
            th->tau_s = v;
        else
            return HT_EINVAL;
        return HT_OK;
    }
    for (size_t i = 0; i < p->nmotors; i++) {
        struct motor *m = &p->motors[i];
        if (strlen(m->tach) != n || strncmp(m->tach, name, n))
            continue;
        if (!strcmp(attr, "tau_ms") && v > 0) {
            motor_changed(p, m);
            m->tau_s = v / 1000;
            return HT_OK;
        }
        return HT_EINVAL;
    }
    return HT_ENOENT;
}

/* Resolve a plant member naming a capability of the wanted kind. */
static int plant_ref(struct ht_agent *a, const json_t *o, const char *key,
                     const char *base, bool required, enum ht_cap_kind kind,
                     char **out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    char ptr[128];
    snprintf(ptr, sizeof ptr, "%s/%s", base, key);
    if (!v && !required)
        return HT_OK;
    struct cap *cap =
        json_is_string(v) ? agent__cap_find(a, json_string_value(v)) : NULL;
    if (!cap || cap->c->kind != kind) {
        static const char *const kn[] = {"input",  "output", "counter",
                                         "encoder", "analog", "setpoint"};
        ht_conf_errorf(err, errlen, a->conf->path, v ? ptr : base,
                       "plant: \"%s\" must name a %s capability", key,
                       kn[kind]);
        return HT_EINVAL;
    }
    *out = ht_strdup(cap->c->name);
    return HT_OK;
}

static double num_or(const json_t *o, const char *key, double def)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

int agent__plant_new(struct ht_agent *a, const json_t *plant,
                     struct ht_plant **out, char *err, size_t errlen)
{
    struct ht_plant *p = ht_calloc(1, sizeof *p);
    p->a = a;
    p->tick = ht_timer_new(a->loop, on_tick, p);
    *out = NULL;
    int rc = HT_OK;
    const json_t *motors = json_object_get(plant, "motors");
    const json_t *thermals = json_object_get(plant, "thermal");
    p->motors = ht_calloc(json_array_size(motors) + 1, sizeof *p->motors);
    p->thermals = ht_calloc(json_array_size(thermals) + 1, sizeof *p->thermals);
    uint64_t now = ht_mono_ns();
    for (size_t i = 0; i < json_array_size(motors); i++) {
        const json_t *o = json_array_get(motors, i);
        struct motor *m = &p->motors[i];
        p->nmotors = i + 1;
        char base[64];
        snprintf(base, sizeof base, "/plant/motors/%zu", i);
        if ((rc = plant_ref(a, o, "enable", base, true, HT_CAP_OUTPUT,
                            &m->enable, err, errlen)) ||
            (rc = plant_ref(a, o, "setpoint", base, false, HT_CAP_SETPOINT,
                            &m->setpoint, err, errlen)) ||
            (rc = plant_ref(a, o, "tach", base, true, HT_CAP_COUNTER, &m->tach,
                            err, errlen)))
            goto out;
        const struct cap *tc = agent__cap_find(a, m->tach);
        m->tach_line = tc->c->line;
        m->ppr = tc->c->ppr;
        m->tau_s = num_or(o, "tau_ms", 1500) / 1000;
        if (m->tau_s <= 0)
            m->tau_s = 1.5;
        m->sp = num_or(o, "rpm", 0);
        m->t0_ns = now;
    }
    for (size_t i = 0; i < json_array_size(thermals); i++) {
        const json_t *o = json_array_get(thermals, i);
        struct thermal *th = &p->thermals[i];
        p->nthermals = i + 1;
        char base[64];
        snprintf(base, sizeof base, "/plant/thermal/%zu", i);
        if ((rc = plant_ref(a, o, "heater", base, false, HT_CAP_OUTPUT,
                            &th->heater, err, errlen)) ||
            (rc = plant_ref(a, o, "fan", base, false, HT_CAP_OUTPUT, &th->fan,
                            err, errlen)) ||
            (rc = plant_ref(a, o, "sensor", base, true, HT_CAP_ANALOG,
                            &th->sensor, err, errlen)))
            goto out;
        th->ambient = num_or(o, "ambient", 25);
        th->max = num_or(o, "max", 95);
        th->tau_s = num_or(o, "tau_s", 60);
        if (th->tau_s <= 0)
            th->tau_s = 60;
        th->t0_val = num_or(o, "start", th->ambient);
        th->t0_ns = now;
    }
out:
    if (rc != HT_OK)
        agent__plant_free(p);
    else
        *out = p;
    return rc;
}

void agent__plant_free(struct ht_plant *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nmotors; i++) {
        free(p->motors[i].enable);
        free(p->motors[i].setpoint);
        free(p->motors[i].tach);
    }
    for (size_t i = 0; i < p->nthermals; i++) {
        free(p->thermals[i].heater);
        free(p->thermals[i].fan);
        free(p->thermals[i].sensor);
    }
    free(p->motors);
    free(p->thermals);
    ht_timer_free(p->tick);
    free(p);
}

/* ---- control socket ---- */

struct ctl_client {
    struct ht_ctl *ctl;
    int fd;
    struct ht_io *io;
    char buf[1024];
    size_t len;
    struct ctl_client *next;
};

struct ht_ctl {
    struct ht_agent *a;
    int fd;
    char *path;
    struct ht_io *io;
    struct ctl_client *clients;
};

static char *reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *reply(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return ht_strdup(buf);
}

/* Drive an input capability's physical line to a logical level. */
static int drive(struct ht_agent *a, const struct cap *cap, int logical)
{
    int phys = (cap->c->flags & HT_GPIO_ACTIVE_LOW) ? !logical : logical;
    return ht_gpio_sim_inject(a->gpio, cap->c->line, phys);
}

static char *turn(struct ht_agent *a, const struct cap *cap, long steps)
{
    static const unsigned cycle[4] = {0, 2, 3, 1}; /* 00 10 11 01 */
    struct ht_gpio *g = a->gpio;
    int la, lb;
    if (ht_gpio_get(g, cap->c->line, &la) || ht_gpio_get(g, cap->c->line_b, &lb))
        return reply("error cannot read the encoder lines");
    unsigned st = (unsigned)((la << 1) | lb);
    int idx = 0;
    for (int i = 0; i < 4; i++)
        if (cycle[i] == st)
            idx = i;
    long n = labs(steps) * cap->c->divider;
    int dir = steps > 0 ? 1 : 3;
    for (long i = 0; i < n; i++) {
        idx = (idx + dir) % 4;
        unsigned nx = cycle[idx];
        int a1 = (int)(nx >> 1), b1 = (int)(nx & 1);
        unsigned lo = cap->c->flags & HT_GPIO_ACTIVE_LOW;
        if (a1 != la)
            ht_gpio_sim_inject(g, cap->c->line, lo ? !a1 : a1);
        if (b1 != lb)
            ht_gpio_sim_inject(g, cap->c->line_b, lo ? !b1 : b1);
        la = a1;
        lb = b1;
    }
    return reply("ok");
}

char *agent__ctl_exec(struct ht_agent *a, const char *line)
{
    char cmd[32] = "", name[96] = "", arg[64] = "";
    int n = sscanf(line, "%31s %95s %63s", cmd, name, arg);
    if (n < 1)
        return reply("error empty command");
    if (!strcmp(cmd, "ping"))
        return reply("ok");
    if (!strcmp(cmd, "inject") && n == 3) {
        char *end;
        unsigned long l = strtoul(name, &end, 10);
        if (*end || ht_gpio_sim_inject(a->gpio, (unsigned)l, atoi(arg)))
            return reply("error bad line");
        return reply("ok");
    }
    if (!strcmp(cmd, "param") && n == 3) {
        char *end;
        double v = strtod(arg, &end);
        if (*end || !isfinite(v))
            return reply("error bad number '%s'", arg);
        if (!a->plant || agent__plant_param(a->plant, name, v) != HT_OK)
            return reply("error no plant parameter '%s'", name);
        return reply("ok");
    }
    if (n < 2)
        return reply("error usage: press|release|set|bounce|turn|get|param "
                     "NAME [ARG]");
    struct cap *cap = agent__cap_find(a, name);
    if (!cap)
        return reply("error no capability '%s'", name);
    if (!strcmp(cmd, "get")) {
        char *s = cap->value ? json_dumps(cap->value, JSON_ENCODE_ANY | JSON_REAL_PRECISION(12)) : NULL;
        char *r = reply("ok %s", s ? s : "null");
        free(s);
        return r;
    }
    bool input = cap->c->kind == HT_CAP_INPUT;
    if ((!strcmp(cmd, "press") || !strcmp(cmd, "release")) && input)
        return drive(a, cap, !strcmp(cmd, "press")) ? reply("error inject")
                                                    : reply("ok");
    if (!strcmp(cmd, "set") && input && n == 3)
        return drive(a, cap, atoi(arg) != 0) ? reply("error inject")
                                             : reply("ok");
    if (!strcmp(cmd, "bounce") && input && n == 3) {
        /* n level changes in quick succession, ending pressed. */
        int k = atoi(arg);
        for (int i = 0; i < k && i < 1000; i++)
            drive(a, cap, (k - i) % 2);
        drive(a, cap, 1);
        return reply("ok");
    }
    if (!strcmp(cmd, "fail") && cap->c->kind == HT_CAP_OUTPUT && n == 3) {
        /* Fault injection: the next N writes to the line fail. */
        ht_gpio_sim_fail_set(a->gpio, cap->c->line, (unsigned)atoi(arg));
        return reply("ok");
    }
    if (!strcmp(cmd, "turn") && cap->c->kind == HT_CAP_ENCODER && n == 3)
        return turn(a, cap, strtol(arg, NULL, 10));
    return reply("error '%s' does not apply to %s", cmd, name);
}

static void client_free(struct ctl_client *cl)
{
    struct ctl_client **pp = &cl->ctl->clients;
    while (*pp != cl)
        pp = &(*pp)->next;
    *pp = cl->next;
    ht_io_free(cl->io);
    close(cl->fd);
    free(cl);
}

static void on_client(struct ht_io *io, int fd, unsigned ev, void *ud)
{
    (void)io;
    (void)ev;
    struct ctl_client *cl = ud;
    ssize_t r = read(fd, cl->buf + cl->len, sizeof cl->buf - 1 - cl->len);
    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        client_free(cl);
        return;
    }
    cl->len += (size_t)r;
    cl->buf[cl->len] = '\0';
    char *nl;
    while ((nl = strchr(cl->buf, '\n'))) {
        *nl = '\0';
        char *out = agent__ctl_exec(cl->ctl->a, cl->buf);
        /* Replies are short; a client that does not read loses them. */
        ssize_t w = write(fd, out, strlen(out));
        w = w >= 0 ? write(fd, "\n", 1) : w;
        (void)w;
        free(out);
        size_t used = (size_t)(nl + 1 - cl->buf);
        memmove(cl->buf, nl + 1, cl->len - used + 1);
        cl->len -= used;
    }
    if (cl->len == sizeof cl->buf - 1) {
        ssize_t w = write(fd, "error line too long\n", 20);
        (void)w;
        client_free(cl);
    }
}

static void on_accept(struct ht_io *io, int fd, unsigned ev, void *ud)
{
    (void)io;
    (void)ev;
    struct ht_ctl *c = ud;
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    struct ctl_client *cl = ht_calloc(1, sizeof *cl);
    cl->ctl = c;
    cl->fd = cfd;
    cl->next = c->clients;
    c->clients = cl;
    cl->io = ht_io_new(c->a->loop, cfd, HT_LOOP_READ, on_client, cl);
}

int agent__ctl_new(struct ht_agent *a, const char *path, struct ht_ctl **out,
                   char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "control socket path too long: %s", path);
        return HT_EINVAL;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "control socket: %s", strerror(errno));
        return -errno;
    }
    unlink(path); /* a stale socket from a previous run */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 8) < 0) {
        int e = errno;
        snprintf(err, errlen, "control socket %s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    struct ht_ctl *c = ht_calloc(1, sizeof *c);
    c->a = a;
    c->fd = fd;
    c->path = ht_strdup(path);
    c->io = ht_io_new(a->loop, fd, HT_LOOP_READ, on_accept, c);
    *out = c;
    return HT_OK;
}

void agent__ctl_free(struct ht_ctl *c)
{
    if (!c)
        return;
    while (c->clients)
        client_free(c->clients);
    ht_io_free(c->io);
    close(c->fd);
    unlink(c->path);
    free(c->path);
    free(c);
}
