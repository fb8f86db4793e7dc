/* kind_analog.c - numeric sensors polled at a period: a sysfs file (1-Wire,
 * hwmon, IIO) or a channel of the board's analog HAL ("sim": true, the sim
 * plant's sensors).
 */
#include "caps_internal.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "format", or one guessed from the path; then a source is required. */
static int parse(struct conf_ctx *px, const json_t *o, const char *base,
                 struct ht_cap_conf *c)
{
    const json_t *fmt = json_object_get(o, "format");
    if (fmt) {
        char ptr[160];
        snprintf(ptr, sizeof ptr, "%s/format", base);
        static const char *const fmts[] = {"w1_slave", "milli", "raw", "iio"};
        int fi = -1;
        for (int i = 0; json_is_string(fmt) && i < 4; i++)
            if (!strcmp(json_string_value(fmt), fmts[i]))
                fi = i;
        if (fi < 0)
            return conf__err(px, ptr,
                             "%s: \"format\" must be w1_slave, "
                             "milli, raw or iio",
                             c->name);
        c->format = (enum ht_analog_fmt)fi;
    } else if (c->path && strstr(c->path, "w1_slave")) {
        c->format = HT_ANALOG_W1_SLAVE;
    } else if (c->path && strstr(c->path, "_raw")) {
        c->format = HT_ANALOG_IIO;
    } else {
        c->format = HT_ANALOG_MILLI;
    }
    if (!c->path && !c->sim)
        return conf__err(px, base,
                         "%s: an analog capability needs \"path\" "
                         "(or \"sim\": true)",
                         c->name);
    return HT_OK;
}

static void defaults(struct ht_cap_conf *c, const struct ht_sem_term *t)
{
    (void)t;
    c->decimals = 2;
}

int ht_agent_parse_analog(const char *text, enum ht_analog_fmt fmt,
                          double scale, double offset, double *out)
{
    char *end;
    double v;
    if (!text)
        return HT_EPARSE;
    switch (fmt) {
    case HT_ANALOG_W1_SLAVE: {
        /* Two lines; the first ends in YES when the CRC matched. */
        const char *nl = strchr(text, '\n');
        if (!nl || nl - text < 3 || strncmp(nl - 3, "YES", 3))
            return HT_EPARSE;
        const char *t = strstr(nl, "t=");
        if (!t)
            return HT_EPARSE;
        v = strtod(t + 2, &end);
        if (end == t + 2)
            return HT_EPARSE;
        v /= 1000.0;
        break;
    }
    case HT_ANALOG_MILLI:
    case HT_ANALOG_RAW:
    case HT_ANALOG_IIO:
        v = strtod(text, &end);
        if (end == text)
            return HT_EPARSE;
        while (*end == ' ' || *end == '\n' || *end == '\t')
            end++;
        if (*end)
            return HT_EPARSE;
        if (fmt == HT_ANALOG_MILLI)
            v /= 1000.0;
        break;
    default:
        return HT_EPARSE;
    }
    if (!isfinite(v))
        return HT_EPARSE;
    if (fmt == HT_ANALOG_IIO)
        *out = (v + offset) * scale;
    else
        *out = v * scale + offset;
    return HT_OK;
}

/* sysfs attributes are tiny and never block on read, so reading them on the
 * loop is fine (unlike regular files on slow storage). */
static int read_small(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return HT_EIO;
    size_t got = fread(buf, 1, n - 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return HT_EIO;
    buf[got] = '\0';
    return HT_OK;
}

static int read_sysfs(const struct ht_cap_conf *c, double *v)
{
    char buf[256];
    double scale = c->scale;
    int rc = read_small(c->path, buf, sizeof buf);
    if (rc == HT_OK && c->scale_path) {
        char sb[64];
        double s;
        if (read_small(c->scale_path, sb, sizeof sb) == HT_OK &&
            ht_agent_parse_analog(sb, HT_ANALOG_RAW, 1, 0, &s) == HT_OK)
            scale *= s;
    }
    if (rc == HT_OK)
        rc = ht_agent_parse_analog(buf, c->format, scale, c->offset, v);
    return rc;
}

/* One reading; a source that keeps failing is logged once until it
 * recovers. */
static void sample(struct cap *cap)
{
    const struct ht_cap_conf *c = cap->c;
    struct ht_analog *an = caps__analog(cap);
    double v;
    int rc;
    if (c->sim)
        rc = an ? ht_analog_read(an, (unsigned)cap->idx, &v) : HT_ENOENT;
    else
        rc = read_sysfs(c, &v);
    if (rc != HT_OK) {
        if (!cap->warned)
            ht_log(LOG_WARNING, "agent", "%s: cannot read %s: %s", c->name,
                   c->sim ? "sim sensor" : c->path, ht_strerror(rc));
        cap->warned = true;
        return;
    }
    cap->warned = false;
    caps__update(cap, caps__num(c, v), ht_time_ms());
}

static void on_poll(struct ht_timer *t, void *ud)
{
    (void)t;
    sample(ud);
}

static int start(struct cap *cap, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    cap->tm = ht_timer_new(caps__loop(cap), on_poll, cap);
    ht_timer_start(cap->tm, cap->c->period_ms, cap->c->period_ms);
    sample(cap);
    return HT_OK;
}

const struct cap_kind caps__kind_analog = {
    .name = "analog",
    .dtype = HT_SEM_NUMBER,
    .numeric = true,
    .parse = parse,
    .defaults = defaults,
    .start = start,
    .sample = sample,
};
