/* caps_internal.h - the capability runtime and the table of capability
 * kinds, shared by caps.c, kind_*.c, config.c (which parses through the
 * kinds), sim.c (control socket) and agent.c (the only user of the set).
 *
 * Dependencies run one way: agent -> caps -> hal. A capability reports
 * each value it wants published through the set's publish callback; it
 * never calls the agent. Everything a kind does lives in one struct
 * cap_kind and one kind_<name>.c, so a new kind is one file and one row.
 * Loop thread only.
 */
#ifndef HT_AGENT_CAPS_INTERNAL_H
#define HT_AGENT_CAPS_INTERNAL_H

#include "agent.h"
#include "conf_internal.h"

#include "hal/analog.h"
#include "hal/gpio.h"
#include "ht_loop.h"

struct caps;

/* Runtime state of one capability. */
struct cap {
    struct caps *set;
    size_t idx;                  /* index in the config, also the analog
                                    channel of setpoints and sim sensors */
    const struct ht_cap_conf *c; /* borrowed from the config */
    const struct cap_kind *kind;
    const struct ht_sem_prop *prop;
    struct ht_io *io, *io_b;
    struct ht_timer *tm;     /* debounce, counter window or poll period */
    struct ht_timer *pub_tm; /* publish policy (min/max interval) */
    json_t *value;           /* latest value (new ref) or NULL */
    json_t *last_pub;        /* last published value */
    uint64_t last_pub_ms;    /* loop time of the last publish */
    json_t *pending;         /* held back by min_interval */
    int64_t pending_ts;
    /* digital input */
    int stable;
    int64_t edge_ts;
    /* counter */
    uint64_t count;
    uint64_t first_ns, last_ns, prev_ns;
    unsigned idle_windows;
    /* encoder */
    unsigned qstate;
    long accum;
    int level_a, level_b;
    /* analog */
    bool warned;
};

/* One capability kind: its configuration, the TD affordance it yields
 * (data type, writability) and its runtime (events, reads, writes). */
struct cap_kind {
    const char *name; /* "kind" in the config */
    /* TD affordance: the data type (or -1: the vocabulary term's), whether
     * it is numeric (else boolean), and whether it may be writable (then it
     * is by default). */
    int dtype;
    bool numeric;
    bool writable;
    /* Lines: 0, 1 ("line") or 2 ("lines": [A, B]). */
    unsigned nlines;
    /* Kind-only keys the config may carry: HT_CAP_KEY_* bits. */
    unsigned keys;
    /* Defaults once the term is known (may be NULL). */
    void (*defaults)(struct ht_cap_conf *c, const struct ht_sem_term *t);
    /* Parse and check the kind's own keys of object o at base (may be
     * NULL). */
    int (*parse)(struct conf_ctx *px, const json_t *o, const char *base,
                 struct ht_cap_conf *c);
    /* Request lines, watch events, arm timers, publish the first value. */
    int (*start)(struct cap *cap, char *err, size_t errlen);
    /* Apply a checked command value (borrowed); the value now in effect
     * (new) or NULL with *code and msg. NULL: the kind is read-only. */
    json_t *(*write)(struct cap *cap, const json_t *v, const char **code,
                     char *msg, size_t msglen);
    /* Read the source now (NULL: the value only changes on events). */
    void (*sample)(struct cap *cap);
    /* Before stopping: apply the safe value (may be NULL). */
    void (*safe)(struct cap *cap);
};

enum {
    HT_CAP_KEY_INITIAL = 1 << 0,
    HT_CAP_KEY_SAFE = 1 << 1,
};

extern const struct cap_kind caps__kind_input, caps__kind_output,
    caps__kind_counter, caps__kind_encoder, caps__kind_analog,
    caps__kind_setpoint;

/* The kind of k (never NULL for a valid enum value). */
const struct cap_kind *caps__kind(enum ht_cap_kind k);
/* The kind named name, or NULL; *k gets its enum value. */
const struct cap_kind *caps__kind_find(const char *name, enum ht_cap_kind *k);

/* A published value of cap: v borrowed for the call. */
typedef void (*caps_publish_cb)(void *ud, const struct cap *cap,
                                const json_t *v, int64_t ts_ms);

/* Build and start every capability of conf on g (and an, NULL when the
 * board has no analog channels): request lines, arm timers, publish first
 * values through cb. conf, thing, g, an borrowed, must outlive the set.
 * *out new (also on failure, so the caller can free what started). HT_OK
 * or a negative code with err. */
int caps__new(struct ht_loop *l, struct ht_gpio *g, struct ht_analog *an,
              const struct ht_agent_conf *conf,
              const struct ht_sem_thing *thing, caps_publish_cb cb, void *ud,
              struct caps **out, char *err, size_t errlen);
/* Stop: apply safe values first when apply_safe, release lines' watchers
 * and timers, forget values. Idempotent. */
void caps__stop(struct caps *s, bool apply_safe);
/* Free (NULL no-op); stops first without safe values. */
void caps__free(struct caps *s);
size_t caps__count(const struct caps *s);
/* The capability at index i (< count) or named name (NULL if none);
 * borrowed. */
struct cap *caps__at(struct caps *s, size_t i);
struct cap *caps__find(struct caps *s, const char *name);
/* Write a command value (borrowed, already checked against the data
 * schema). The value read back (new) or NULL with *code ("read_only",
 * "hw_error") and msg. */
json_t *caps__write(struct cap *cap, const json_t *v, const char **code,
                    char *msg, size_t msglen);
/* Read cap's source now when its kind can (a value is published through
 * the policy); otherwise publish its current value. */
void caps__sample(struct cap *cap);

/* ---- for the kinds ---- */
/* A new value (taken) observed at wall time ts_ms: the publish policy. */
void caps__update(struct cap *cap, json_t *v, int64_t ts_ms);
/* Publish v (borrowed) now, bypassing the policy (safe values). */
void caps__publish_now(struct cap *cap, json_t *v, int64_t ts_ms);
/* A number as the capability's data type and rounding (new). */
json_t *caps__num(const struct ht_cap_conf *c, double v);
/* A CLOCK_MONOTONIC ns event time as wall-clock ms. */
int64_t caps__wall_ms(uint64_t mono_ns);
/* "NAME: cannot request line N: why" into err; returns rc. */
int caps__line_err(const struct cap *cap, int rc, char *err, size_t errlen);
/* Watch line's edge events with cb (ud = cap); new watcher, freed by
 * caps__stop when stored in cap->io or cap->io_b. */
struct ht_io *caps__watch(struct cap *cap, unsigned line, ht_io_cb cb);
struct ht_loop *caps__loop(const struct cap *cap);
struct ht_gpio *caps__gpio(const struct cap *cap);
/* The board's analog channels, or NULL. */
struct ht_analog *caps__analog(const struct cap *cap);

#endif
