/* kind_setpoint.c - a writable number held by the agent (a speed or
 * temperature setpoint). With an analog HAL the value also goes to the
 * capability's channel (a DAC, or the sim plant's motor).
 */
#include "caps_internal.h"

#include "ht_err.h"
#include "ht_util.h"

#include <stdio.h>

/* "initial" must pass the data schema, so a board never starts with a
 * value a command could not set. */
static int parse(struct conf_ctx *px, const json_t *o, const char *base,
                 struct ht_cap_conf *c)
{
    char ptr[160];
    snprintf(ptr, sizeof ptr, "%s/initial", base);
    const json_t *init = json_object_get(o, "initial");
    if (init && !json_is_number(init))
        return conf__err(px, ptr, "%s: \"initial\" must be a number", c->name);
    if (init)
        c->initial_value = json_number_value(init);
    struct ht_sem_prop p = {.name = c->name,
                            .dtype = c->dtype,
                            .has_min = c->has_min,
                            .has_max = c->has_max,
                            .has_step = c->has_step,
                            .min = c->min,
                            .max = c->max,
                            .step = c->step};
    json_t *iv = json_real(c->initial_value);
    char msg[160];
    enum ht_sem_check chk = ht_sem_value_check(&p, iv, msg, sizeof msg);
    json_decref(iv);
    if (chk != HT_SEM_OK)
        return conf__err(px, init ? ptr : base, "%s: initial value: %s",
                         c->name, msg);
    return HT_OK;
}

static int drive(struct cap *cap, double v)
{
    struct ht_analog *an = caps__analog(cap);
    return an ? ht_analog_write(an, (unsigned)cap->idx, v) : HT_OK;
}

static int start(struct cap *cap, char *err, size_t errlen)
{
    const struct ht_cap_conf *c = cap->c;
    int rc = drive(cap, c->initial_value);
    if (rc != HT_OK) {
        snprintf(err, errlen, "%s: cannot set channel %zu: %s", c->name,
                 cap->idx, ht_strerror(rc));
        return rc;
    }
    caps__update(cap, caps__num(c, c->initial_value), ht_time_ms());
    return HT_OK;
}

static json_t *write_value(struct cap *cap, const json_t *v, const char **code,
                           char *msg, size_t msglen)
{
    int rc = drive(cap, json_number_value(v));
    if (rc != HT_OK) {
        *code = "hw_error";
        snprintf(msg, msglen, "%s: channel %zu: %s", cap->c->name, cap->idx,
                 ht_strerror(rc));
        return NULL;
    }
    return caps__num(cap->c, json_number_value(v));
}

const struct cap_kind caps__kind_setpoint = {
    .name = "setpoint",
    .dtype = -1,
    .numeric = true,
    .writable = true,
    .keys = HT_CAP_KEY_INITIAL,
    .parse = parse,
    .start = start,
    .write = write_value,
};
