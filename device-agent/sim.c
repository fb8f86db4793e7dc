/* sim.c - the simulated board and the control socket that plays an
 * operator in demos and tests.
 *
 * The board is two HAL backends: the sim GPIO chip and the plant model
 * behind the analog interface (hal/sim_plant.c). The "plant" section of the
 * config names capabilities; this file translates those names into the
 * lines and channels the HAL knows, so nothing below it knows capability
 * names and nothing above it (agent, caps) knows the plant.
 */
#include "agent_internal.h"

#include "hal/gpio_sim.h"
#include "hal/sim_plant.h"
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

/* ---- the board ---- */

/* Resolve a plant member naming a capability of the wanted kind; *idx
 * gets its index (-1 when optional and absent). */
static int plant_ref(const struct ht_agent_conf *conf, const json_t *o,
                     const char *key, const char *base, bool required,
                     enum ht_cap_kind kind, int *idx, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    char ptr[128];
    snprintf(ptr, sizeof ptr, "%s/%s", base, key);
    *idx = -1;
    if (!v && !required)
        return HT_OK;
    for (size_t i = 0; json_is_string(v) && i < conf->ncaps; i++)
        if (!strcmp(conf->caps[i].name, json_string_value(v)) &&
            conf->caps[i].kind == kind)
            *idx = (int)i;
    if (*idx < 0) {
        ht_conf_errorf(err, errlen, conf->path, v ? ptr : base,
                       "plant: \"%s\" must name a %s capability", key,
                       caps__kind(kind)->name);
        return HT_EINVAL;
    }
    return HT_OK;
}

static double num_or(const json_t *o, const char *key, double def)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

/* The line of capability idx, or HT_PLANT_NONE. */
static int line_of(const struct ht_agent_conf *conf, int idx)
{
    return idx < 0 ? HT_PLANT_NONE : (int)conf->caps[idx].line;
}

/* Translate the "plant" section's capability names into the lines and
 * analog channels (capability indexes) the HAL plant works with. */
static int plant_conf(const struct ht_agent_conf *conf,
                      struct ht_plant_motor *motors,
                      struct ht_plant_thermal *thermals, char *err,
                      size_t errlen)
{
    const json_t *ms = json_object_get(conf->plant, "motors");
    const json_t *ts = json_object_get(conf->plant, "thermal");
    int rc = HT_OK;
    for (size_t i = 0; i < json_array_size(ms); i++) {
        const json_t *o = json_array_get(ms, i);
        struct ht_plant_motor *m = &motors[i];
        char base[64];
        snprintf(base, sizeof base, "/plant/motors/%zu", i);
        int en, sp, tach;
        if ((rc = plant_ref(conf, o, "enable", base, true, HT_CAP_OUTPUT, &en,
                            err, errlen)) ||
            (rc = plant_ref(conf, o, "setpoint", base, false, HT_CAP_SETPOINT,
                            &sp, err, errlen)) ||
            (rc = plant_ref(conf, o, "tach", base, true, HT_CAP_COUNTER, &tach,
                            err, errlen)))
            return rc;
        m->enable_line = conf->caps[en].line;
        m->setpoint_ch = sp;
        m->tach_line = conf->caps[tach].line;
        m->ppr = conf->caps[tach].ppr;
        m->tau_s = num_or(o, "tau_ms", 1500) / 1000;
        m->rpm = num_or(o, "rpm", 0);
    }
    for (size_t i = 0; i < json_array_size(ts); i++) {
        const json_t *o = json_array_get(ts, i);
        struct ht_plant_thermal *th = &thermals[i];
        char base[64];
        snprintf(base, sizeof base, "/plant/thermal/%zu", i);
        int heater, fan, sensor;
        if ((rc = plant_ref(conf, o, "heater", base, false, HT_CAP_OUTPUT,
                            &heater, err, errlen)) ||
            (rc = plant_ref(conf, o, "fan", base, false, HT_CAP_OUTPUT, &fan,
                            err, errlen)) ||
            (rc = plant_ref(conf, o, "sensor", base, true, HT_CAP_ANALOG,
                            &sensor, err, errlen)))
            return rc;
        th->heater_line = line_of(conf, heater);
        th->fan_line = line_of(conf, fan);
        th->sensor_ch = (unsigned)sensor;
        th->ambient = num_or(o, "ambient", 25);
        th->max = num_or(o, "max", 95);
        th->tau_s = num_or(o, "tau_s", 60);
        th->start = num_or(o, "start", th->ambient);
    }
    return HT_OK;
}

int agent__sim_board_new(struct ht_loop *l, const struct ht_agent_conf *conf,
                         struct ht_gpio **gpio, struct ht_analog **analog,
                         char *err, size_t errlen)
{
    *gpio = NULL;
    *analog = NULL;
    int rc = ht_gpio_new_sim((unsigned)conf->lines, gpio);
    if (rc != HT_OK) {
        snprintf(err, errlen, "GPIO backend sim (sim): %s", ht_strerror(rc));
        return rc;
    }
    size_t nm = json_array_size(json_object_get(conf->plant, "motors"));
    size_t nt = json_array_size(json_object_get(conf->plant, "thermal"));
    struct ht_plant_motor *motors = ht_calloc(nm + 1, sizeof *motors);
    struct ht_plant_thermal *thermals = ht_calloc(nt + 1, sizeof *thermals);
    rc = plant_conf(conf, motors, thermals, err, errlen);
    if (rc == HT_OK) {
        struct ht_plant_conf pc = {motors, nm, thermals, nt};
        rc = ht_analog_new_sim_plant(l, *gpio, &pc, analog);
    }
    free(motors);
    free(thermals);
    if (rc != HT_OK) {
        ht_gpio_free(*gpio);
        *gpio = NULL;
    }
    return rc;
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
    struct ht_loop *loop;
    struct caps *caps;
    struct ht_gpio *gpio;
    struct ht_analog *plant;
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
static int drive(struct ht_gpio *g, const struct cap *cap, int logical)
{
    int phys = (cap->c->flags & HT_GPIO_ACTIVE_LOW) ? !logical : logical;
    return ht_gpio_sim_inject(g, cap->c->line, phys);
}

static char *turn(struct ht_gpio *g, const struct cap *cap, long steps)
{
    static const unsigned cycle[4] = {0, 2, 3, 1}; /* 00 10 11 01 */
    int la, lb;
    if (ht_gpio_get(g, cap->c->line, &la) ||
        ht_gpio_get(g, cap->c->line_b, &lb))
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

/* "param NAME[.ATTR] V": NAME is a thermal zone's sensor or a motor's
 * tach, translated here into the plant's channel or line. */
static int plant_param(struct ht_ctl *ctl, const char *name, double v)
{
    const char *dot = strchr(name, '.');
    char cname[96];
    snprintf(cname, sizeof cname, "%.*s",
             (int)(dot ? (size_t)(dot - name) : strlen(name)), name);
    const char *attr = dot ? dot + 1 : "";
    const struct cap *cap = caps__find(ctl->caps, cname);
    if (!ctl->plant || !cap)
        return HT_ENOENT;
    if (cap->c->kind == HT_CAP_ANALOG)
        return ht_sim_plant_thermal_param(ctl->plant, (unsigned)cap->idx, attr,
                                          v);
    if (cap->c->kind == HT_CAP_COUNTER)
        return ht_sim_plant_motor_param(ctl->plant, cap->c->line, attr, v);
    return HT_ENOENT;
}

char *agent__ctl_exec(struct ht_ctl *ctl, const char *line)
{
    struct ht_gpio *g = ctl->gpio;
    char cmd[32] = "", name[96] = "", arg[64] = "";
    int n = sscanf(line, "%31s %95s %63s", cmd, name, arg);
    if (n < 1)
        return reply("error empty command");
    if (!strcmp(cmd, "ping"))
        return reply("ok");
    if (!strcmp(cmd, "inject") && n == 3) {
        char *end;
        unsigned long l = strtoul(name, &end, 10);
        if (*end || ht_gpio_sim_inject(g, (unsigned)l, atoi(arg)))
            return reply("error bad line");
        return reply("ok");
    }
    if (!strcmp(cmd, "param") && n == 3) {
        char *end;
        double v = strtod(arg, &end);
        if (*end || !isfinite(v))
            return reply("error bad number '%s'", arg);
        if (plant_param(ctl, name, v) != HT_OK)
            return reply("error no plant parameter '%s'", name);
        return reply("ok");
    }
    if (n < 2)
        return reply("error usage: press|release|set|bounce|turn|get|param "
                     "NAME [ARG]");
    struct cap *cap = caps__find(ctl->caps, name);
    if (!cap)
        return reply("error no capability '%s'", name);
    if (!strcmp(cmd, "get")) {
        char *s = cap->value
                      ? json_dumps(cap->value,
                                   JSON_ENCODE_ANY | JSON_REAL_PRECISION(12))
                      : NULL;
        char *r = reply("ok %s", s ? s : "null");
        free(s);
        return r;
    }
    bool input = cap->c->kind == HT_CAP_INPUT;
    if ((!strcmp(cmd, "press") || !strcmp(cmd, "release")) && input)
        return drive(g, cap, !strcmp(cmd, "press")) ? reply("error inject")
                                                    : reply("ok");
    if (!strcmp(cmd, "set") && input && n == 3)
        return drive(g, cap, atoi(arg) != 0) ? reply("error inject")
                                             : reply("ok");
    if (!strcmp(cmd, "bounce") && input && n == 3) {
        /* n level changes in quick succession, ending pressed. */
        int k = atoi(arg);
        for (int i = 0; i < k && i < 1000; i++)
            drive(g, cap, (k - i) % 2);
        drive(g, cap, 1);
        return reply("ok");
    }
    if (!strcmp(cmd, "fail") && cap->c->kind == HT_CAP_OUTPUT && n == 3) {
        /* Fault injection: the next N writes to the line fail. */
        ht_gpio_sim_fail_set(g, cap->c->line, (unsigned)atoi(arg));
        return reply("ok");
    }
    if (!strcmp(cmd, "turn") && cap->c->kind == HT_CAP_ENCODER && n == 3)
        return turn(g, cap, strtol(arg, NULL, 10));
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
        char *out = agent__ctl_exec(cl->ctl, cl->buf);
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
    cl->io = ht_io_new(c->loop, cfd, HT_LOOP_READ, on_client, cl);
}

int agent__ctl_new(struct ht_loop *l, struct caps *caps, struct ht_gpio *g,
                   struct ht_analog *plant, const char *path,
                   struct ht_ctl **out, char *err, size_t errlen)
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
    c->loop = l;
    c->caps = caps;
    c->gpio = g;
    c->plant = plant;
    c->fd = fd;
    c->path = ht_strdup(path);
    c->io = ht_io_new(l, fd, HT_LOOP_READ, on_accept, c);
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
