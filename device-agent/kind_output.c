/* kind_output.c - digital outputs (lamps, relays, motor enables, heaters):
 * an initial level at start, a safe level on exit, and writes that are
 * read back so an ack reports what the line really does.
 */
#include "caps_internal.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_util.h"

#include <stdio.h>

static int parse(struct conf_ctx *px, const json_t *o, const char *base,
                 struct ht_cap_conf *c)
{
    char ptr[160];
    const json_t *init = json_object_get(o, "initial");
    if (init) {
        snprintf(ptr, sizeof ptr, "%s/initial", base);
        if (!json_is_boolean(init))
            return conf__err(px, ptr, "%s: \"initial\" must be true or false",
                             c->name);
        c->initial = json_is_true(init);
    }
    const json_t *safe = json_object_get(o, "safe");
    snprintf(ptr, sizeof ptr, "%s/safe", base);
    if (safe && !json_is_boolean(safe) && !json_is_null(safe))
        return conf__err(px, ptr, "%s: \"safe\" must be true, false or null",
                         c->name);
    if (json_is_boolean(safe))
        c->safe = json_is_true(safe);
    return HT_OK;
}

static int start(struct cap *cap, char *err, size_t errlen)
{
    const struct ht_cap_conf *c = cap->c;
    int rc =
        ht_gpio_request_output(caps__gpio(cap), c->line, c->initial, c->flags);
    if (rc != HT_OK)
        return caps__line_err(cap, rc, err, errlen);
    caps__update(cap, json_boolean(c->initial), ht_time_ms());
    return HT_OK;
}

static json_t *write_line(struct cap *cap, const json_t *v, const char **code,
                          char *msg, size_t msglen)
{
    const struct ht_cap_conf *c = cap->c;
    struct ht_gpio *g = caps__gpio(cap);
    int want = json_is_true(v);
    int rc = ht_gpio_set(g, c->line, want);
    int got = -1;
    if (rc == HT_OK)
        rc = ht_gpio_get(g, c->line, &got);
    if (rc != HT_OK || got != want) {
        *code = "hw_error";
        snprintf(msg, msglen, "%s: line %u: %s", c->name, c->line,
                 rc != HT_OK ? ht_strerror(rc)
                             : "read back a different "
                               "level");
        return NULL;
    }
    return json_boolean(got);
}

/* The last word on exit: published even inside a min-interval hold. */
static void safe(struct cap *cap)
{
    const struct ht_cap_conf *c = cap->c;
    if (c->safe < 0)
        return;
    int rc = ht_gpio_set(caps__gpio(cap), c->line, c->safe);
    if (rc != HT_OK) {
        ht_log(LOG_ERR, "agent", "%s: safe value not applied: %s", c->name,
               ht_strerror(rc));
    } else if (!cap->last_pub ||
               json_is_true(cap->last_pub) != (c->safe == 1)) {
        json_t *v = json_boolean(c->safe);
        caps__publish_now(cap, v, ht_time_ms());
        json_decref(v);
    }
}

const struct cap_kind caps__kind_output = {
    .name = "output",
    .dtype = HT_SEM_BOOLEAN,
    .writable = true,
    .nlines = 1,
    .keys = HT_CAP_KEY_INITIAL | HT_CAP_KEY_SAFE,
    .parse = parse,
    .start = start,
    .write = write_line,
    .safe = safe,
};
